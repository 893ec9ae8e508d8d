"""ObjectFastPath against moto's own server: the same boto3 calls sent to both, their HTTP
responses compared (status, headers, body), and whether the fast path answered or left
the request to moto."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sfnstack.embedded_s3 import s3_client
from sfnstack.http_front import HttpFront
from sfnstack.s3_fast_path import ObjectFastPath

# What differs between two servers whatever they serve
_VOLATILE = {"date", "server", "connection", "x-amzn-requestid"}


class _Responses:
    """The raw HTTP response of each call a boto3 client makes."""

    def __init__(self, client: Any) -> None:
        self.last: Any = None
        client.meta.events.register("after-call.s3", self._after_call)
        client.meta.events.register("needs-retry.s3", self._after_error, unique_id="responses")

    def _after_call(self, http_response: Any, **kwargs: Any) -> None:
        self.last = http_response

    def _after_error(self, response: Any, **kwargs: Any) -> None:
        if response is not None:  # (http_response, parsed) of a call that raised
            self.last = response[0]


class _Pair:
    """A fast-path server and moto's own server (werkzeug and moto's Flask app, as
    ``moto_server`` runs it), one moto backend; each call goes to both, on buckets of the
    same name but for a prefix."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.fast = ObjectFastPath(create_backend_app("s3"))
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        self.fast_server = HttpFront(listening, self.fast)
        self.moto_server = make_server(
            "127.0.0.1", 0, create_backend_app("s3"), threaded=True,
            request_handler=MotoRequestHandler,
        )  # fmt: skip
        for server in (self.fast_server, self.moto_server):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.fast_client = s3_client(f"http://127.0.0.1:{listening.getsockname()[1]}")
        self.moto_client = s3_client(f"http://127.0.0.1:{self.moto_server.server_port}")
        self.fast_responses = _Responses(self.fast_client)
        self.moto_responses = _Responses(self.moto_client)
        self.suffix = uuid.uuid4().hex[:8]

    def close(self) -> None:
        for server in (self.fast_server, self.moto_server):
            server.shutdown()
            server.server_close()

    def bucket(self, name: str) -> tuple[str, str]:
        return f"fast-{name}-{self.suffix}", f"moto-{name}-{self.suffix}"

    def both(self, call: Callable[[Any, str], Any], bucket: str) -> tuple[Any, Any]:
        """``call(client, bucket)`` on each server; the two raw responses, normalized."""
        fast_bucket, moto_bucket = self.bucket(bucket)
        results = []
        for client, responses, name in (
            (self.fast_client, self.fast_responses, fast_bucket),
            (self.moto_client, self.moto_responses, moto_bucket),
        ):
            responses.last = None
            with contextlib.suppress(ClientError):
                call(client, name)
            assert responses.last is not None
            results.append(_normalized(responses.last, name))
        return results[0], results[1]

    def same(self, call: Callable[[Any, str], Any], bucket: str, *, fast: bool) -> Any:
        """Both servers answer ``call`` alike; ``fast``: the fast path answered it (else it
        left it to moto). Returns the (normalized) response."""
        before = self.fast.answered
        fast_response, moto_response = self.both(call, bucket)
        assert fast_response == moto_response
        assert self.fast.answered == before + (1 if fast else 0)
        return fast_response


def _normalized(response: Any, bucket: str) -> tuple[int, dict[str, str], bytes]:
    headers = {}
    for name, value in response.headers.items():
        name = name.lower()
        if name in _VOLATILE:
            if name == "x-amzn-requestid":
                assert len(value) == 52
            continue
        if name == "last-modified":
            parsedate_to_datetime(value)  # a date, whichever second
            value = "<date>"
        if name == "x-amz-version-id" and value != "null":
            value = "<version>"
        headers[name] = value
    body = response.content.replace(bucket.encode(), b"<bucket>")
    for tag in (b"RequestId", b"HostId", b"VersionId"):  # random per request or object
        start = body.find(b"<" + tag + b">")
        end = body.find(b"</" + tag + b">")
        if start >= 0 and end > start:
            body = body[: start + len(tag) + 2] + b"..." + body[end:]
    return response.status_code, headers, body


@pytest.fixture(scope="module")
def pair() -> Iterator[_Pair]:
    servers = _Pair()
    yield servers
    servers.close()


def _create(pair: _Pair, bucket: str, **extra: Any) -> None:
    for name in pair.bucket(bucket):
        pair.fast_client.create_bucket(Bucket=name, **extra)


