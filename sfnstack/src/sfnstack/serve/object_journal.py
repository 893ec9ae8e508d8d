"""The S3 endpoint's object changes, appended to a journal before each response and folded
into the data directory's object files behind it.

Writing an object's two files (``DataDir.save_object``: two files created, two renames,
their directories resolved) cost 1-2 ms of a persisted PutObject on the 2-core
development machine, most of what ``sfnstack serve`` added to a request
(``benchmarks/serve_bench.py``); one ``write`` to a file already open costs a few
microseconds. So each change is one record appended to the open segment
(``<data>/s3-journal/NNNNNN.log``) before the response: in the page cache, which outlives
the process (a server killed right after answering restarts with the object), made
durable by the endpoint's ``Syncer`` (one ``fsync`` of the segment for everything written
meanwhile). A write the disk refuses is still an error to the client.

A segment over ``SEGMENT_BYTES`` is closed and a new one opened; a thread of its own
(``fold``) applies each closed segment's records, in order, to the object files (the
format ``DataDir`` has always restored), syncs them, and deletes the segment. Segments
left by an earlier server are folded the same way after the restore. Restoring reads the
object files and then replays every segment in order (``objects``), so a fold that was
interrupted, or a segment never folded, changes nothing.

A record: one line of JSON (``op`` "put" or "delete", bucket, key, and for a put the
object's ETag, metadata, dates, ``size`` and ``crc32`` of its bytes), the bytes, a newline.
A record that does not read back whole (the tail of a segment when the machine itself went
down mid-write) ends that segment's replay, with a warning; what it held was never
acknowledged as durable.

No library does this for moto's in-memory store (a key-value store such as SQLite or LMDB
would be a second store of the objects, with its own write costs and format); it is the
write-ahead log that databases keep, for one kind of record."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sfnstack.serve.store import DataDir, StoredObject

log = logging.getLogger("sfnstack.serve.object_journal")

__all__ = ["SEGMENT_BYTES", "ObjectJournal"]

SEGMENT_BYTES = 32 * 1024 * 1024
_SEGMENT_NAME = re.compile(r"(\d{6})\.log")


@dataclass(frozen=True)
class _Record:
    op: str  # "put" or "delete"
    bucket: str
    key: str
    stored: StoredObject | None  # a put's object


class ObjectJournal:
    """Appends object changes (``put``, ``delete``) to ``data``'s journal; ``objects`` is
    the state the object files and the journal give together; ``start_folding`` folds the
    closed segments into the object files in a thread of its own."""

    def __init__(self, data: DataDir, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.data = data
        self.directory = data.root / "s3-journal"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()  # the open segment: appends, syncs, rotation
        numbers = [number for number, _ in self._segments()]
        self._closed_segments = numbers  # to fold, oldest first
        self._number = (numbers[-1] if numbers else 0) + 1
        self._file: BinaryIO | None = None
        self._size = 0
        self._folding = threading.Condition()
        self._fold_stop = False
        self._folder: threading.Thread | None = None

    # ------------------------------------------------------------------ writing
    def put(self, stored: StoredObject) -> None:
        data = stored.read_bytes()
        header = {"op": "put", "bucket": stored.bucket, **stored.document()}
        header.update(size=len(data), crc32=zlib.crc32(data))
        self._append(header, data)

    def delete(self, bucket: str, key: str) -> None:
        self._append({"op": "delete", "bucket": bucket, "key": key, "size": 0, "crc32": 0}, b"")

    def _append(self, header: dict[str, Any], data: bytes) -> None:
        head = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            if self._file is None:
                self._file = open(self._path(self._number), "ab", buffering=0)  # noqa: SIM115
                self._size = self._file.tell()
            # one writev, so that an object's bytes are not copied into a record first
            _write_all(self._file.fileno(), [head, data, b"\n"])
            self._size += len(head) + len(data) + 1
            if self._size >= self.segment_bytes:
                self._rotate()

    def _rotate(self) -> None:
        """Close the open segment and queue it for folding (the lock held)."""
        assert self._file is not None
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        with self._folding:
            self._closed_segments.append(self._number)
            self._folding.notify_all()
        self._number += 1

    def sync(self) -> None:
        """The open segment onto the disk (the closed ones were synced when closed). The
        fsync (1-10 ms on the development machine's disk) runs on a duplicate of the
        segment's descriptor, outside the lock, so that appends are not held behind it."""
        with self._lock:
            if self._file is None:
                return
            fd = os.dup(self._file.fileno())  # stays open if the segment is closed meanwhile
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Sync and close the open segment, and stop folding (a segment whose fold is
        interrupted stays, and is replayed and folded by the next server)."""
        with self._folding:
            self._fold_stop = True
            self._folding.notify_all()
        if self._folder is not None:
            self._folder.join()
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None

    # ------------------------------------------------------------------ reading
    def _path(self, number: int) -> Path:
        return self.directory / f"{number:06d}.log"

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = _SEGMENT_NAME.fullmatch(path.name)
            if match and path.is_file() and not path.is_symlink():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def _records(self, path: Path) -> Iterator[_Record]:
        with open(path, "rb") as handle:
            offset = 0
            while True:
                line = handle.readline()
                if not line:
                    return
                record = _parse(line, handle)
                if record is None:
                    log.warning(
                        "%s: a record at byte %d does not read back whole (written as the "
                        "machine stopped?): the rest of this segment is ignored",
                        path.name,
                        offset,
                    )
                    return
                offset = handle.tell()
                yield record

    def objects(self) -> dict[tuple[str, str], StoredObject]:
        """Every object as the object files and then every segment, in order, leave it,
        by (bucket, key), for the buckets the data directory holds. Read with the data
        directory's object files held (``DataDir.s3_files``, which a fold takes for each
        record it applies): a fold between reading the object files and listing the
        segments would have deleted a segment whose records the files read did not have
        yet. A fold that applied every record before the read is seen in the files; one
        that is waiting has its segment still there."""
        with self.data.s3_files:
            buckets = {document["name"] for document in self.data.buckets()}
            found: dict[tuple[str, str], StoredObject] = {}
            for bucket in sorted(buckets):
                for stored in self.data.objects(bucket):
                    found[(bucket, stored.key)] = stored
            with self._lock:
                segments = self._segments()
            for _, path in segments:
                for record in self._records(path):
                    if record.bucket not in buckets:
                        continue  # a bucket deleted since
                    if record.op == "delete":
                        found.pop((record.bucket, record.key), None)
                        continue
                    assert record.stored is not None
                    found[(record.bucket, record.key)] = record.stored
        return found

    # ------------------------------------------------------------------ folding
    def start_folding(self) -> None:
        """Fold the closed segments (those left by an earlier server, and each one closed
        from now on) into the object files, in a thread of its own."""
        if self._folder is None:
            self._folder = threading.Thread(
                target=self._fold_loop, name="sfnstack-s3-journal-fold", daemon=True
            )
            self._folder.start()

    def wait_folded(self, timeout: float = 60) -> bool:
        """Close the open segment and wait until every segment is folded, or ``timeout``
        passes (False then); after ``start_folding``."""
        with self._lock:
            if self._file is not None and self._size:
                self._rotate()
        with self._folding:
            return self._folding.wait_for(lambda: not self._closed_segments, timeout)

    def _fold_loop(self) -> None:
        while True:
            with self._folding:
                self._folding.wait_for(lambda: self._closed_segments or self._fold_stop)
                if self._fold_stop:
                    return
                number = self._closed_segments[0]
            try:
                finished = self.fold(number)
            except (OSError, ValueError):
                log.exception("folding journal segment %06d failed; it stays", number)
                finished = False
            with self._folding:
                if not finished:
                    return  # stopped, or failed: the next server replays it
                self._closed_segments.remove(number)
                self._folding.notify_all()

    def fold(self, number: int) -> bool:
        """Apply segment ``number``'s records, in order, to the object files, sync them and
        delete the segment; False when stopped midway (the segment stays)."""
        path = self._path(number)
        for record in self._records(path):
            if self._fold_stop:
                return False
            with self.data.s3_files:
                try:
                    if not self.data.has_bucket(record.bucket):
                        continue  # deleted since
                    if record.op == "delete":
                        self.data.delete_object(record.bucket, record.key)
                        continue
                    assert record.stored is not None
                    self.data.save_object(record.stored, durable=False)
                except ValueError:  # a bucket name S3 refuses: never written by this journal
                    continue
        self.data.sync()
        path.unlink()
        return True


def _write_all(fd: int, buffers: list[bytes]) -> None:
    """Write every buffer, in order (a regular file takes them in one call; a short
    write continues where it stopped)."""
    views = [memoryview(buffer) for buffer in buffers if buffer]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def _parse(line: bytes, handle: BinaryIO) -> _Record | None:
    """The record whose header is ``line``, its bytes read from ``handle``; None when it
    is not whole."""
    if not line.endswith(b"\n"):
        return None
    try:
        header = json.loads(line)
        op, bucket, key = header["op"], header["bucket"], header["key"]
        size, crc = int(header["size"]), int(header["crc32"])
    except (ValueError, KeyError, TypeError):
        return None
    if op not in ("put", "delete") or not isinstance(bucket, str) or not isinstance(key, str):
        return None
    data = handle.read(size) if size else b""
    if len(data) != size or handle.read(1) != b"\n" or zlib.crc32(data) != crc:
        return None
    if op == "delete":
        return _Record(op, bucket, key, None)
    try:
        stored = StoredObject.from_document(bucket, header, data=data)
    except ValueError:
        return None
    return _Record(op, bucket, key, stored)
