"""The embedded S3 endpoint: started on a free local port, buckets created, reachable by
boto3 clients in this process and by handlers in worker processes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sfnstack.embedded_s3 import LocalS3, S3Request, s3_client
from sfnstack.lambdas import LambdaPool, function_from_callable

RUNTIME_TEMPLATE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime" / "template.yaml"

HANDLER = """
import boto3, os
def copy(event, context):
    s3 = boto3.client("s3")  # no endpoint argument: AWS_ENDPOINT_URL points at the local S3
    body = s3.get_object(Bucket=event["bucket"], Key="in.txt")["Body"].read()
    s3.put_object(Bucket=event["bucket"], Key="out.txt", Body=body.upper())
    return {"endpoint": os.environ["AWS_ENDPOINT_URL_S3"]}
"""


def test_round_trip_between_this_process_and_a_handler(tmp_path: Path) -> None:
    (tmp_path / "s3_handlers.py").write_text(HANDLER)
    with LocalS3() as s3:
        assert s3.embedded and s3.endpoint_url.startswith("http://127.0.0.1:")
        s3.create_buckets(["round-trip", "round-trip"])  # idempotent
        client = s3.client()
        client.put_object(Bucket="round-trip", Key="in.txt", Body=b"hello")
        env = {"AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ENDPOINT_URL_S3": s3.endpoint_url}
        function = function_from_callable("copy", "s3_handlers:copy", code_dir=tmp_path)
        with LambdaPool({"copy": function}, max_workers=1, base_env=env) as pool:
            assert pool.invoke("copy", {"bucket": "round-trip"}) == {"endpoint": s3.endpoint_url}
        assert client.get_object(Bucket="round-trip", Key="out.txt")["Body"].read() == b"HELLO"

        # A second LocalS3 given the URL shares the same store (how `sfnstack serve` is used).
        shared = LocalS3(s3.endpoint_url)
        assert not shared.embedded
        listed = shared.client().list_objects_v2(Bucket="round-trip")
        assert sorted(o["Key"] for o in listed["Contents"]) == ["in.txt", "out.txt"]
        shared.close()  # does not stop a server it did not start
        assert client.head_bucket(Bucket="round-trip")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_closed_server_refuses_connections() -> None:
    s3 = LocalS3()
    clients = [s3.client(), s3_client(s3.endpoint_url)]  # in process, and over HTTP
    for client in clients:
        client.list_buckets()
    s3.close()
    for client in clients:
        with pytest.raises(Exception):  # noqa: B017 - any connection error will do
            client.list_buckets()


def test_this_process_reaches_an_embedded_endpoint_without_a_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s3_handlers.py").write_text(HANDLER)
    with LocalS3() as s3:
        s3.create_buckets(["in-process"])
        client = s3.client()
        assert s3.requests is not None
        s3.requests.reset()

        def no_sockets(*args: object, **kwargs: object) -> None:
            raise AssertionError("an in-process request opened a connection")

        with monkeypatch.context() as patch:
            patch.setattr(socket.socket, "connect", no_sockets)
            client.put_object(Bucket="in-process", Key="in.txt", Body=b"hello")
            with pytest.raises(ClientError) as missing:
                client.get_object(Bucket="in-process", Key="nothing-here")
            assert missing.value.response["Error"]["Code"] == "NoSuchKey"
        # What it wrote, a handler (over HTTP) reads, and the other way round.
        env = {"AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ENDPOINT_URL_S3": s3.endpoint_url}
        function = function_from_callable("copy", "s3_handlers:copy", code_dir=tmp_path)
        with LambdaPool({"copy": function}, max_workers=1, base_env=env) as pool:
            pool.invoke("copy", {"bucket": "in-process"})
        assert client.get_object(Bucket="in-process", Key="out.txt")["Body"].read() == b"HELLO"
        # counted like the server's requests: PutObject, two GetObject here, one GET and
        # one PUT by the handler
        assert s3.requests.operations == {"PutObject": 2, "GetObject": 3}
        assert s3.requests.bytes_in == 2 * len(b"hello")


def test_read_object_and_object_etag_give_what_a_handler_wrote_without_a_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "s3_handlers.py").write_text(HANDLER)
    with LocalS3() as s3:
        s3.create_buckets(["direct-read"])
        client = s3.client()
        client.put_object(Bucket="direct-read", Key="in.txt", Body=b"hello")
        env = {"AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ENDPOINT_URL_S3": s3.endpoint_url}
        function = function_from_callable("copy", "s3_handlers:copy", code_dir=tmp_path)
        with LambdaPool({"copy": function}, max_workers=1, base_env=env) as pool:
            pool.invoke("copy", {"bucket": "direct-read"})
        assert s3.requests is not None
        s3.requests.reset()
        got = client.get_object(Bucket="direct-read", Key="out.txt")
        assert s3.read_object("direct-read", "out.txt") == (b"HELLO", got["ETag"])
        assert s3.object_etag("direct-read", "out.txt") == got["ETag"]
        for bucket, key in [("direct-read", "nothing-here"), ("no-such-bucket", "out.txt")]:
            assert s3.read_object(bucket, key) is None
            assert s3.object_etag(bucket, key) is None
        client.put_object(Bucket="direct-read", Key="out.txt", Body=b"changed")
        changed = client.head_object(Bucket="direct-read", Key="out.txt")["ETag"]
        assert changed != got["ETag"] and s3.object_etag("direct-read", "out.txt") == changed
        client.delete_object(Bucket="direct-read", Key="out.txt")
        assert s3.read_object("direct-read", "out.txt") is None
        assert s3.object_etag("direct-read", "out.txt") is None
        # only the client's own requests were made
        assert s3.requests.operations == {
            "GetObject": 1,
            "PutObject": 1,
            "HeadObject": 1,
            "DeleteObject": 1,
        }
        # an endpoint given by URL holds no objects in this process
        with pytest.raises(RuntimeError, match="embedded"):
            LocalS3(s3.endpoint_url).read_object("direct-read", "in.txt")
        with pytest.raises(RuntimeError, match="embedded"):
            LocalS3(s3.endpoint_url).object_etag("direct-read", "in.txt")


def test_background_start_serves_requests_made_before_it_is_ready() -> None:
    s3 = LocalS3(background=True)
    try:
        # The URL is known at once; this request waits in the socket backlog until moto serves.
        client = s3.client()
        client.create_bucket(Bucket="early")
        # (moto keeps one store per process: buckets of other tests may be listed too)
        assert "early" in [b["Name"] for b in client.list_buckets()["Buckets"]]
    finally:
        s3.close()


@pytest.fixture()
def release_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds an embedded endpoint's start (moto's import and server) until the test sets
    the event it is given (or it ends)."""
    import sfnstack.embedded_s3 as embedded_s3

    release = threading.Event()
    started_serving = embedded_s3._s3_server

    def held_server(*args: Any) -> Any:
        release.wait(30)
        return started_serving(*args)

    monkeypatch.setattr(embedded_s3, "_s3_server", held_server)
    yield release
    release.set()


