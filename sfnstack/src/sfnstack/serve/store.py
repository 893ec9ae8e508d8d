"""Everything ``sfnstack serve`` keeps under ``--data-dir``, written atomically (temp file +
rename) so a crash never leaves half a file:

    s3/<bucket>/bucket.json                 the bucket (name, region, creation date)
    s3/<bucket>/objects/<sha256(key)>.json  an object's key, ETag, metadata, dates
    s3/<bucket>/objects/<sha256(key)>.data  its bytes
    s3-journal/NNNNNN.log                   object changes not yet in those files
                                            (serve.object_journal)
    executions/<sha256(execution arn)>.json an execution: input, status, output, error
    executions/<sha256(execution arn)>.history.jsonl   its history events
    executions/<sha256(execution arn)>.progress.jsonl  what it has done (for redrive)
    state-machines/<sha256(state machine arn)>.json  one made with CreateStateMachine
    triggers/delivered.jsonl                S3 changes already delivered (dedupe)
    serve.lock                              held by the server using the directory

Nothing from a request becomes a path unchecked: bucket names must follow S3's naming
rules (:func:`check_bucket_name`) and every other name is a SHA-256 digest; every path is
resolved and must stay under the data directory (:meth:`DataDir.inside`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DataDir", "DataDirInUse", "InvalidBucketName", "StoredObject", "check_bucket_name"]

# S3's rules for general purpose bucket names (docs: "Bucket naming rules"): 3-63 of
# [a-z0-9.-], a letter or digit at both ends, no "..", not an IP address, none of the
# reserved prefixes and suffixes.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class InvalidBucketName(ValueError):
    """A bucket name that S3 would refuse (and that must never become a path)."""


def check_bucket_name(name: str) -> str:
    """``name`` if it is a valid S3 bucket name, else :class:`InvalidBucketName`."""
    if (
        not isinstance(name, str)
        or not _BUCKET_NAME.fullmatch(name)
        or ".." in name
        or name.startswith(_RESERVED_PREFIXES)
        or name.endswith(_RESERVED_SUFFIXES)
        or _is_ip_address(name)
    ):
        raise InvalidBucketName(f"The specified bucket is not valid: {name!r}")
    return name


_DOTTED_QUAD = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


def _is_ip_address(name: str) -> bool:
    """Whether ``name`` is an IPv4 address (the bucket pattern admits no other kind): the
    pattern first, as every request's bucket name is checked."""
    if not _DOTTED_QUAD.fullmatch(name):
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Writes ``path`` whole or not at all (a temporary file renamed over it); ``durable``:
    on the disk before returning (fsync), else in the page cache, which outlives this
    process but not the machine (``DataDir.sync`` makes it durable later)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temp, path)


@dataclass(frozen=True)
class StoredObject:
    """An object as it is kept: its key, what S3 says of it, and its bytes, in memory or
    in a file. ``document`` is what the object files and the journal store of it."""

    bucket: str
    key: str
    etag: str  # without quotes
    metadata: dict[str, str]  # Content-Type, x-amz-meta-*, ...
    last_modified: str  # ISO 8601
    storage_class: str = "STANDARD"
    version_id: str | None = None  # in a versioned bucket
    data: bytes | None = None  # its bytes in memory (a request, the journal) ...
    data_path: Path | None = None  # ... or in a file (the object files)

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.data_path is not None
        return self.data_path.read_bytes()

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "key": self.key,
            "etag": self.etag.strip('"'),
            "metadata": self.metadata,
            "last_modified": self.last_modified,
            "storage_class": self.storage_class,
        }
        if self.version_id:
            document["version_id"] = self.version_id
        return document

    @classmethod
    def from_document(
        cls,
        bucket: str,
        document: dict[str, Any],
        *,
        data: bytes | None = None,
        data_path: Path | None = None,
    ) -> StoredObject:
        """The object a ``document`` describes; ``ValueError`` when it is not one."""
        key, etag = document.get("key"), document.get("etag")
        metadata, last_modified = document.get("metadata") or {}, document.get("last_modified")
        version_id = document.get("version_id")
        if not (
            isinstance(key, str)
            and isinstance(etag, str)
            and isinstance(metadata, dict)
            and isinstance(last_modified, str)
            and (version_id is None or isinstance(version_id, str))
        ):
            raise ValueError(f"not an object's document: {sorted(document)}")
        return cls(
            bucket=bucket,
            key=key,
            etag=etag,
            metadata={str(k): str(v) for k, v in metadata.items()},
            last_modified=last_modified,
            storage_class=str(document.get("storage_class") or "STANDARD"),
            version_id=version_id,
            data=data,
            data_path=data_path,
        )


