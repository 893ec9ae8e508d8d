"""Plain PutObject, GetObject and HeadObject answered from moto's S3 backend directly.

moto's own dispatch of an S3 request (Flask's request and response, then ``S3Response``:
URL routing, body and query parsing, its authorization checks) costs 0.5-0.8 ms of a local
request on the 2-core development machine, against about 20 us for the backend call itself.
``ObjectFastPath`` wraps the WSGI app that serves S3 (moto's) and answers the three
requests a workload makes by the thousand (``answer``, which ``InProcessS3`` calls too,
with the WSGI environ of a boto3 request) with moto's backend and moto's own pieces
(``FakeKey.response_dict``, ``metadata_from_headers``, the backend's ``put_object``): the
same status, headers and body as moto's dispatch gives for them, which the differential
tests check request by request.

A request takes the fast path only when it has nothing moto would treat differently: a
path-style ``/bucket/key`` with no query but boto3's ``x-id``, SigV4-signed for S3, only
headers named in ``_PUT_HEADERS`` / ``_READ_HEADERS`` (no Range, no conditions, no ACL,
tagging, encryption, storage class, object lock, CORS origin, streaming payload), a bucket
without a policy, logging or object lock, and (reads) an existing object outside Glacier.
Everything else, errors included (NoSuchKey, NoSuchBucket), goes to the wrapped app."""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["FastResponse", "ObjectFastPath", "answer"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# Request headers (as WSGI keys) that the fast path handles; any other header sends the
# request to moto. Values that change what moto does are checked below.
_COMMON_HEADERS = frozenset(
    (
        "HTTP_HOST",
        "HTTP_AUTHORIZATION",
        "HTTP_X_AMZ_DATE",
        "HTTP_X_AMZ_CONTENT_SHA256",
        "HTTP_X_AMZ_SECURITY_TOKEN",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_AMZ_SDK_INVOCATION_ID",
        "HTTP_AMZ_SDK_REQUEST",
        "HTTP_CONNECTION",
        "HTTP_EXPECT",
        "CONTENT_LENGTH",
    )
)
_PUT_HEADERS = _COMMON_HEADERS | {
    "CONTENT_TYPE",
    "HTTP_CONTENT_MD5",
    "HTTP_CACHE_CONTROL",
    "HTTP_CONTENT_DISPOSITION",
    "HTTP_CONTENT_LANGUAGE",
    "HTTP_EXPIRES",
    "HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM",
    "HTTP_X_AMZ_CHECKSUM_CRC32",
    "HTTP_X_AMZ_CHECKSUM_CRC32C",
    "HTTP_X_AMZ_CHECKSUM_CRC64NVME",
    "HTTP_X_AMZ_CHECKSUM_SHA1",
    "HTTP_X_AMZ_CHECKSUM_SHA256",
}
_READ_HEADERS = _COMMON_HEADERS | {"CONTENT_TYPE", "HTTP_X_AMZ_CHECKSUM_MODE"}
# headers moto keeps as metadata (s3.utils.user_settable_fields) among those allowed
_METADATA_KEYS = frozenset(
    (
        "CONTENT_TYPE",
        "HTTP_CONTENT_MD5",
        "HTTP_CACHE_CONTROL",
        "HTTP_CONTENT_DISPOSITION",
        "HTTP_CONTENT_LANGUAGE",
        "HTTP_EXPIRES",
        "HTTP_X_AMZ_CONTENT_SHA256",
    )
)
_PRESERVED_NAMES_KEY = "moto.preserved_header_names"  # moto.core.request's
_CHECKSUM_ALGORITHMS = frozenset(("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"))
# a form body is read by moto from the form fields, not the body
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_PLAIN_QUERIES = frozenset(("", "x-id=PutObject", "x-id=GetObject", "x-id=HeadObject"))
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
# hosts moto reads path-style (S3Response.subdomain_based_buckets): localhost, an IPv4
# address, a name without a dot
_PATH_STYLE_HOST = re.compile(r"(localhost[^.]*|\d{1,3}(\.\d{1,3}){3}(:\d+)?|[^.\[\]]+)\Z")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/s3/aws4_request")
# moto's BaseResponse.access_key_regex: which access key signed the request
_ACCESS_KEY = re.compile(r"AWS.*(?P<access_key>(?<![A-Z0-9])[A-Z0-9]{20}(?![A-Z0-9]))[:/]")


class ObjectFastPath:
    """WSGI middleware: plain PutObject / GetObject / HeadObject from moto's backend
    (``answer``), every other request to ``app``. ``answered`` counts the requests it
    answered."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.answered = 0

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        response = answer(environ)
        if response is None:
            return self.app(environ, start_response)
        self.answered += 1
        status, headers, body = response
        start_response(status, headers)
        return [body]


FastResponse = tuple[str, list[tuple[str, str]], bytes]  # WSGI status, headers, body


def answer(environ: Environ) -> FastResponse | None:
    """The response moto's dispatch would give a plain PutObject / GetObject / HeadObject
    (the WSGI environ of one), or None for any other request."""
    from moto import settings

    if not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT):
        return None  # moto's IAM checks run in its dispatch only
    method = environ.get("REQUEST_METHOD")
    if method == "PUT":
        allowed = _PUT_HEADERS
    elif method in ("GET", "HEAD"):
        allowed = _READ_HEADERS
    else:
        return None
    if environ.get("QUERY_STRING", "") not in _PLAIN_QUERIES:
        return None
    for name in environ:
        if (
            (name.startswith("HTTP_") or name.startswith("CONTENT_"))
            and name not in allowed
            and not (method == "PUT" and name.startswith("HTTP_X_AMZ_META_"))
        ):
            return None
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None or environ.get("HTTP_X_AMZ_CONTENT_SHA256", "").startswith("STREAMING"):
        return None
    raw = environ.get("RAW_URI") or ""
    if not raw.startswith("/") or raw.startswith("//"):
        return None
    bucket_name, _, quoted_key = raw.split("?", 1)[0][1:].partition("/")
    if not quoted_key or not _BUCKET_NAME.fullmatch(bucket_name):
        return None
    if not _PATH_STYLE_HOST.match(environ.get("HTTP_HOST", "")):
        return None
    backend = _backend(environ, scope.group(1))
    bucket = backend.buckets.get(bucket_name)
    if bucket is None or bucket.policy is not None or bucket.logging or bucket.object_lock_enabled:
        return None
    key_name = unquote(quoted_key)
    if method == "PUT":
        return _put_object(backend, bucket, key_name, environ)
    return _read_object(bucket, key_name, environ, method == "HEAD")


def _backend(environ: Environ, region: str) -> Any:
    """moto's S3 backend for the request's account (as moto's dispatch finds it: the
    ``MOTO_ACCOUNT_ID`` variable, else the account of the signing access key)."""
    from moto.iam.models import get_account_id_from
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    account = os.environ.get("MOTO_ACCOUNT_ID")
    if account is None:
        match = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        account = get_account_id_from(match.group(1) if match else "AKIAEXAMPLE")
    return s3_backends[account][get_partition(region)]


def _metadata_headers(environ: Environ) -> dict[str, str]:
    """The request headers that can become an object's metadata, named as moto's dispatch
    sees them (werkzeug's ``EnvironHeaders``: ``HTTP_CONTENT_MD5`` is ``Content-Md5``;
    metadata names with ``_`` as the client sent them), in the environ's order."""
    preserved = environ.get(_PRESERVED_NAMES_KEY) or {}
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if (key.startswith("HTTP_X_AMZ_META_") or key in _METADATA_KEYS) and (
            value or key != "CONTENT_TYPE"  # werkzeug leaves out an empty Content-Type
        ):
            name = key[5:] if key.startswith("HTTP_") else key
            headers[preserved.get(key) or name.replace("_", "-").title()] = value
    return headers


def _response(status: str, headers: dict[str, Any], body: bytes) -> FastResponse:
    """What moto's dispatch adds to every S3 response (``_send_response`` and the Flask
    response it becomes), around the headers of the operation."""
    from moto.core.mime_types import APP_XML

    headers = {"server": "amazon.com", **headers}
    # a request id as moto's (gen_amzn_requestid_long: 52 characters); its value means nothing
    headers["x-amzn-requestid"] = secrets.token_hex(26)
    if body and "content-type" not in (name.lower() for name in headers):
        headers["content-type"] = APP_XML
    pairs = [(str(name), str(value)) for name, value in headers.items()]
    pairs.append(("Access-Control-Allow-Origin", "*"))  # moto's app runs flask-cors
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "text/html; charset=utf-8"))  # Flask's default
    if not any(name.lower() == "content-length" for name, _ in pairs):
        pairs.append(("Content-Length", str(len(body))))
    return status, pairs, body


