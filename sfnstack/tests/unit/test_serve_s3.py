"""How the S3 endpoint reads bucket and key from a request, and which service a signed
request is for."""

from pathlib import Path

import pytest
from sfnstack.serve.persistent_s3 import S3Endpoint, _keys_in_delete_request
from sfnstack.serve.server import _signed_service
from sfnstack.serve.store import DataDir


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
