"""Hostile requests against a real ``sfnstack serve`` process: nothing a request carries (a
Host header, a bucket name, an object key, an execution name) may touch a file outside
``--data-dir``, nor anything inside it that is not that bucket's own data."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "serve"))

from stack import FIXTURE_TEMPLATE, ServeProcess


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    sentinel = root / "sentinel"
    (sentinel / "deep").mkdir(parents=True)
    (sentinel / "keep.txt").write_text("precious", encoding="utf-8")
    (sentinel / "deep" / "keep.txt").write_text("precious", encoding="utf-8")
    server = ServeProcess(root / "data", FIXTURE_TEMPLATE, "--no-schedule").start()
    yield server, sentinel
    server.stop()


def _raw(server: ServeProcess, method: str, target: str, host: str, body: bytes = b"") -> int:
    """A request with exactly this request target and Host header (no client-side
    normalisation of dot segments)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _sentinel_intact(sentinel: Path) -> None:
    assert (sentinel / "keep.txt").read_text(encoding="utf-8") == "precious"
    assert (sentinel / "deep" / "keep.txt").read_text(encoding="utf-8") == "precious"


def _hostile_hosts(sentinel: Path, data_dir: Path) -> list[str]:
    relative = "../" * len(data_dir.resolve().parts) + str(sentinel).lstrip("/")
    return [
        f"{sentinel}.localhost",
        f"{sentinel}.localhost:4566",
        f"{sentinel}.127.0.0.1",
        f"../../{sentinel.name}.localhost",
        f"{relative}.localhost",
        "../executions.localhost",  # inside the data dir, but not a bucket's
        "...localhost",
        "..localhost",
        ".localhost",
        "/.localhost",
    ]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_bucket_names_from_the_host_header_never_become_paths(
    hostile: tuple[ServeProcess, Path], method: str
) -> None:
    server, sentinel = hostile
    for host in _hostile_hosts(sentinel, server.data_dir):
        status = _raw(server, method, "/", host)
        assert status == 400, (host, status)
        _sentinel_intact(sentinel)
    assert (server.data_dir / "executions").is_dir()
    assert (server.data_dir / "triggers").is_dir()
    server.sfn().list_state_machines()  # still serving


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_bucket_names_from_the_path_never_become_paths(
    hostile: tuple[ServeProcess, Path], method: str
) -> None:
    server, sentinel = hostile
    targets = [
        f"/..%2F..%2F{sentinel.name}",
        f"/..%2F..%2F{sentinel.name}/",
        "/..%2Fexecutions",
        "/%2E%2E",
        "/Upper_Case",
    ]
    for target in targets:
        status = _raw(server, method, target, f"127.0.0.1:{server.port}")
        assert status == 400, (target, status)
        _sentinel_intact(sentinel)
    # an encoded absolute path is bucket "tmp" (or the like) and a key: no such bucket
    status = _raw(server, method, f"/{'%2F'.join(sentinel.parts[1:])}", "localhost")
    assert status == 404
    _sentinel_intact(sentinel)
    assert (server.data_dir / "executions").is_dir()


def test_object_keys_and_delete_lists_never_become_paths(
    hostile: tuple[ServeProcess, Path],
) -> None:
    server, sentinel = hostile
    s3 = server.s3()
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "result" in b["Name"])
    escape = "../" * 12 + str(sentinel).lstrip("/") + "/keep.txt"
    for key in (escape, "../bucket.json", "../../executions", "/etc/passwd", "..", "."):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
        s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=escape, Body=b"x")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": escape}, {"Key": "../.."}]})
    _sentinel_intact(sentinel)
    # every file the server wrote is under the data dir's own layout
    for path in (server.data_dir / "s3").rglob("*"):
        assert path.resolve().is_relative_to((server.data_dir / "s3").resolve())
    assert (server.data_dir / "s3" / bucket / "bucket.json").is_file()


def test_a_rejected_bucket_request_says_why(hostile: tuple[ServeProcess, Path]) -> None:
    server, sentinel = hostile
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("PUT", "/", skip_host=True)
    connection.putheader("Host", f"{sentinel}.localhost")
    connection.putheader("Content-Length", "0")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    assert response.status == 400
    assert "<Code>InvalidBucketName</Code>" in body


def test_execution_names_are_refused_not_used_as_paths(
    hostile: tuple[ServeProcess, Path],
) -> None:
    server, sentinel = hostile
    sfn = server.sfn()
    sm_arn = server.state_machine_arn()
    for name in (f"../../{sentinel.name}", str(sentinel), "a/b", "a\\b"):
        with pytest.raises(sfn.exceptions.InvalidName):
            sfn.start_execution(stateMachineArn=sm_arn, name=name, input=json.dumps({}))
    # ".." is a valid execution name on AWS: it is recorded under a digest, not as a path
    run = sfn.start_execution(stateMachineArn=sm_arn, name="..", input='{"cities": []}')
    server.wait_closed(run["executionArn"])
    _sentinel_intact(sentinel)
    for path in (server.data_dir / "executions").iterdir():
        assert path.resolve().parent == (server.data_dir / "executions").resolve()
