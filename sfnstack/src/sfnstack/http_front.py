"""A small threaded HTTP/1.1 server for WSGI apps: the front of the local endpoints.

werkzeug's development server (what moto's server runs) costs about a millisecond of a
local S3 request on the 2-core development machine: ``http.server`` parses every header
block with the ``email`` package, and werkzeug builds its request and response objects
around the app. This server reads a request line and headers by hand, reads the whole
body (``Content-Length`` or ``Transfer-Encoding: chunked``, after a ``100 Continue`` when
the client expects one), calls the app with a WSGI environ like werkzeug's (header names
with ``_`` are dropped, except S3 metadata headers, whose spelling is kept as moto's
server keeps it), and writes the response with one ``sendall``. Connections stay open
(HTTP/1.1 keep-alive), one thread each: boto3 keeps a pool of them per client, so a
thread is started per connection, not per request.

``HttpFront(listening_socket, app)``, then ``serve_forever()`` in a thread; ``shutdown()``
stops accepting, and closes the open connections, so a client's next request fails as it
would against a stopped server; ``server_close()`` closes the listening socket."""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_to_bytes

log = logging.getLogger("sfnstack.http_front")

__all__ = ["HttpFront", "wsgi_environ"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_MAX_LINE = 65536  # request line or one header line
_MAX_HEADERS = 200
# moto's server keeps the spelling of these (S3 metadata names may contain "_")
_PRESERVED_NAMES_KEY = "moto.preserved_header_names"
_NO_BODY_STATUSES = frozenset((204, 304))
_REASONS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Date:
    """The ``Date`` header's value, formatted once a second."""

    def __init__(self) -> None:
        self._second = 0
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._text = formatdate(second, usegmt=True)
            self._second = second
        return self._text


class HttpFront:
    def __init__(self, listening: socket.socket, app: WsgiApp) -> None:
        self.socket = listening
        self.app = app
        host, port = listening.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = str(port)
        self._date = _Date()
        self._stopping = False
        self._serving = False
        self._stopped = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def serve_forever(self) -> None:
        """Serves until ``shutdown``; returns at once when that came first (the sockets may
        be closed by then)."""
        self._serving = True
        selector = selectors.DefaultSelector()
        try:
            try:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
            except (OSError, ValueError):  # ValueError: a closed socket's descriptor, -1
                if self._stopping:
                    return
                raise
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_reader or self._stopping:
                        return
                    try:
                        connection, address = self.socket.accept()
                    except BlockingIOError:
                        continue
                    except OSError:
                        if self._stopping:
                            return
                        raise
                    self._start_connection(connection, address)
        finally:
            selector.close()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop accepting (waits for ``serve_forever`` to return, if it runs) and close the
        connections that are open."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._serving:  # (one that starts from now on returns at once)
            self._stopped.wait(5)
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._stopping = True
        self.socket.close()
        self._wake_reader.close()
        self._wake_writer.close()

    # ------------------------------------------------------------------ connections
    def _start_connection(self, connection: socket.socket, address: Any) -> None:
        connection.setblocking(True)
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(connection)
        thread = threading.Thread(
            target=self._serve_connection,
            args=(connection, address),
            name="sfnstack-http-connection",
            daemon=True,
        )
        thread.start()

    def _serve_connection(self, connection: socket.socket, address: Any) -> None:
        reader = connection.makefile("rb", buffering=65536)
        try:
            while not self._stopping:
                try:
                    if not self._serve_one(connection, reader, address):
                        break
                except _BadRequest as exc:
                    self._send_error(connection, exc.status, str(exc))
                    break
        except (ConnectionError, OSError):
            pass  # the client went away
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            reader.close()
            with contextlib.suppress(OSError):
                connection.close()

    def _serve_one(self, connection: socket.socket, reader: Any, address: Any) -> bool:
        """Read and answer one request; False when the connection is to close."""
        line = reader.readline(_MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):  # stray line breaks between requests
            line = reader.readline(_MAX_LINE + 1)
        if not line:
            return False
        if len(line) > _MAX_LINE:
            raise _BadRequest(431, "request line too long")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        headers = _read_headers(reader)
        lowered = {name.lower(): value for name, value in headers}
        keep_alive = _keeps_alive(version, lowered.get("connection", ""))
        if "chunked" in lowered.get("transfer-encoding", "").lower():
            body = _read_chunked(reader)
        else:
            try:
                length = int(lowered.get("content-length") or 0)
            except ValueError:
                raise _BadRequest(400, "malformed Content-Length") from None
            if length < 0:
                raise _BadRequest(400, "malformed Content-Length")
            if length and lowered.get("expect", "").lower() == "100-continue":
                connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = reader.read(length) if length else b""
            if len(body) != length:
                return False  # the client closed mid-body
        environ = wsgi_environ(
            method,
            target,
            headers,
            body,
            server=(self.server_name, self.server_port),
            protocol=version,
            remote=address if isinstance(address, tuple) else ("127.0.0.1", 0),
        )
        status, response_headers, chunks = self._call_app(environ)
        self._send(connection, method, status, response_headers, chunks, keep_alive)
        if log.isEnabledFor(logging.INFO):
            log.info('%s "%s %s" %s', environ["REMOTE_ADDR"], method, target, status)
        return keep_alive

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return chunks.append

        chunks: list[bytes] = []
        try:
            result = self.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            log.exception("%s %s failed", environ["REQUEST_METHOD"], environ["RAW_URI"])
            body = b"Internal Server Error"
            return (
                "500 Internal Server Error",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                [body],
            )
        if not started:
            raise RuntimeError("the app returned without calling start_response")
        return started[0], started[1], chunks

    def _send(
        self,
        connection: socket.socket,
        method: str,
        status: str,
        headers: list[tuple[str, str]],
        chunks: list[bytes],
        keep_alive: bool,
    ) -> None:
        body = b"".join(chunks)
        code = int(status.split(" ", 1)[0])
        lines = [f"HTTP/1.1 {status}"]
        has_length = has_date = has_server = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered == "date":
                has_date = True
            elif lowered == "server":
                has_server = True
            elif lowered in ("connection", "transfer-encoding"):
                continue  # this server frames the response
            lines.append(f"{name}: {value}")
        sends_body = method != "HEAD" and code not in _NO_BODY_STATUSES and code >= 200
        if not has_length and sends_body:
            lines.append(f"Content-Length: {len(body)}")
        if not has_date:
            lines.append(f"Date: {self._date.now()}")
        if not has_server:
            lines.append("Server: sfnstack")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        connection.sendall(head + body if sends_body else head)

    def _send_error(self, connection: socket.socket, status: int, message: str) -> None:
        body = message.encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            connection.sendall(head.encode("latin-1") + body)


def wsgi_environ(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    server: tuple[str, str],
    protocol: str = "HTTP/1.1",
    remote: tuple[str, int] = ("127.0.0.1", 0),
) -> dict[str, Any]:
    """The WSGI environ of a request (``target``: its path and query as sent), as
    werkzeug's server builds it, with moto's server's record of metadata header names."""
    path, _, query = target.partition("?")
    if "://" in path:  # absolute-form target: the path is what follows the authority
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        # as werkzeug: percent-decoded bytes, as latin-1 text (the WSGI convention)
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "SERVER_NAME": server[0],
        "SERVER_PORT": server[1],
        "SERVER_PROTOCOL": protocol,
        "REMOTE_ADDR": remote[0],
        "REMOTE_PORT": remote[1],
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    preserved: dict[str, str] = {}
    dashed: set[str] = set()
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if "_" in name:
            # WSGI cannot tell X_Foo from X-Foo: only metadata names keep theirs
            if not name.lower().startswith("x-amz-meta-"):
                continue
            key = "HTTP_" + key
            if key in dashed:
                continue
            preserved.setdefault(key, name)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if key == "CONTENT_TYPE":
                environ[key] = value
            continue
        else:
            key = "HTTP_" + key
            dashed.add(key)
            if key in preserved:  # a dashed name wins over an underscored one
                del preserved[key]
                environ.pop(key, None)
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ[_PRESERVED_NAMES_KEY] = preserved
    return environ


def _read_headers(reader: Any) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _BadRequest(431, "header line too long")
        if line in (b"\r\n", b"\n", b""):
            return headers
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.decode("latin-1").strip())
            continue
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(400, "malformed header line")
        headers.append((name, value.strip()))
        if len(headers) > _MAX_HEADERS:
            raise _BadRequest(431, "too many headers")


def _read_chunked(reader: Any) -> bytes:
    body = bytearray()
    while True:
        line = reader.readline(_MAX_LINE + 1)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "malformed chunk size") from None
        if size == 0:
            _read_headers(reader)  # trailers, if any, end with an empty line
            return bytes(body)
        chunk = reader.read(size)
        if len(chunk) != size:
            raise ConnectionError("the client closed mid-chunk")
        body += chunk
        reader.readline(_MAX_LINE + 1)  # the CRLF after the chunk


def _keeps_alive(version: str, connection_header: str) -> bool:
    tokens = {token.strip().lower() for token in connection_header.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens
