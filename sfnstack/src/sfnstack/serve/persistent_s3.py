"""The S3 endpoint: moto's S3 server app (plain object reads and writes answered by
``ObjectFastPath``) behind a WSGI middleware that

- persists every successful mutation (CreateBucket, DeleteBucket, PutObject, CopyObject,
  CompleteMultipartUpload, DeleteObject, DeleteObjects, object tagging/ACL changes) under
  the data directory and restores it into moto's backend on start, and
- emits the S3 "Object Created" event (the EventBridge shape) for buckets that send events.

Every change is written before the response, so a server that is killed right after
answering restarts with everything it acknowledged, and a write the disk refuses (full,
read-only) is an error to the client, not an object lost later. Bucket changes are
fsynced before the response. An object change is one record appended to the journal
(``ObjectJournal``) before the response, in the page cache, which outlives the process,
and made durable behind it (``Syncer``: one ``fsync`` for all the changes written
meanwhile, and at ``close()``); the journal is folded into the object files in a thread
of its own. Writing an object's files before each response cost 1-2 ms of a PutObject on
the development machine, and two fsyncs per object 1-10 ms more. What a crash of the
machine itself can lose is the last moment's objects.

Versioning (from the template's ``VersioningConfiguration`` or PutBucketVersioning) is
on in memory: every version can be read while the server runs, and an object's version id
survives a restart. Not persisted: older versions of a key (only the latest is kept),
delete markers, in-flight multipart uploads, other bucket sub-resources (policy, CORS,
lifecycle)."""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from sfnstack.s3_fast_path import ObjectFastPath
from sfnstack.serve.eventbridge import s3_object_created_event
from sfnstack.serve.object_journal import ObjectJournal
from sfnstack.serve.store import DataDir, InvalidBucketName, StoredObject, check_bucket_name

log = logging.getLogger("sfnstack.serve.persistent_s3")

__all__ = ["S3Endpoint"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
EventSink = Callable[[dict[str, Any]], object]  # what it returns is not used

# Query parameters that make a PUT/POST on a key something other than writing the object.
_KEY_SUBRESOURCES = {"tagging", "acl", "retention", "legal-hold", "restore", "select"}


def _stop_tracking_instances() -> None:
    """moto keeps every model instance it ever created, for its dashboard: every FakeKey,
    ACL and grant of every PutObject, for the life of the process. A long-running server
    must not, so S3's models keep none (buckets still hold their live objects)."""
    import moto.s3.models  # noqa: F401 - defines the models

    from sfnstack.integrations.aws import untrack_moto_instances

    untrack_moto_instances(("s3",))


def _moto_backend(account: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


class S3Endpoint:
    """A WSGI app: moto's S3 plus persistence and "Object Created" events."""

    def __init__(
        self,
        data: DataDir,
        *,
        region: str,
        account: str,
        server_hosts: Iterable[str],
        event_buckets: set[str] | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        from moto.moto_server.werkzeug_app import create_backend_app

        self.data = data
        self.region = region
        self.account = account
        self.server_hosts = {h.lower() for h in server_hosts} | {"localhost", "127.0.0.1"}
        self.event_buckets = event_buckets if event_buckets is not None else set()
        self.on_event = on_event
        self._app = ObjectFastPath(create_backend_app("s3"))
        _stop_tracking_instances()
        self._sequence = itertools.count(int(time.time() * 1000) << 16)
        self._lock = threading.Lock()  # one persistence write at a time per key set
        self.journal = ObjectJournal(data)
        self.syncer = Syncer(self.journal.sync)

    def close(self) -> None:
        """Make every object change written so far durable, and stop the syncer and the
        journal's folding."""
        self.syncer.close()
        self.journal.close()

    def _write_key(self, bucket: str, key: str) -> None:
        with self._lock:
            self._persist_key(bucket, key)
        self.syncer.written()

    # ------------------------------------------------------------------ backend
    @property
    def backend(self) -> Any:
        return _moto_backend(self.account)

    def restore(self) -> tuple[int, int]:
        """Load persisted buckets and objects into moto, then fold the journal's segments
        left by an earlier server in the background; returns (buckets, objects)."""
        backend = self.backend
        bucket_count = 0
        for bucket_doc in self.data.buckets():
            name = bucket_doc["name"]
            if name not in backend.buckets:
                backend.create_bucket(name, bucket_doc.get("region") or self.region)
            if bucket_doc.get("versioning"):
                backend.put_bucket_versioning(name, bucket_doc["versioning"])
            bucket_count += 1
        objects = self.journal.objects()
        for (name, key), stored in objects.items():
            fake_key = backend.put_object(
                name,
                key,
                stored.read_bytes(),
                storage=stored.storage_class,
                etag=stored.etag,
                disable_notification=True,
            )
            metadata = dict(stored.metadata)
            fake_key.set_metadata(metadata, replace=True)
            fake_key.last_modified = datetime.fromisoformat(stored.last_modified)
            if stored.version_id and fake_key.version_id != "null":
                fake_key._version_id = stored.version_id  # the id events carried
        self.journal.start_folding()
        return bucket_count, len(objects)

    def ensure_bucket(self, name: str, versioning: bool = False) -> bool:
        """Create the bucket (and persist it) if it does not exist, with versioning enabled
        when asked (the template's ``VersioningConfiguration``); True when created."""
        backend = self.backend
        created = name not in backend.buckets
        if created:
            backend.create_bucket(name, self.region)
        if versioning and backend.buckets[name].versioning_status != "Enabled":
            backend.put_bucket_versioning(name, "Enabled")
        elif not created:
            return False
        self._persist_bucket(name)
        return created

    def _persist_bucket(self, name: str) -> None:
        """Save a bucket that exists (CreateBucket; a PUT that created nothing saves
        nothing and deletes nothing)."""
        bucket = self.backend.buckets.get(name)
        if bucket is None:
            return
        created = getattr(bucket, "creation_date", None)
        created_text = (
            created.isoformat() if isinstance(created, datetime) else datetime.now(UTC).isoformat()
        )
        self.data.save_bucket(
            name,
            getattr(bucket, "region_name", self.region),
            created_text,
            getattr(bucket, "versioning_status", None),
        )

    def _persist_key(self, bucket_name: str, key_name: str) -> Any | None:
        """Journal the key's current state (or its absence); returns the FakeKey."""
        bucket = self.backend.buckets.get(bucket_name)
        fake_key = None
        if bucket is not None:
            fake_key = bucket.keys.get(key_name)
        if fake_key is None or not hasattr(fake_key, "value"):  # gone, or a delete marker
            self.journal.delete(bucket_name, key_name)
            return None
        last_modified = fake_key.last_modified
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=UTC)
        self.journal.put(
            StoredObject(
                bucket=bucket_name,
                key=key_name,
                etag=fake_key.etag,
                metadata={str(k): str(v) for k, v in dict(fake_key.metadata).items()},
                last_modified=last_modified.isoformat(),
                storage_class=fake_key.storage_class or "STANDARD",
                version_id=None if fake_key.version_id in (None, "null") else fake_key.version_id,
                data=fake_key.value,
            )
        )
        return fake_key

    # ------------------------------------------------------------------ WSGI
    def _bucket_and_key(self, environ: Environ) -> tuple[str | None, str | None]:
        # The raw request URI, decoded once as UTF-8: PATH_INFO is already percent-decoded
        # (as latin-1), and decoding it again would corrupt keys containing "%" or non-ASCII.
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw:
            path = unquote(raw.split("?", 1)[0].split("#", 1)[0], encoding="utf-8")
            if "://" in path:  # absolute-form request target
                path = "/" + path.split("://", 1)[1].partition("/")[2]
        else:
            path = (environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8", "replace")
        host = (environ.get("HTTP_HOST") or "").split(":")[0].lower()
        for base in self.server_hosts:
            if host.endswith("." + base):  # virtual-hosted style: <bucket>.<host>
                bucket = host[: -len(base) - 1]
                key = path[1:] or None
                return bucket, key
        parts = path[1:].split("/", 1)
        bucket = parts[0] or None
        key = parts[1] if len(parts) > 1 and parts[1] else None
        return bucket, key

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        bucket, key = self._bucket_and_key(environ)
        if bucket is not None:
            # S3's naming rules, before moto or the data directory see the name: a Host
            # header or path is not a file name.
            try:
                check_bucket_name(bucket)
            except InvalidBucketName:
                return _error(
                    start_response,
                    "InvalidBucketName",
                    "The specified bucket is not valid.",
                    bucket,
                )
        if method in ("GET", "HEAD", "OPTIONS"):
            return self._app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        request_body = b""
        if method == "POST" and bucket and key is None and "delete" in query:
            # DeleteObjects: read the key list, then hand moto an identical body
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request_body = (
                environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
            )
            environ["wsgi.input"] = io.BytesIO(request_body)
            environ["CONTENT_LENGTH"] = str(len(request_body))

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(headers)
            return (
                start_response(status, headers, exc_info)
                if exc_info
                else start_response(status, headers)
            )

        body = self._app(environ, capture)
        # moto's responses are already complete; materialise before acting on them
        chunks = list(body)
        if hasattr(body, "close"):
            body.close()
        status = captured.get("status", 500)
        if status < 300 and bucket:
            try:
                self._after_mutation(method, bucket, key, query, environ, request_body, captured)
            except Exception:  # a bucket change not persisted is not done: the client sees an error
                log.exception("failed to persist S3 %s %s/%s", method, bucket, key or "")
                raise
        return chunks

    def _after_mutation(
        self,
        method: str,
        bucket: str,
        key: str | None,
        query: dict[str, list[str]],
        environ: Environ,
        request_body: bytes,
        captured: dict[str, Any],
    ) -> None:
        if key is None:
            if method == "POST" and "delete" in query:
                for deleted in _keys_in_delete_request(request_body):
                    self._write_key(bucket, deleted)
                return
            with self._lock:
                if method == "PUT" and (not query or "versioning" in query):
                    self._persist_bucket(bucket)
                elif method == "DELETE" and not query and bucket not in self.backend.buckets:
                    self.data.delete_bucket(bucket)  # moto really deleted it
            return
        if "uploadId" in query and method in ("PUT", "DELETE"):
            return  # UploadPart / AbortMultipartUpload: nothing visible changed
        if method == "POST" and "uploads" in query:
            return  # CreateMultipartUpload
        reason = None
        if method == "PUT" and not (_KEY_SUBRESOURCES & set(query)):
            copy_source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
            reason = "CopyObject" if copy_source else "PutObject"
        elif method == "POST" and "uploadId" in query:
            reason = "CompleteMultipartUpload"
        self._write_key(bucket, key)
        if not (reason and bucket in self.event_buckets and self.on_event):
            return
        moto_bucket = self.backend.buckets.get(bucket)
        fake_key = moto_bucket.keys.get(key) if moto_bucket is not None else None
        if fake_key is None or not hasattr(fake_key, "value"):
            return
        headers = captured.get("headers") or {}
        event = s3_object_created_event(
            bucket=bucket,
            key=key,
            size=int(fake_key.size),
            etag=fake_key.etag,
            sequencer=f"{next(self._sequence):016X}",
            reason=reason,
            region=self.region,
            account=self.account,
            request_id=headers.get("x-amz-request-id") or uuid.uuid4().hex[:16].upper(),
            source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
            version_id=None if fake_key.version_id in (None, "null") else fake_key.version_id,
        )
        self.on_event(event)


class Syncer:
    """Calls ``sync`` (``ObjectJournal.sync``) in its own thread when something was written
    since the last call, at most once every ``interval`` seconds: one sync for however many
    objects arrived meanwhile, and a stream of PutObjects is not slowed by a sync after
    each. ``close`` syncs what is left and stops it; after that ``written`` syncs at once."""

    def __init__(self, sync: Callable[[], None], interval: float = 1.0) -> None:
        self._sync = sync
        self._interval = interval
        self._dirty = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sfnstack-s3-sync", daemon=True)
        self._thread.start()

    def written(self) -> None:
        with self._changed:
            if self._closed:
                self._sync()
                return
            if not self._dirty:  # a write since the last sync already woke the thread
                self._dirty = True
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._dirty or self._closed)
                dirty, self._dirty = self._dirty, False
                closed = self._closed
            if dirty:
                try:
                    self._sync()
                except OSError:
                    log.exception("failed to sync the S3 journal")
            if closed:
                return
            with self._changed:  # the next sync no sooner than an interval from now
                self._changed.wait_for(lambda: self._closed, timeout=self._interval)


def _error(start_response: StartResponse, code: str, message: str, bucket: str) -> list[bytes]:
    """An S3 error document, as S3 sends it."""
    root = ET.Element("Error")
    for tag, text in (("Code", code), ("Message", message), ("BucketName", bucket)):
        ET.SubElement(root, tag).text = text
    ET.SubElement(root, "RequestId").text = uuid.uuid4().hex[:16].upper()
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _keys_in_delete_request(body: bytes) -> list[str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    keys = []
    for element in root.iter():
        if element.tag.endswith("Key") and element.tag.split("}")[-1] == "Key" and element.text:
            keys.append(element.text)
    return keys
