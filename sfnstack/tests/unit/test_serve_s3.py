"""How the S3 endpoint reads bucket and key from a request, and which service a signed
request is for."""

from pathlib import Path
from typing import Any

import pytest
from sfnstack.serve.persistent_s3 import S3Endpoint, _keys_in_delete_request
from sfnstack.serve.server import _signed_service
from sfnstack.serve.store import DataDir, InvalidBucketName, StoredObject, check_bucket_name


@pytest.fixture
def endpoint(tmp_path: Path) -> S3Endpoint:
    return S3Endpoint(
        DataDir(tmp_path), region="us-east-1", account="123456789012", server_hosts=["127.0.0.1"]
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"RAW_URI": "/bucket/incoming/a%20b%2Bc%2520%C3%BC.csv?x=1", "HTTP_HOST": "127.0.0.1:4566"},
         ("bucket", "incoming/a b+c%20ü.csv")),
        ({"RAW_URI": "/bucket", "HTTP_HOST": "localhost:4566"}, ("bucket", None)),
        ({"RAW_URI": "/bucket/", "HTTP_HOST": "localhost:4566"}, ("bucket", None)),
        ({"RAW_URI": "/", "HTTP_HOST": "localhost:4566"}, (None, None)),
        ({"RAW_URI": "/key/in/bucket", "HTTP_HOST": "my-bucket.localhost:4566"}, ("my-bucket", "key/in/bucket")),
        ({"RAW_URI": "http://127.0.0.1:4566/bucket/k", "HTTP_HOST": "127.0.0.1:4566"}, ("bucket", "k")),
        # no raw URI: PATH_INFO as WSGI gives it (UTF-8 bytes as latin-1)
        ({"PATH_INFO": "/bucket/ü".encode().decode("latin-1"), "HTTP_HOST": "127.0.0.1"}, ("bucket", "ü")),
    ],
)  # fmt: skip
def test_bucket_and_key(endpoint: S3Endpoint, environ: dict, expected: tuple) -> None:
    assert endpoint._bucket_and_key(environ) == expected


def test_keys_in_a_delete_objects_request() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>a/1</Key></Object><Object><Key>a/&lt;2&gt;</Key><VersionId>v</VersionId></Object>"
        b"<Quiet>true</Quiet></Delete>"
    )
    assert _keys_in_delete_request(body) == ["a/1", "a/<2>"]
    assert _keys_in_delete_request(b"not xml") == []