def _put_object(backend: Any, bucket: Any, key_name: str, environ: Environ) -> FastResponse | None:
    """moto's ``S3Response.put_object`` for a request without ACL, tagging, encryption,
    storage class, object lock, conditions or website redirect."""
    from moto.s3.utils import compute_checksum, metadata_from_headers

    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith(_FORM_TYPES):
        return None
    algorithm = environ.get("HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM", "")
    if algorithm and algorithm.upper() not in _CHECKSUM_ALGORITHMS:
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    response_headers: dict[str, Any] = {}
    checksum_value = None
    if algorithm:
        checksum_header = f"x-amz-checksum-{algorithm.lower()}"
        checksum_value = environ.get("HTTP_" + checksum_header.upper().replace("-", "_"))
        if not checksum_value:
            computed = compute_checksum(body, algorithm=algorithm)
            checksum_value = computed.decode("utf-8") if isinstance(computed, bytes) else computed
        response_headers[checksum_header] = checksum_value
    new_key = backend.put_object(
        bucket.name,
        key_name,
        body,
        storage="STANDARD",
        encryption=None,
        kms_key_id=None,
        bucket_key_enabled=None,
        lock_mode=None,
        lock_legal_status=None,
        lock_until=None,
        checksum_value=checksum_value,
    )
    new_key.set_metadata(metadata_from_headers(_metadata_headers(environ)))
    new_key.set_acl(bucket.acl)
    new_key.website_redirect_location = None
    if algorithm:
        new_key.checksum_algorithm = algorithm
    backend.put_object_tagging(new_key, {})
    response_headers.update(new_key.response_dict)
    response_headers.pop("content-length", None)  # the response has no body
    # A request header, not sent back (S3 does not; moto 5.2.6 stopped doing so too).
    response_headers.pop("x-amz-sdk-checksum-algorithm", None)
    return _response("200 OK", response_headers, b"")


