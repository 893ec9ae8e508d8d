"""The embedded S3 endpoint: moto's server app on 127.0.0.1 (a free port), or an endpoint
that is already running (``sfnstack serve`` provides one). State machines' ItemReader and
ResultWriter and the handlers (through ``AWS_ENDPOINT_URL`` in their environment) all use
the same endpoint, so what a handler writes an ItemReader can read.

Handlers, in other processes, reach the endpoint over HTTP through ``AWS_ENDPOINT_URL``, as
they would reach S3 on AWS: ``HttpFront`` (keep-alive, no werkzeug server) in front of
moto's app, with plain PutObject / GetObject / HeadObject answered by ``ObjectFastPath``
from moto's backend. boto3 itself costs 1.3-1.8 ms for such a request on the 2-core
development machine; the endpoint adds well under a millisecond to that, where moto's own
server (werkzeug, then moto's Flask app) added 3-8 ms (benchmarks/serve_bench.py).

The runtime's own clients of an embedded endpoint (``LocalS3.client()``: the ItemReader,
the ResultWriter, what a caller reads back) are boto3 clients whose requests never reach a
socket: ``InProcessS3`` answers them in this process with moto's own request dispatch
(what moto's ``mock_aws`` uses), against the same moto backend the server serves.

Start-up: the endpoint's thread imports moto, puts the buckets it was given into moto's
store directly (``_make_buckets``) and serves; moto's own dispatch, which a few requests of
a run need (a conditional put, a listing), is warmed by one uncounted ListBuckets in a
thread of its own once the endpoint serves (``_warm_dispatch``), not before it."""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from sfnstack.http_front import HttpFront, wsgi_environ
from sfnstack.s3_fast_path import ObjectFastPath, answer

FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
S3_REGION = "us-east-1"