@pytest.mark.parametrize(
    ("environ", "service"),
    [
        ({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"}, "s3"),
        ({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/states/aws4_request, SignedHeaders=host, Signature=0"}, "states"),
        ({"QUERY_STRING": "X-Amz-Credential=AKID%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=0"}, "s3"),
        ({}, None),
    ],
)  # fmt: skip
def test_signed_service(environ: dict, service: str | None) -> None:
    assert _signed_service(environ) == service


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket", "a.b.c", "local-inputbucket", "1bucket2", "a" * 63],
)
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "ab", "a" * 64, "Upper", "under_score", "-start", "end-", ".start", "end.", "a..b",
        "192.168.1.1", "xn--bucket", "sthree-x", "amzn-s3-demo-x", "x-s3alias", "x--ol-s3",
        "x.mrap", "x--x-s3", "x--table-s3", "../etc", "/tmp/x", "a/b", "a\\b", "..", ".",
        "", "a\x00b", "caf\u00e9",
    ],
)  # fmt: skip
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        check_bucket_name(name)


def test_data_dir_never_leaves_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    data = DataDir(tmp_path / "data")
    for name in ("../outside", str(outside), "..", "s3"):
        with pytest.raises(ValueError):
            data.save_bucket(name, "us-east-1", "2026-01-01T00:00:00+00:00")
        with pytest.raises(ValueError):
            data.delete_bucket(name)
    # a bucket directory that is a symlink out of the data dir is never followed
    (data.s3 / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError):
        data.delete_bucket("linked")
    with pytest.raises(ValueError):
        data.save_object(
            StoredObject("linked", "k", etag="e", metadata={}, last_modified="", data=b"x")
        )
    # ... and a bucket.json naming another directory is not restored
    (data.s3 / "real").mkdir()
    (data.s3 / "real" / "bucket.json").write_text('{"name": "../../outside"}')
    assert data.buckets() == []
    assert (outside / "keep.txt").read_text() == "precious"


def _call(endpoint: S3Endpoint, method: str, host: str, path: str = "/") -> tuple[int, bytes]:
    import io

    status: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": path,
        "PATH_INFO": path,
        "HTTP_HOST": host,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4566",
    }
    body = b"".join(endpoint(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0].split()[0]), body


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "GET", "HEAD"])
def test_a_host_header_naming_a_directory_is_refused(
    endpoint: S3Endpoint, tmp_path: Path, method: str
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    for host in (f"{victim}.localhost", "../victim.localhost", f"{victim}.127.0.0.1:4566"):
        status, body = _call(endpoint, method, host)
        assert status == 400
        if method != "HEAD":
            assert b"<Code>InvalidBucketName</Code>" in body
    assert (victim / "keep.txt").read_text() == "precious"


def test_versioning_and_version_ids_survive_a_restart(tmp_path: Path) -> None:
    import uuid

    data = DataDir(tmp_path)
    name = f"versioned-{uuid.uuid4().hex[:12]}"
    endpoint = S3Endpoint(data, region="us-east-1", account="210987654321", server_hosts=[])
    backend = endpoint.backend
    assert endpoint.ensure_bucket(name, versioning=True)
    first = backend.put_object(name, "incoming/a.csv", b"Sydney\n")
    second = backend.put_object(name, "incoming/a.csv", b"Perth\n")
    assert first.version_id != second.version_id != "null"
    endpoint._persist_key(name, "incoming/a.csv")
    # a delete marker on top is not an object: its key is no longer persisted
    backend.put_object(name, "incoming/b.csv", b"x")
    endpoint._persist_key(name, "incoming/b.csv")
    backend.delete_object(name, "incoming/b.csv")
    endpoint._persist_key(name, "incoming/b.csv")

    backend.reset()  # the server stops; a new one restores
    assert endpoint.restore() == (1, 1)
    bucket = backend.buckets[name]
    assert bucket.versioning_status == "Enabled"
    restored = bucket.keys["incoming/a.csv"]
    assert (restored.value, restored.version_id) == (b"Perth\n", second.version_id)
    assert "incoming/b.csv" not in bucket.keys


def test_the_syncer_syncs_once_for_what_was_written_meanwhile_and_on_close() -> None:
    import threading

    from sfnstack.serve.persistent_s3 import Syncer

    calls: list[int] = []
    busy = threading.Event()
    release = threading.Event()

    def sync() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            busy.set()
            release.wait(5)  # the first sync is slow while more objects are written

    syncer = Syncer(sync, interval=0.05)
    syncer.written()
    assert busy.wait(5)
    for _ in range(10):
        syncer.written()
    release.set()
    syncer.close()  # the ten writes meanwhile: one more sync
    assert len(calls) == 2
    syncer.written()  # after close: at once
    assert len(calls) == 3


def serve_endpoint(tmp_path: Path, prefix: str) -> tuple[DataDir, S3Endpoint, Any, Any, str]:
    """An S3Endpoint on a data directory in ``tmp_path``, served by an HttpFront on a free
    port, with one new bucket: (data dir, endpoint, server, boto3 client, bucket name)."""
    import socket
    import threading
    import uuid

    from sfnstack.embedded_s3 import s3_client
    from sfnstack.http_front import HttpFront

    data = DataDir(tmp_path)
    endpoint = S3Endpoint(data, region="us-east-1", account="123456789012", server_hosts=[])
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    endpoint.ensure_bucket(name)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    server = HttpFront(listening, endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = s3_client(f"http://127.0.0.1:{listening.getsockname()[1]}")
    return data, endpoint, server, client, name


def _restored(data: DataDir, name: str) -> dict[str, Any]:
    """What a new server on ``data`` restores into bucket ``name``: key -> (bytes, metadata)."""
    from moto.s3.models import s3_backends

    s3_backends["123456789012"]["aws"].reset()
    endpoint = S3Endpoint(data, region="us-east-1", account="123456789012", server_hosts=[])
    try:
        endpoint.restore()
        keys = endpoint.backend.buckets[name].keys
        return {key: (keys[key].value, dict(keys[key].metadata)) for key in keys}
    finally:
        endpoint.close()


def test_objects_acknowledged_are_on_disk_once_the_endpoint_closes(tmp_path: Path) -> None:
    data, endpoint, server, client, name = serve_endpoint(tmp_path, "written")
    try:
        for index in range(20):
            client.put_object(Bucket=name, Key=f"runs/{index}.json", Body=b"%d" % index)
        client.put_object(Bucket=name, Key="runs/0.json", Body=b"again", ContentType="text/plain")
        client.delete_object(Bucket=name, Key="runs/1.json")
        client.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "runs/2.json"}]})
    finally:
        server.shutdown()
        server.server_close()
        endpoint.close()
    stored = _restored(data, name)
    assert sorted(stored) == sorted(f"runs/{i}.json" for i in range(20) if i not in (1, 2))
    assert stored["runs/0.json"][0] == b"again"
    assert stored["runs/0.json"][1]["content-type"] == "text/plain"
    assert stored["runs/5.json"][0] == b"5"


def test_an_acknowledged_object_is_on_disk_before_the_answer_and_a_failed_write_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server killed right after answering (no close) restarts with every object it
    acknowledged; a write the disk refuses is an error to the client, not a lost object."""
    from botocore.exceptions import ClientError
    from sfnstack.serve.object_journal import ObjectJournal

    data, _endpoint, server, client, name = serve_endpoint(tmp_path, "durable")
    try:
        for index in range(5):
            client.put_object(Bucket=name, Key=f"k{index}", Body=b"%d" % index)
            # answered: on disk already (the journal a new server reads), before any close
            stored = ObjectJournal(data).objects()
            assert stored[(name, f"k{index}")].read_bytes() == b"%d" % index
        client.delete_object(Bucket=name, Key="k0")
        assert (name, "k0") not in ObjectJournal(data).objects()

        from sfnstack.serve import object_journal

        def disk_full(fd: int, buffers: object) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(object_journal.os, "writev", disk_full)
        with pytest.raises(ClientError) as caught:
            client.put_object(Bucket=name, Key="full", Body=b"x")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    finally:
        server.shutdown()
        server.server_close()