def _read_object(bucket: Any, key_name: str, environ: Environ, head: bool) -> FastResponse | None:
    """moto's ``S3Response.get_object`` / ``head_object`` for the current version of an
    object that exists, without conditions, Range, part number or header overrides."""
    from moto.s3.models import FakeKey
    from moto.s3.utils import ARCHIVE_STORAGE_CLASSES

    key = bucket.keys.get(key_name)
    if not isinstance(key, FakeKey):  # missing, or a delete marker: moto's error
        return None
    if key.storage_class in ARCHIVE_STORAGE_CLASSES or key._expiry is not None:
        return None  # a restore's state changes as moto reads the key
    checksum_mode = environ.get("HTTP_X_AMZ_CHECKSUM_MODE") == "ENABLED"
    headers: dict[str, Any] = {}
    if head:
        headers.update(key.metadata)
        headers.update(key.response_dict)
        headers["Accept-Ranges"] = "bytes"
        if checksum_mode and key.checksum_algorithm:
            headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = key.checksum_value
        return _response("200 OK", headers, b"")
    if key.version_id != "null":
        headers["x-amz-version-id"] = key.version_id
    headers.update(key.response_dict)
    if checksum_mode and key.checksum_algorithm:
        checksum = key.checksum_value
        if key.checksum_type == "COMPOSITE":
            checksum = f"{key.checksum_value}-{key.checksum_parts}"
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = checksum
        if key.checksum_type:
            headers["x-amz-checksum-type"] = key.checksum_type
    headers.update(key.metadata)
    headers["Accept-Ranges"] = "bytes"
    return _response("200 OK", headers, key.value)