def test_buckets_given_at_start_exist_before_the_first_request_is_served(
    release_moto: threading.Event,
) -> None:
    s3 = LocalS3(background=True, buckets=["given-at-start"])
    try:
        # The URL is known while moto is still starting: a worker can be given it now.
        assert s3.endpoint_url.startswith("http://127.0.0.1:")
        over_http = s3_client(s3.endpoint_url)  # a handler's client: plain HTTP
        listed: list[list[str]] = []
        request = threading.Thread(
            target=lambda: listed.append([b["Name"] for b in over_http.list_buckets()["Buckets"]])
        )
        request.start()
        request.join(0.3)
        assert request.is_alive() and not listed  # waits in the backlog, not refused
        release_moto.set()
        request.join(30)
        assert listed and "given-at-start" in listed[0]  # made before it was served
    finally:
        release_moto.set()
        s3.close()


def test_buckets_given_to_a_started_or_an_existing_endpoint_are_made() -> None:
    with LocalS3(buckets=["made-at-start"]) as s3:  # waits for the server
        over_http = s3_client(s3.endpoint_url)
        assert "made-at-start" in [b["Name"] for b in over_http.list_buckets()["Buckets"]]
        LocalS3(s3.endpoint_url, buckets=["made-through-url"])  # an existing endpoint
        assert "made-through-url" in [b["Name"] for b in over_http.list_buckets()["Buckets"]]