class DataDirInUse(OSError):
    """Another server holds the data directory's lock."""


class DataDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.s3 = self.root / "s3"
        self.executions = self.root / "executions"
        self.triggers = self.root / "triggers"
        self.state_machines = self.root / "state-machines"
        for directory in (self.s3, self.executions, self.triggers, self.state_machines):
            directory.mkdir(parents=True, exist_ok=True)
        # held while object files are written or a bucket's directory removed, so that
        # folding the journal never writes into a bucket directory being deleted
        self.s3_files = threading.RLock()
        self._delivered_lock = threading.Lock()
        self._delivered_path = self.triggers / "delivered.jsonl"
        self._delivered: set[tuple[str, str, str]] = set(self._read_delivered())

    def lock(self) -> None:
        """Take the directory for this process (until ``unlock`` or exit, also a killed
        one: an flock dies with its process), or raise ``DataDirInUse``: two servers
        writing one directory would overwrite each other's buckets and executions."""
        import fcntl

        path = self.root / "serve.lock"
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until unlock()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirInUse(
                f"--data-dir {self.root} is in use by another sfnstack serve (pid {holder}); "
                "stop that one or choose another --data-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle: Any = handle

    def unlock(self) -> None:
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            self._lock_handle = None
            handle.close()

    def inside(self, path: Path, under: Path | None = None) -> Path:
        """``path``, resolved, if it is strictly below ``under`` (default: the data
        directory); ``ValueError`` otherwise (a ``..``, an absolute part, a symlink out)."""
        base = (under or self.root).resolve()
        resolved = path.resolve()
        if resolved == base or not resolved.is_relative_to(base):
            raise ValueError(f"{path} is not inside {base}")
        return resolved

    # ------------------------------------------------------------------ S3
    def _bucket_dir(self, bucket: str) -> Path:
        return self.inside(self.s3 / check_bucket_name(bucket), self.s3)

    def save_bucket(
        self, bucket: str, region: str, created: str, versioning: str | None = None
    ) -> None:
        document = {"name": bucket, "region": region, "created": created}
        if versioning:
            document["versioning"] = versioning
        _write_atomic(self._bucket_dir(bucket) / "bucket.json", json.dumps(document).encode())

    def delete_bucket(self, bucket: str) -> None:
        """Remove a deleted bucket's directory (the caller checked it is gone). Symlinks
        inside are removed, never followed."""
        directory = self._bucket_dir(bucket)
        with self.s3_files:
            if directory.is_symlink() or not directory.is_dir():
                return
            shutil.rmtree(directory)

    def has_bucket(self, bucket: str) -> bool:
        """Whether ``bucket`` is saved (its ``bucket.json`` is there)."""
        return (self._bucket_dir(bucket) / "bucket.json").is_file()

    def buckets(self) -> list[dict[str, str]]:
        """The saved buckets whose document names their own, valid, directory."""
        found = []
        for path in sorted(self.s3.glob("*/bucket.json")):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                if self._bucket_dir(document["name"]) != path.parent.resolve():
                    continue
            except (OSError, ValueError, KeyError, TypeError):
                continue  # torn, or not ours: never restored
            found.append(document)
        return found

    def save_object(self, stored: StoredObject, durable: bool = True) -> None:
        """The object's two files (``durable``: fsynced before returning)."""
        base = self._bucket_dir(stored.bucket) / "objects" / _digest(stored.key)
        # bytes first, then the document that makes the object visible on restore
        _write_atomic(base.with_suffix(".data"), stored.read_bytes(), durable)
        _write_atomic(base.with_suffix(".json"), json.dumps(stored.document()).encode(), durable)

    @staticmethod
    def sync() -> None:
        """Everything written without ``durable`` onto the disk (the whole file system's
        dirty pages: one call for any number of objects)."""
        if hasattr(os, "sync"):
            os.sync()

    def delete_object(self, bucket: str, key: str) -> None:
        base = self._bucket_dir(bucket) / "objects" / _digest(key)
        for path in (base.with_suffix(".json"), base.with_suffix(".data")):
            path.unlink(missing_ok=True)

    def objects(self, bucket: str) -> Iterator[StoredObject]:
        for path in sorted((self._bucket_dir(bucket) / "objects").glob("*.json")):
            data_path = path.with_suffix(".data")
            if not data_path.exists():
                continue
            document = json.loads(path.read_text(encoding="utf-8"))
            yield StoredObject.from_document(bucket, document, data_path=data_path)

    # ------------------------------------------------------------------ executions
    def execution_path(self, execution_arn: str, suffix: str = ".json") -> Path:
        return self.executions / f"{_digest(execution_arn)}{suffix}"

    def save_execution(self, record: dict[str, Any]) -> None:
        _write_atomic(self.execution_path(record["executionArn"]), json.dumps(record).encode())

    def load_execution(self, execution_arn: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            self.execution_path(execution_arn).read_text(encoding="utf-8")
        )
        return document

    def save_history(self, execution_arn: str, events: list[dict[str, Any]]) -> None:
        """An execution's history events, one JSON document a line."""
        lines = "".join(json.dumps(event, separators=(",", ":")) + "\n" for event in events)
        _write_atomic(self.execution_path(execution_arn, ".history.jsonl"), lines.encode())

    def load_history(self, execution_arn: str) -> list[dict[str, Any]]:
        path = self.execution_path(execution_arn, ".history.jsonl")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        events = []
        for line in text.splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # written atomically, so only a foreign edit gets here
        return events

    def executions_saved(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.executions.glob("*.json")):
            try:
                yield json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue  # a record torn by a crash is skipped, not fatal

    # ------------------------------------------------------------------ state machines
    def _state_machine_path(self, arn: str) -> Path:
        return self.state_machines / f"{_digest(arn)}.json"

    def save_state_machine(self, document: dict[str, Any]) -> None:
        """A state machine made through the API (``stateMachineArn``, definition, ...)."""
        path = self._state_machine_path(document["stateMachineArn"])
        _write_atomic(path, json.dumps(document).encode())

    def delete_state_machine(self, arn: str) -> None:
        self._state_machine_path(arn).unlink(missing_ok=True)

    def state_machines_saved(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.state_machines.glob("*.json")):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue  # written atomically, so only a foreign edit gets here
            if isinstance(document, dict) and isinstance(document.get("stateMachineArn"), str):
                yield document

    # ------------------------------------------------------------------ dedupe
    def _read_delivered(self) -> Iterator[tuple[str, str, str]]:
        if not self._delivered_path.exists():
            return
        with open(self._delivered_path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    item = json.loads(line)
                    yield (item["bucket"], item["key"], item.get("change") or item["etag"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line torn by a crash

    def claim_delivery(self, bucket: str, key: str, change: str) -> bool:
        """Record that the change ``change`` of object (bucket, key) (its version id or
        event sequencer) has been delivered; False when it already was, so one change
        starts one execution however often its event arrives."""
        item = (bucket, key, change.strip('"'))
        with self._delivered_lock:
            if item in self._delivered:
                return False
            self._delivered.add(item)
            with open(self._delivered_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"bucket": item[0], "key": item[1], "change": item[2]}))
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            return True
