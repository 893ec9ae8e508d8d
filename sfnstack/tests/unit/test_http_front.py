"""HttpFront: the WSGI environ it builds, how it frames requests and responses, keep-alive,
and that stopping it closes the connections it has open."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from sfnstack.http_front import HttpFront


def _echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers with what it was given: the environ's text values and the body."""
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("the app failed")
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if isinstance(v, str | dict)}
    seen["body"] = body.decode("latin-1")
    payload = json.dumps(seen).encode()
    headers = [("Content-Type", "application/json")]
    if environ["PATH_INFO"] != "/no-length":
        headers.append(("Content-Length", str(len(payload))))
    start_response("200 OK", headers)
    return [payload]


@pytest.fixture
def front() -> Iterator[HttpFront]:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    server = HttpFront(listening, _echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _port(front: HttpFront) -> int:
    return int(front.socket.getsockname()[1])


def _raw(front: HttpFront, data: bytes) -> bytes:
    """Send ``data``, read until the server closes."""
    with socket.create_connection(("127.0.0.1", _port(front))) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_environ_and_keep_alive(front: HttpFront) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", _port(front))
    connection.request(
        "PUT",
        "/bucket/a%20b%2Fc%C3%BC?x-id=PutObject&z=1",
        body=b"payload",
        headers={"X-Amz-Meta-My_Key": "1", "X_Forwarded": "dropped", "X-Twice": "a"},
    )
    response = connection.getresponse()
    seen = json.loads(response.read())
    assert response.status == 200 and response.getheader("Date")
    assert seen["REQUEST_METHOD"] == "PUT"
    assert seen["PATH_INFO"] == "/bucket/a b/cü".encode().decode("latin-1")  # WSGI's latin-1
    assert seen["RAW_URI"] == seen["REQUEST_URI"] == "/bucket/a%20b%2Fc%C3%BC?x-id=PutObject&z=1"
    assert seen["QUERY_STRING"] == "x-id=PutObject&z=1"
    assert seen["CONTENT_LENGTH"] == "7" and seen["body"] == "payload"
    assert seen["HTTP_HOST"] == f"127.0.0.1:{_port(front)}"
    # metadata names keep their "_" (as moto's server keeps them); other "_" names are dropped
    assert seen["HTTP_X_AMZ_META_MY_KEY"] == "1"
    assert seen["moto.preserved_header_names"] == {"HTTP_X_AMZ_META_MY_KEY": "X-Amz-Meta-My_Key"}
    assert "HTTP_X_FORWARDED" not in seen
    # the same connection serves the next request
    sock = connection.sock
    connection.request("GET", "/second")
    second = connection.getresponse()
    assert json.loads(second.read())["PATH_INFO"] == "/second"
    assert connection.sock is sock
    connection.close()


def test_chunked_body_expect_continue_and_framing(front: HttpFront) -> None:
    chunked = _raw(
        front,
        b"PUT /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: t\r\n\r\n",
    )
    head, _, body = chunked.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in head
    assert json.loads(body)["body"] == "wikipedia"

    with socket.create_connection(("127.0.0.1", _port(front))) as connection:
        connection.sendall(
            b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        assert connection.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body
        connection.sendall(b"abc")
        reader = connection.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 200")

    # no Content-Length from the app: the server counts; HEAD: headers only
    no_length = _raw(front, b"GET /no-length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = no_length.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    head_only = _raw(front, b"HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head_only.endswith(b"\r\n\r\n") and b"Content-Length:" in head_only

    http10 = _raw(front, b"GET /old HTTP/1.0\r\n\r\n")  # HTTP/1.0 closes unless asked not to
    assert b"Connection: close" in http10


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"431"),
        (b"GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"500"),
    ],
)
def test_bad_requests_and_failing_apps(
    front: HttpFront, request_bytes: bytes, status: bytes
) -> None:
    assert _raw(front, request_bytes).startswith(b"HTTP/1.1 " + status)


def test_shutdown_closes_open_connections() -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    server = HttpFront(listening, _echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = http.client.HTTPConnection("127.0.0.1", listening.getsockname()[1])
    connection.request("GET", "/before")
    connection.getresponse().read()
    server.shutdown()
    server.server_close()
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("GET", "/after")  # the kept-alive connection is gone too
        connection.getresponse().read()
    with pytest.raises(OSError):
        socket.create_connection(listening.getsockname(), timeout=2)


def test_the_environ_is_what_a_wsgi_app_reads() -> None:
    """A WSGI framework's own request object reads it (werkzeug's, which moto's Flask app
    uses): headers, query, body."""
    from werkzeug.wrappers import Request

    captured: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = Request(environ)
        captured.update(
            method=request.method,
            path=request.path,
            args=dict(request.args),
            data=request.get_data(),
            content_type=request.headers.get("Content-Type"),
            url=request.url,
        )
        start_response("204 No Content", [])
        return []

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    server = HttpFront(listening, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = listening.getsockname()[1]
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("POST", "/p/q?a=1&b=", body=io.BytesIO(b"xyz").read(),
                           headers={"Content-Type": "text/plain"})  # fmt: skip
        response = connection.getresponse()
        assert response.status == 204 and response.read() == b""
        assert response.getheader("Content-Length") is None  # a 204 has no body to count
    finally:
        server.shutdown()
        server.server_close()
    assert captured == {
        "method": "POST",
        "path": "/p/q",
        "args": {"a": "1", "b": ""},
        "data": b"xyz",
        "content_type": "text/plain",
        "url": f"http://127.0.0.1:{port}/p/q?a=1&b=",
    }


def test_shutdown_before_serving_does_not_wait() -> None:
    import time

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    server = HttpFront(listening, _echo)
    started = time.perf_counter()
    server.shutdown()
    server.serve_forever()  # returns at once: it was stopped
    server.server_close()
    assert time.perf_counter() - started < 1


def test_serving_after_the_server_was_closed_returns_at_once() -> None:
    """An embedded S3 endpoint closed while it was starting has its server shut down and
    closed before its thread calls ``serve_forever``: that call returns, it does not fail
    on the closed socket."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    server = HttpFront(listening, _echo)
    server.shutdown()
    server.server_close()
    server.serve_forever()  # no ValueError (a closed socket's descriptor is -1)