BODY = b'{"city": "Sydney", "probability": 0.42}' * 10


def test_plain_put_get_head_are_answered_as_moto_answers_them(pair: _Pair) -> None:
    _create(pair, "plain")
    put = pair.same(
        lambda c, b: c.put_object(Bucket=b, Key="a.json", Body=BODY), "plain", fast=True
    )
    assert put[0] == 200 and put[1]["etag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert "x-amz-checksum-crc32" in put[1]  # boto3 sends one by default; moto echoes it
    got = pair.same(lambda c, b: c.get_object(Bucket=b, Key="a.json"), "plain", fast=True)
    assert got[2] == BODY
    head = pair.same(lambda c, b: c.head_object(Bucket=b, Key="a.json"), "plain", fast=True)
    assert head[1]["content-length"] == str(len(BODY))
    # an empty object, and what boto3 makes of the answers
    pair.same(lambda c, b: c.put_object(Bucket=b, Key="empty", Body=b""), "plain", fast=True)
    pair.same(lambda c, b: c.get_object(Bucket=b, Key="empty"), "plain", fast=True)
    fast_bucket, _ = pair.bucket("plain")
    parsed = pair.fast_client.get_object(Bucket=fast_bucket, Key="a.json")
    assert parsed["Body"].read() == BODY and parsed["ContentLength"] == len(BODY)


@pytest.mark.parametrize(
    "key", ["dir/sub/x.json", "a b+c%20ü ?x=1#y.txt", "trailing/", "x" * 300, "a//b"]
)
def test_awkward_keys(pair: _Pair, key: str) -> None:
    _create(pair, f"keys{len(key)}")
    bucket = f"keys{len(key)}"
    pair.same(lambda c, b: c.put_object(Bucket=b, Key=key, Body=b"k"), bucket, fast=True)
    got = pair.same(lambda c, b: c.get_object(Bucket=b, Key=key), bucket, fast=True)
    assert got[2] == b"k"
    fast_bucket, _ = pair.bucket(bucket)
    listed = pair.fast_client.list_objects_v2(Bucket=fast_bucket)["Contents"]
    assert [item["Key"] for item in listed] == [key]


def test_metadata_content_type_and_checksums(pair: _Pair) -> None:
    _create(pair, "meta")

    def put(client: Any, bucket: str) -> Any:
        return client.put_object(
            Bucket=bucket,
            Key="m.csv",
            Body=b"city\nPerth\n",
            ContentType="text/csv",
            Metadata={"my_key": "1", "Other-Name": "v", "UPPER": "x"},
            CacheControl="no-cache",
            ContentDisposition="attachment",
            ContentLanguage="en",
            ContentMD5=base64.b64encode(hashlib.md5(b"city\nPerth\n").digest()).decode(),
        )

    pair.same(put, "meta", fast=True)
    for mode in ({}, {"ChecksumMode": "ENABLED"}):
        got = pair.same(lambda c, b, m=mode: c.get_object(Bucket=b, Key="m.csv", **m), "meta", fast=True)  # fmt: skip
        assert got[1]["content-type"] == "text/csv"
        assert got[1]["x-amz-meta-my_key"] == "1"
        pair.same(lambda c, b, m=mode: c.head_object(Bucket=b, Key="m.csv", **m), "meta", fast=True)  # fmt: skip
    fast_bucket, _ = pair.bucket("meta")
    parsed = pair.fast_client.head_object(Bucket=fast_bucket, Key="m.csv")
    assert parsed["Metadata"] == {"my_key": "1", "other-name": "v", "upper": "x"}
    for algorithm in ("SHA1", "SHA256", "CRC32"):
        key = f"sum-{algorithm}"
        pair.same(
            lambda c, b, a=algorithm, k=key: c.put_object(
                Bucket=b, Key=k, Body=b"data", ChecksumAlgorithm=a
            ),
            "meta",
            fast=True,
        )
        got = pair.same(
            lambda c, b, k=key: c.get_object(Bucket=b, Key=k, ChecksumMode="ENABLED"),
            "meta",
            fast=True,
        )
        assert f"x-amz-checksum-{algorithm.lower()}" in got[1]


def test_errors_are_moto_s(pair: _Pair) -> None:
    _create(pair, "errors")
    missing = pair.same(lambda c, b: c.get_object(Bucket=b, Key="nothing"), "errors", fast=False)
    assert missing[0] == 404 and b"<Code>NoSuchKey</Code>" in missing[2]
    assert pair.same(lambda c, b: c.head_object(Bucket=b, Key="nothing"), "errors", fast=False)[0] == 404  # fmt: skip
    no_bucket = pair.same(
        lambda c, b: c.put_object(Bucket=b, Key="k", Body=b"x"), "never-made", fast=False
    )
    assert no_bucket[0] == 404 and b"<Code>NoSuchBucket</Code>" in no_bucket[2]
    pair.same(lambda c, b: c.get_object(Bucket=b, Key="k"), "never-made", fast=False)


def test_what_the_fast_path_leaves_to_moto(pair: _Pair) -> None:
    _create(pair, "others")
    pair.same(lambda c, b: c.put_object(Bucket=b, Key="k", Body=b"0123456789"), "others", fast=True)  # fmt: skip
    etag = f'"{hashlib.md5(b"0123456789").hexdigest()}"'
    left_to_moto: list[Callable[[Any, str], Any]] = [
        lambda c, b: c.get_object(Bucket=b, Key="k", Range="bytes=2-5"),
        lambda c, b: c.get_object(Bucket=b, Key="k", IfNoneMatch=etag),
        lambda c, b: c.get_object(Bucket=b, Key="k", IfMatch='"other"'),
        lambda c, b: c.head_object(Bucket=b, Key="k", IfNoneMatch=etag),
        lambda c, b: c.get_object(Bucket=b, Key="k", ResponseContentType="text/plain"),
        lambda c, b: c.get_object(Bucket=b, Key="k", PartNumber=1),
        lambda c, b: c.put_object(Bucket=b, Key="k", Body=b"new", IfNoneMatch="*"),
        lambda c, b: c.put_object(Bucket=b, Key="tagged", Body=b"t", Tagging="a=b"),
        lambda c, b: c.put_object(Bucket=b, Key="acl", Body=b"t", ACL="public-read"),
        lambda c, b: c.put_object(Bucket=b, Key="ia", Body=b"t", StorageClass="STANDARD_IA"),
        lambda c, b: c.put_object(Bucket=b, Key="cold", Body=b"t", StorageClass="GLACIER"),
        lambda c, b: c.put_object(Bucket=b, Key="sse", Body=b"t", ServerSideEncryption="AES256"),
        lambda c, b: c.put_object(Bucket=b, Key="web", Body=b"t", WebsiteRedirectLocation="/x"),
        lambda c, b: c.get_object_tagging(Bucket=b, Key="tagged"),
        lambda c, b: c.copy_object(Bucket=b, Key="copy", CopySource=f"{b}/k"),
    ]
    for call in left_to_moto:
        pair.same(call, "others", fast=False)
    # objects written by moto with what the fast path does not write, read by the fast path
    for key in ("tagged", "acl", "ia", "sse", "web", "copy"):
        pair.same(lambda c, b, k=key: c.get_object(Bucket=b, Key=k), "others", fast=True)
        pair.same(lambda c, b, k=key: c.head_object(Bucket=b, Key=k), "others", fast=True)
    # ... but not an archived one: moto says InvalidObjectState
    cold = pair.same(lambda c, b: c.get_object(Bucket=b, Key="cold"), "others", fast=False)
    assert cold[0] == 403


def test_versioned_and_encrypted_buckets(pair: _Pair) -> None:
    _create(pair, "versioned")
    for name in pair.bucket("versioned"):
        pair.fast_client.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Enabled"}
        )
    first = pair.same(lambda c, b: c.put_object(Bucket=b, Key="v", Body=b"1"), "versioned", fast=True)  # fmt: skip
    assert first[1]["x-amz-version-id"] == "<version>"
    pair.same(lambda c, b: c.put_object(Bucket=b, Key="v", Body=b"2"), "versioned", fast=True)
    got = pair.same(lambda c, b: c.get_object(Bucket=b, Key="v"), "versioned", fast=True)
    assert got[2] == b"2"
    pair.same(lambda c, b: c.head_object(Bucket=b, Key="v"), "versioned", fast=True)
    fast_bucket, _ = pair.bucket("versioned")
    versions = pair.fast_client.list_object_versions(Bucket=fast_bucket)["Versions"]
    assert len(versions) == 2
    oldest = next(v["VersionId"] for v in versions if not v["IsLatest"])
    assert (
        pair.fast_client.get_object(Bucket=fast_bucket, Key="v", VersionId=oldest)["Body"].read()
        == b"1"
    )
    # a delete marker on top: moto answers (404 with x-amz-delete-marker)
    pair.same(lambda c, b: c.delete_object(Bucket=b, Key="v"), "versioned", fast=False)
    pair.same(lambda c, b: c.get_object(Bucket=b, Key="v"), "versioned", fast=False)
    pair.same(lambda c, b: c.head_object(Bucket=b, Key="v"), "versioned", fast=False)

    _create(pair, "encrypted")
    for name in pair.bucket("encrypted"):
        pair.fast_client.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    put = pair.same(lambda c, b: c.put_object(Bucket=b, Key="e", Body=b"e"), "encrypted", fast=True)  # fmt: skip
    assert put[1]["x-amz-server-side-encryption"] == "AES256"
    pair.same(lambda c, b: c.get_object(Bucket=b, Key="e"), "encrypted", fast=True)