def test_a_runtime_gives_its_s3_endpoint_before_moto_has_started(
    release_moto: threading.Event,
) -> None:
    """The Lambda environments get AWS_ENDPOINT_URL at once, so they start while moto is
    still importing, not after (in ``raincast run`` the first environment started 1 s in)."""
    from sfnstack.local import LocalRuntime

    with LocalRuntime(RUNTIME_TEMPLATE, workers=1) as runtime:
        try:
            urls: list[str] = []
            asking = threading.Thread(target=lambda: urls.append(runtime.s3_endpoint_url))
            asking.start()
            asking.join(5)
            assert urls and urls[0].startswith("http://127.0.0.1:")
        finally:
            release_moto.set()
        names = [b["Name"] for b in runtime.s3_client().list_buckets()["Buckets"]]
        assert set(runtime.buckets.values()) <= set(names)


def test_closing_while_starting_does_not_hang() -> None:
    s3 = LocalS3(background=True)
    s3.close()  # the starting thread sees the close and never serves
    assert not s3.embedded


def test_request_counter_names_each_operation_from_every_client(tmp_path: Path) -> None:
    (tmp_path / "s3_handlers.py").write_text(HANDLER)
    with LocalS3() as s3:
        s3.create_buckets(["counted"])
        assert s3.requests is not None
        client = s3.client()
        client.put_object(Bucket="counted", Key="in.txt", Body=b"hello")
        s3.requests.reset()  # what came before is not counted
        env = {"AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ENDPOINT_URL_S3": s3.endpoint_url}
        function = function_from_callable("copy", "s3_handlers:copy", code_dir=tmp_path)
        with LambdaPool({"copy": function}, max_workers=1, base_env=env) as pool:
            pool.invoke("copy", {"bucket": "counted"})  # a handler: one GET, one PUT
        client.copy_object(Bucket="counted", Key="copy.txt", CopySource="counted/out.txt")
        client.list_objects_v2(Bucket="counted", Prefix="o")
        client.head_object(Bucket="counted", Key="in.txt")
        client.delete_objects(Bucket="counted", Delete={"Objects": [{"Key": "copy.txt"}]})
        client.delete_object(Bucket="counted", Key="out.txt")
        assert s3.requests.operations == {
            "GetObject": 1,
            "PutObject": 1,
            "CopyObject": 1,
            "ListObjectsV2": 1,
            "HeadObject": 1,
            "DeleteObjects": 1,
            "DeleteObject": 1,
        }
        assert s3.requests.bytes_in >= len(b"HELLO")
        client.put_object(Bucket="counted", Key="runs/r1/cities/a.json", Body=b"{}")
        assert s3.requests.snapshot()[S3Request("PutObject", "counted", "runs/r1/cities/")] == 1
        assert s3.requests.snapshot()[S3Request("GetObject", "counted", "")] == 1


def test_an_endpoint_given_by_url_is_not_counted() -> None:
    assert LocalS3("http://127.0.0.1:1").requests is None


def test_an_endpoint_started_after_the_others_closed_starts_with_empty_buckets() -> None:
    """moto keeps one S3 store per process. An embedded endpoint opened while no other is
    open (a new LocalRuntime after an earlier one closed) starts it empty, as a new stack's
    buckets are; endpoints open at the same time share it."""
    with LocalS3(buckets=["fresh-store"]) as first:
        first.shared_client().put_object(Bucket="fresh-store", Key="left/over.json", Body=b"1")
        with LocalS3(buckets=["fresh-store"]) as beside:  # open together: one store
            listed = beside.shared_client().list_objects_v2(Bucket="fresh-store")
            assert [o["Key"] for o in listed.get("Contents", [])] == ["left/over.json"]
    with LocalS3(buckets=["fresh-store"]) as later:
        assert later.shared_client().list_objects_v2(Bucket="fresh-store").get("KeyCount") == 0
        assert later.read_object("fresh-store", "left/over.json") is None
    # ... and a bucket only the earlier endpoints had is gone too
    with LocalS3(buckets=["another"]) as last:
        names = [b["Name"] for b in last.shared_client().list_buckets()["Buckets"]]
        assert names == ["another"]


