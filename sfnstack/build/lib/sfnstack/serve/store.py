"""Everything ``sfnstack serve`` keeps under ``--data-dir``, written atomically (temp file +
rename) so a crash never leaves half a file:

    s3/<bucket>/bucket.json                 the bucket (name, region, creation date)
    s3/<bucket>/objects/<sha256(key)>.json  an object's key, ETag, metadata, dates
    s3/<bucket>/objects/<sha256(key)>.data  its bytes
    executions/<sha256(execution arn)>.json an execution: input, status, output, history
    triggers/delivered.jsonl                S3 objects already delivered (dedupe)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DataDir", "StoredObject"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    etag: str  # without quotes
    metadata: dict[str, str]  # Content-Type, x-amz-meta-*, ...
    last_modified: str  # ISO 8601
    storage_class: str
    data_path: Path


class DataDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.s3 = self.root / "s3"
        self.executions = self.root / "executions"
        self.triggers = self.root / "triggers"
        for directory in (self.s3, self.executions, self.triggers):
            directory.mkdir(parents=True, exist_ok=True)
        self._delivered_lock = threading.Lock()
        self._delivered_path = self.triggers / "delivered.jsonl"
        self._delivered: set[tuple[str, str, str]] = set(self._read_delivered())

    # ------------------------------------------------------------------ S3
    def _bucket_dir(self, bucket: str) -> Path:
        return self.s3 / bucket  # bucket names are safe path components (3-63 of [a-z0-9.-])

    def save_bucket(self, bucket: str, region: str, created: str) -> None:
        document = {"name": bucket, "region": region, "created": created}
        _write_atomic(self._bucket_dir(bucket) / "bucket.json", json.dumps(document).encode())

    def delete_bucket(self, bucket: str) -> None:
        directory = self._bucket_dir(bucket)
        if not directory.exists():
            return
        for path in sorted(directory.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        directory.rmdir()

    def buckets(self) -> list[dict[str, str]]:
        found = []
        for path in sorted(self.s3.glob("*/bucket.json")):
            found.append(json.loads(path.read_text(encoding="utf-8")))
        return found

    def save_object(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        etag: str,
        metadata: dict[str, str],
        last_modified: str,
        storage_class: str,
    ) -> None:
        base = self._bucket_dir(bucket) / "objects" / _digest(key)
        # bytes first, then the document that makes the object visible on restore
        _write_atomic(base.with_suffix(".data"), data)
        document = {
            "key": key,
            "etag": etag.strip('"'),
            "metadata": metadata,
            "last_modified": last_modified,
            "storage_class": storage_class,
        }
        _write_atomic(base.with_suffix(".json"), json.dumps(document).encode())

    def delete_object(self, bucket: str, key: str) -> None:
        base = self._bucket_dir(bucket) / "objects" / _digest(key)
        for path in (base.with_suffix(".json"), base.with_suffix(".data")):
            path.unlink(missing_ok=True)

    def objects(self, bucket: str) -> Iterator[StoredObject]:
        for path in sorted((self._bucket_dir(bucket) / "objects").glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            data_path = path.with_suffix(".data")
            if not data_path.exists():
                continue
            yield StoredObject(
                bucket=bucket,
                key=document["key"],
                etag=document["etag"],
                metadata=document.get("metadata") or {},
                last_modified=document["last_modified"],
                storage_class=document.get("storage_class") or "STANDARD",
                data_path=data_path,
            )

    # ------------------------------------------------------------------ executions
    def save_execution(self, record: dict[str, Any]) -> None:
        path = self.executions / f"{_digest(record['executionArn'])}.json"
        _write_atomic(path, json.dumps(record).encode())

    def executions_saved(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.executions.glob("*.json")):
            try:
                yield json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue  # a record torn by a crash is skipped, not fatal

    # ------------------------------------------------------------------ dedupe
    def _read_delivered(self) -> Iterator[tuple[str, str, str]]:
        if not self._delivered_path.exists():
            return
        with open(self._delivered_path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    item = json.loads(line)
                    yield (item["bucket"], item["key"], item["etag"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line torn by a crash

    def claim_delivery(self, bucket: str, key: str, etag: str) -> bool:
        """Record that the object (bucket, key, ETag) has been delivered; False when it
        already was, so the same object starts one execution however often it arrives."""
        item = (bucket, key, etag.strip('"'))
        with self._delivered_lock:
            if item in self._delivered:
                return False
            self._delivered.add(item)
            with open(self._delivered_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"bucket": item[0], "key": item[1], "etag": item[2]}))
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            return True