def test_a_bucket_with_a_policy_is_left_to_moto(pair: _Pair) -> None:
    import json

    _create(pair, "policy")
    for name in pair.bucket("policy"):
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{name}/secret/*",
                }
            ],
        }
        pair.fast_client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    pair.same(lambda c, b: c.put_object(Bucket=b, Key="secret/x", Body=b"s"), "policy", fast=False)  # fmt: skip
    denied = pair.same(lambda c, b: c.get_object(Bucket=b, Key="secret/x"), "policy", fast=False)
    assert denied[0] == 403


def test_an_unsigned_or_virtual_hosted_request_is_left_to_moto(pair: _Pair) -> None:
    import http.client

    _create(pair, "raw")
    fast_bucket, _ = pair.bucket("raw")
    pair.fast_client.put_object(Bucket=fast_bucket, Key="k", Body=b"raw")
    before = pair.fast.answered
    port = pair.fast_server.socket.getsockname()[1]
    connection = http.client.HTTPConnection("127.0.0.1", port)
    # no Authorization: moto checks the object's ACL (private: anonymous readers are denied)
    connection.request("GET", f"/{fast_bucket}/k")
    denied = connection.getresponse()
    denied.read()
    assert denied.status == 403
    signed = pair.fast_client.generate_presigned_url(
        "get_object", Params={"Bucket": fast_bucket, "Key": "k"}
    )
    connection.request("GET", signed.split(str(port), 1)[1])  # presigned: in the query
    assert connection.getresponse().read() == b"raw"
    # virtual-hosted style, which moto reads from the Host header
    connection.request(
        "GET",
        "/k",
        headers={
            "Host": f"{fast_bucket}.s3.amazonaws.com",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/s3/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    assert connection.getresponse().read() == b"raw"
    connection.close()
    assert pair.fast.answered == before


def test_in_process_clients_get_the_fast_path_s_answers(
    pair: _Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """InProcessS3 answers plain object requests with the same ``answer`` (no moto route
    taken), and what boto3 parses from them is what it parses over HTTP."""
    import sfnstack.embedded_s3 as embedded_s3
    from sfnstack.embedded_s3 import InProcessS3

    _create(pair, "inproc")
    fast_bucket, _ = pair.bucket("inproc")
    endpoint = "http://127.0.0.1:9"  # never connected to
    in_process = InProcessS3(endpoint)
    # a request moto would route raises
    monkeypatch.setattr(embedded_s3, "_moto_s3_routes", lambda: [])
    client = in_process.attach(s3_client(endpoint))
    responses = _Responses(client)
    put = client.put_object(
        Bucket=fast_bucket, Key="i/k.json", Body=BODY, ContentType="application/json",
        Metadata={"my_key": "1"},
    )  # fmt: skip
    in_process_put = _normalized(responses.last, fast_bucket)
    pair.fast_client.put_object(
        Bucket=fast_bucket, Key="i/k.json", Body=BODY, ContentType="application/json",
        Metadata={"my_key": "1"},
    )  # fmt: skip
    assert in_process_put == _normalized(pair.fast_responses.last, fast_bucket)
    for call in (
        lambda c: c.get_object(Bucket=fast_bucket, Key="i/k.json"),
        lambda c: c.head_object(Bucket=fast_bucket, Key="i/k.json", ChecksumMode="ENABLED"),
    ):
        parsed = call(client)
        in_process_response = _normalized(responses.last, fast_bucket)
        over_http = call(pair.fast_client)
        assert in_process_response == _normalized(pair.fast_responses.last, fast_bucket)
        for parsed_response in (parsed, over_http):
            parsed_response.pop("ResponseMetadata")
            parsed_response.pop("Body", None)
        assert parsed == over_http
    assert put["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    monkeypatch.undo()  # and the rest goes to moto's dispatch
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket=fast_bucket, Key="nothing")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