def test_buckets_given_at_start_are_made_without_a_request() -> None:
    """The buckets given at start go into moto's store directly, as CloudFormation makes a
    stack's buckets before any workload runs: none of the requests counted is the
    endpoint's own (it made a ListBuckets and a CreateBucket per bucket through moto's
    dispatch before)."""
    with LocalS3(buckets=["made-directly", "made-directly-too"]) as s3:
        assert s3.requests is not None
        assert s3.wait_warm(30)
        assert s3.requests.operations == {}
        names = [b["Name"] for b in s3.shared_client().list_buckets()["Buckets"]]
        assert {"made-directly", "made-directly-too"} <= set(names)
        assert s3.requests.operations == {"ListBuckets": 1}
        over_http = s3_client(s3.endpoint_url)  # a handler's view: the same buckets
        assert over_http.head_bucket(Bucket="made-directly-too")
        located = over_http.get_bucket_location(Bucket="made-directly")
        assert located["LocationConstraint"] is None  # us-east-1, as CreateBucket made it


def test_moto_dispatch_is_warmed_behind_the_start_without_a_request() -> None:
    """moto's first dispatched request costs 0.06-0.1 s (its S3 app, its response classes,
    the service model its serializer reads). The endpoint pays it in a thread of its own
    once it serves, not before: what it warms is there afterwards, and it counted nothing
    and changed nothing."""
    with LocalS3(buckets=["warmed"]) as s3:
        assert s3.wait_warm(30)
        assert s3.requests is not None and s3.requests.operations == {}
        # HttpFront -> RequestCounter -> ObjectFastPath -> moto's DomainDispatcherApplication
        dispatcher = s3._server.app._app.app
        assert "s3" in dispatcher.app_instances
        listed = s3.shared_client().list_objects_v2(Bucket="warmed")
        assert listed["KeyCount"] == 0


def test_a_warm_up_that_fails_leaves_the_endpoint_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    import sfnstack.embedded_s3 as embedded_s3

    def broken(dispatcher: Any, endpoint: tuple[str, str]) -> None:
        raise RuntimeError("warm-up failed")

    monkeypatch.setattr(embedded_s3, "_warm_dispatch", broken)
    with LocalS3(buckets=["still-serving"]) as s3:
        assert s3.wait_warm(30)
        client = s3_client(s3.endpoint_url)  # over HTTP, through moto's dispatch
        assert client.list_objects_v2(Bucket="still-serving")["KeyCount"] == 0
        client.put_object(Bucket="still-serving", Key="k", Body=b"v")
        assert client.get_object(Bucket="still-serving", Key="k")["Body"].read() == b"v"


def test_buckets_made_by_two_callers_at_once_are_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``create_buckets`` from two threads at once: the second finds the bucket the first
    made between its check and its call, as a repeated CreateBucket in us-east-1 does."""
    import moto.s3.models as s3_models

    with LocalS3() as s3:
        made = threading.Event()
        real = s3_models.S3Backend.create_bucket

        def racing(self: Any, name: str, region: str, **kwargs: Any) -> Any:
            if name == "raced" and not made.is_set():
                made.set()
                real(self, name, region, **kwargs)  # the other caller won
            return real(self, name, region, **kwargs)

        monkeypatch.setattr(s3_models.S3Backend, "create_bucket", racing)
        s3.create_buckets(["raced"])
        assert made.is_set()
        assert "raced" in [b["Name"] for b in s3.shared_client().list_buckets()["Buckets"]]