def s3_client(endpoint_url: str, region: str = S3_REGION) -> Any:
    """A boto3 S3 client for a local endpoint: fake credentials, path-style addressing."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        **FAKE_CREDENTIALS,
    )


def s3_operation(method: str, path: str, query: str, copy_source: bool) -> str:
    """The S3 API operation a path-style request is (``PutObject``, ``ListObjectsV2``,
    ``DeleteObjects``, ...), from its method, path and query, as S3 names them in its
    request metrics and bills; ``copy_source``: it carries ``x-amz-copy-source``."""
    params = parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    if not parts[0]:
        return "ListBuckets" if method == "GET" else f"{method}Service"
    if not has_key:  # the bucket itself
        if method == "GET":
            if not params or set(params) <= {"prefix", "delimiter", "marker", "max-keys",
                                              "encoding-type", "list-type", "continuation-token",
                                              "start-after", "fetch-owner"}:  # fmt: skip
                return "ListObjectsV2" if params.get("list-type") == ["2"] else "ListObjects"
            return "GetBucket" + next(iter(params)).title().replace("-", "")
        if method == "POST" and "delete" in params:
            return "DeleteObjects"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
            method, f"{method}Bucket"
        )
    if method == "PUT":
        if "partNumber" in params:
            return "UploadPartCopy" if copy_source else "UploadPart"
        return "CopyObject" if copy_source else "PutObject"
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload"
        if "uploadId" in params:
            return "CompleteMultipartUpload"
        return "PostObject"
    if method == "GET":
        return "ListParts" if "uploadId" in params else "GetObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in params else "DeleteObject"
    return {"HEAD": "HeadObject"}.get(method, f"{method}Object")


class S3Request(NamedTuple):
    """What ``RequestCounter`` counts by: the operation, the bucket and the key's folder
    (the key up to its last ``/``; ``""`` for a key at the top or a bucket request)."""

    operation: str
    bucket: str
    folder: str


class RequestCounter:
    """WSGI middleware counting the S3 requests an endpoint serves (by ``S3Request``) and
    the bytes they carried in: what a run asked of S3, for tools that account for it.
    Path-style requests only (the embedded endpoint is an IP address, which clients always
    address path-style)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.requests: collections.Counter[S3Request] = collections.Counter()
        self.bytes_in = 0

    @property
    def operations(self) -> collections.Counter[str]:
        """Counts by operation name alone."""
        counts: collections.Counter[str] = collections.Counter()
        for request, count in self.snapshot().items():
            counts[request.operation] += count
        return counts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.count(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "/"),
            environ.get("QUERY_STRING", ""),
            "HTTP_X_AMZ_COPY_SOURCE" in environ,
            int(environ.get("CONTENT_LENGTH") or 0),
        )
        return self._app(environ, start_response)

    def count(self, method: str, path: str, query: str, copy_source: bool, size: int) -> None:
        """Counts one request (``path`` percent-decoded, as WSGI's ``PATH_INFO``)."""
        operation = s3_operation(method, path, query, copy_source)
        bucket, _, key = path.lstrip("/").partition("/")
        request = S3Request(operation, bucket, key.rpartition("/")[0] + "/" if "/" in key else "")
        with self._lock:
            self.requests[request] += 1
            self.bytes_in += size

    def snapshot(self) -> collections.Counter[S3Request]:
        with self._lock:
            return collections.Counter(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_in = 0


def _s3_server(
    listening: socket.socket, counter: RequestCounter | None = None
) -> tuple[HttpFront, Any]:
    """moto's server app (what ``ThreadedMotoServer`` runs, every service moto has) behind
    ``HttpFront`` on an already listening socket, with plain object reads and writes
    answered by ``ObjectFastPath``; ``counter`` wraps the app. Also returns moto's app."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    app: Any = ObjectFastPath(dispatcher)
    if counter is not None:
        counter._app = app
        app = counter
    return HttpFront(listening, app), dispatcher


class InProcessS3:
    """A boto3 ``before-send`` handler that answers a client's S3 requests to ``endpoint_url``
    with moto's S3 backend in this process: plain object reads and writes as the server's
    ``ObjectFastPath`` answers them, the rest through moto's own dispatch (the URL patterns
    and response classes ``mock_aws`` uses), so a request costs no socket, no HTTP server
    thread and no Flask app. What boto3 sends and parses is unchanged (the same signed
    request, the same XML back, the same ``ClientError``s). ``counter`` counts each request
    as the server's ``RequestCounter`` does. A request for any other URL raises: this client
    never goes anywhere else."""

    # moto's S3 URL patterns are written for AWS's host names; path-style requests to the
    # local endpoint are matched as if sent to this one.
    _AWS_BASE = "https://s3.amazonaws.com"

    def __init__(self, endpoint_url: str, counter: RequestCounter | None = None) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.counter = counter
        self.closed = False  # set when the endpoint closes: requests fail as a socket would

    def attach(self, client: Any) -> Any:
        client.meta.events.register_first("before-send.s3", self)
        return client

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse
        from moto.core.exceptions import HTTPException
        from moto.core.request import normalize_request

        url = request.url
        if self.closed:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=url)
        if not url.startswith(self.endpoint_url + "/"):
            raise RuntimeError(f"an in-process S3 client was asked for {url}")
        parts = urlsplit(url)
        if self.counter is not None:
            body = request.body
            size = len(body) if isinstance(body, bytes | bytearray) else 0
            if not isinstance(body, bytes | bytearray) and hasattr(body, "seek"):
                size = int(request.headers.get("Content-Length") or 0)
            self.counter.count(
                request.method,
                unquote(parts.path),
                parts.query,
                "x-amz-copy-source" in request.headers,
                size,
            )
        fast = self._fast_answer(request, parts)
        if fast is not None:
            return fast
        request.url = self._AWS_BASE + url[len(self.endpoint_url) :]
        clean = self._AWS_BASE + parts.path
        for pattern, handler in _moto_s3_routes():
            if pattern.match(clean):
                normalized = normalize_request(request)
                response: tuple[Any, Any, Any]
                try:
                    response = handler(normalized, normalized.raw_url, normalized.headers)
                except HTTPException as exc:
                    response = exc.code, exc.get_headers(), exc.get_body()
                status, headers, body = response
                return AWSResponse(url, status, headers, MockRawResponse(body))
        raise RuntimeError(f"moto has no S3 route for {url}")

    def _fast_answer(self, request: Any, parts: SplitResult) -> Any | None:
        """``s3_fast_path.answer``'s response to the request, if it answers it."""
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        body = _body_bytes(request.body)
        if body is None:
            return None
        headers = [(name, _text(value)) for name, value in request.headers.items()]
        if "Host" not in request.headers:  # urllib3 would add it
            headers.append(("Host", parts.netloc))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        server = (parts.hostname or "127.0.0.1", str(parts.port or 80))
        answered = answer(wsgi_environ(request.method, target, headers, body, server=server))
        if answered is None:
            return None
        status, response_headers, content = answered
        return AWSResponse(
            request.url,
            int(status.split(" ", 1)[0]),
            dict(response_headers),
            MockRawResponse(content),
        )


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _body_bytes(body: Any) -> bytes | None:
    """A botocore request's body as bytes (a seekable stream is read and put back where it
    was), or None for a body that is neither (a chunked or unseekable stream)."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if hasattr(body, "read") and hasattr(body, "seek") and hasattr(body, "tell"):
        position = body.tell()
        data = body.read()
        body.seek(position)
        return data if isinstance(data, bytes) else None
    return None


class _SharedStore:
    """moto keeps one S3 store per process, which every embedded endpoint serves. Endpoints
    open at the same time share it; one that starts serving after every earlier one closed
    (a new ``LocalRuntime`` after an earlier one in the same process) finds it emptied
    first, as a new stack's buckets are. Without that, a later runtime saw an earlier one's
    objects: a cache the handlers keep in a bucket answered a run that should have started
    cold (fault_bench's fresh runtime per profile)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._open = 0  # embedded endpoints opened and not yet closed
        self._left_by_closed = False  # the endpoints that used the store have all closed

    def opened(self) -> None:
        with self.lock:
            self._open += 1

    def closed(self) -> None:
        """Once per opened endpoint (``LocalS3.close`` closes its socket once)."""
        with self.lock:
            self._open -= 1
            if not self._open:
                self._left_by_closed = True

    def empty_if_left(self) -> None:
        """Called with ``lock`` held, before an endpoint's first request (moto imported)."""
        if not self._left_by_closed:
            return
        from moto.s3.models import s3_backends

        for by_partition in list(s3_backends.values()):
            for backend in list(by_partition.values()):
                backend.reset()
        self._left_by_closed = False


_STORE = _SharedStore()


def _store_backend() -> Any:
    """moto's S3 backend (in this process) of the account the embedded endpoint's own
    clients use: the ``MOTO_ACCOUNT_ID`` variable, else the fake access key's, as moto's
    dispatch finds it for their requests."""
    from moto.iam.models import get_account_id_from
    from moto.s3.models import s3_backends

    account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(
        FAKE_CREDENTIALS["aws_access_key_id"]
    )
    return s3_backends[account]["aws"]


def _make_buckets(names: Iterable[str]) -> None:
    """The buckets that do not exist yet, made in moto's store with the call its
    CreateBucket answer makes (no ACL, ownership or object lock given), the way a stack's
    buckets exist before its workload runs: a CreateBucket and a ListBuckets through moto's
    dispatch were its first requests, 0.1 s of a run's start before the endpoint served.
    A name moto refuses, or one another account owns, raises moto's error; one made
    meanwhile by another caller is there, as CreateBucket in us-east-1 answers it."""
    from moto.s3.exceptions import BucketAlreadyExists

    backend = _store_backend()
    for name in names:
        if name in backend.buckets:
            continue
        try:
            backend.create_bucket(name, S3_REGION)
        except BucketAlreadyExists:
            if name not in backend.buckets:  # another account's
                raise


def _warm_dispatch(dispatcher: Any, endpoint: tuple[str, str]) -> None:
    """One ListBuckets given to ``dispatcher`` (the server's moto app, past its fast path
    and its request counter): moto's first dispatched request builds its S3 app and loads
    what its responses need (response classes, the S3 service model its serializer reads),
    0.06-0.1 s that the first request answered by moto's dispatch (a conditional put, a
    listing; over HTTP or in process) would otherwise wait for. Reads only; counts
    nothing."""
    host, port = endpoint
    environ = wsgi_environ("GET", "/", [("Host", f"{host}:{port}")], b"", server=endpoint)
    for _ in dispatcher(environ, lambda status, headers, exc_info=None: None):
        pass
    _moto_s3_routes()


@functools.cache
def _moto_s3_routes() -> list[tuple[re.Pattern[str], Callable[..., Any]]]:
    """moto's S3 URL patterns (the same for every account's backend), compiled once."""
    return [(re.compile(url), handler) for url, handler in _store_backend().urls.items()]


def _create_missing(client: Any, names: list[str]) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name in names:
        if name not in existing:
            client.create_bucket(Bucket=name)


class LocalS3:
    """``LocalS3()`` starts moto's S3 server in this process on a free port of 127.0.0.1;
    ``LocalS3(endpoint_url)`` uses an existing endpoint. ``create_buckets`` makes buckets
    (idempotent).

    The listening socket is opened at once, so ``endpoint_url`` is known immediately, and
    moto (a second of imports) starts in a background thread; requests made meanwhile wait
    in the socket's backlog. ``wait_ready()`` blocks until it serves. With
    ``background=False`` the constructor waits. ``buckets``: made before the endpoint
    serves its first request (on an existing endpoint: by the constructor), so a client
    given ``endpoint_url`` at once never finds them missing.

    moto keeps one store per process: embedded endpoints open at the same time see the same
    buckets; one started after all the others closed starts with an empty store
    (``_SharedStore``).

    ``requests`` (embedded endpoints only) counts the S3 operations it served, from every
    client: the handlers, the state machines' ItemReader / ResultWriter, the caller."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        background: bool = False,
        buckets: Iterable[str] = (),
    ) -> None:
        self._server: Any | None = None
        self._lock = threading.Lock()
        self._client: Any | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._ready = threading.Event()
        self._warmed = threading.Event()
        self._error: BaseException | None = None
        self._closing = False
        self.requests: RequestCounter | None = None
        self._in_process: InProcessS3 | None = None
        self._in_process_lock = threading.Lock()
        self._buckets = list(buckets)
        if endpoint_url is None:
            self.requests = RequestCounter(lambda environ, start_response: [])
            listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listening.bind(("127.0.0.1", 0))
            listening.listen(128)
            self._socket = listening
            _STORE.opened()  # closed() when close() closes this socket
            host, port = listening.getsockname()[:2]
            self.endpoint_url: str = f"http://{host}:{port}"
            self._thread = threading.Thread(
                target=self._serve, name="sfnstack-local-s3", daemon=True
            )
            self._thread.start()
            if not background:
                self.wait_ready()
        else:
            self.endpoint_url = endpoint_url.rstrip("/")
            self._ready.set()
            self._warmed.set()  # not ours to warm
            self.create_buckets(self._buckets)

    def _serve(self) -> None:
        try:
            import moto.server  # noqa: F401 - the slow part, outside the lock

            with self._lock:
                if self._closing or self._socket is None:
                    self._warmed.set()
                    return
                server, dispatcher = _s3_server(self._socket, self.requests)
                self._server = server
            with _STORE.lock:  # emptied (if left by closed endpoints) before any bucket is made
                _STORE.empty_if_left()
                _make_buckets(self._buckets)  # nothing is accepted from the socket yet
        except BaseException as exc:
            self._error = exc
            self._warmed.set()
            return
        finally:
            self._ready.set()
        warm = threading.Thread(
            target=self._warm,
            args=(dispatcher, server),
            name="sfnstack-local-s3-warm",
            daemon=True,
        )
        warm.start()
        server.serve_forever()  # at once returns if close() came first

    def _warm(self, dispatcher: Any, server: HttpFront) -> None:
        """``_warm_dispatch`` on this endpoint's moto app, behind its start. It is only a
        warm-up: a failure leaves the requests to pay for it, and is not theirs."""
        try:
            with contextlib.suppress(Exception):
                _warm_dispatch(dispatcher, (server.server_name, server.server_port))
        finally:
            self._warmed.set()

    def wait_warm(self, timeout: float = 120) -> bool:
        """Whether the endpoint has started and moto's dispatch is warmed (tests,
        benchmarks); the endpoint serves before that."""
        self.wait_ready(timeout)
        return self._warmed.wait(timeout)

    def wait_ready(self, timeout: float = 120) -> None:
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the local S3 endpoint did not start in {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the local S3 endpoint failed to start: {self._error!r}")

    @property
    def embedded(self) -> bool:
        return self._socket is not None

    def client(self) -> Any:
        """A new boto3 client (clients are thread-safe; make one per thread if you like).
        For an embedded endpoint its requests are answered in this process (``InProcessS3``),
        once the server is ready (moto is imported then)."""
        client = s3_client(self.endpoint_url)
        if self.embedded:
            self.wait_ready()
            self._answer_in_process(client)
        return client

    def _answer_in_process(self, client: Any) -> None:
        with self._in_process_lock:  # not self._lock: shared_client() holds that
            if self._in_process is None:
                self._in_process = InProcessS3(self.endpoint_url, self.requests)
        self._in_process.attach(client)

    def shared_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self.client()
            return self._client

    def read_object(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag (quoted, as S3 sends it), straight from the store of
        this embedded endpoint (the account its own clients use), or None when there is no
        such object: the runtime's own read of what the handlers wrote, without a request
        (not counted in ``requests``)."""
        found = self._stored_object(bucket, key, "read_object")
        return None if found is None else (found.value, found.etag)

    def object_etag(self, bucket: str, key: str) -> str | None:
        """The object's ETag (quoted), or None when there is no such object: as
        ``read_object``, without copying its bytes."""
        found = self._stored_object(bucket, key, "object_etag")
        return None if found is None else str(found.etag)

    def _stored_object(self, bucket: str, key: str, caller: str) -> Any:
        """moto's ``FakeKey`` for the object in this embedded endpoint's store, or None."""
        if not self.embedded:
            raise RuntimeError(f"{caller} needs an embedded endpoint (this process's store)")
        from moto.s3.models import FakeKey

        self.wait_ready()  # moto's store is in use once the server is
        stored = _store_backend().buckets.get(bucket)
        found = stored.keys.get(key) if stored is not None else None
        if not isinstance(found, FakeKey):  # missing, or a delete marker
            return None
        return found

    def create_buckets(self, names: Iterable[str]) -> None:
        """Makes the buckets that do not exist yet: in this process's store when the
        endpoint is embedded, with CreateBucket requests when it is given by URL."""
        names = list(names)
        if not names:
            return
        self.wait_ready()
        if self.embedded:
            _make_buckets(names)
        else:
            _create_missing(self.shared_client(), names)

    def close(self) -> None:
        """Stop a server this object started (not one it was only given the URL of). A
        server still starting is abandoned: its thread sees ``closing`` and never serves."""
        with self._in_process_lock:
            if self._in_process is not None:
                self._in_process.closed = True
        with self._lock:
            self._closing = True
            server, self._server = self._server, None
            listening, self._socket = self._socket, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        if listening is not None:
            listening.close()
            _STORE.closed()

    def __enter__(self) -> LocalS3:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
