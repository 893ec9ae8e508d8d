"""One Lambda execution environment: the child side of the worker protocol.

Run as a script (``python worker.py REQUEST_FD RESPONSE_FD``) with only the standard library,
so a cold start costs the interpreter start plus the handler's own imports. The parent
(``raincast.runtime.lambdas.pool``) talks over two pipes; the process's stdout/stderr are
the function's log. Frames are ``4-byte big-endian length`` + ``header JSON`` + ``\\n`` +
``body`` (the event or result as JSON text, passed through without re-encoding).

Protocol: first an ``init`` frame (sys.path, handler, function facts) answered with
``{"ok": true}`` or ``{"error": {...}}``; then ``invoke`` frames, one at a time, each answered
with ``{"ok": true}`` + the result JSON or ``{"error": {...Lambda's error document...}}``.
EOF on the request pipe means shut down.
"""

from __future__ import annotations

import decimal
import importlib
import io
import json
import os
import struct
import sys
import time
import traceback
from typing import Any

_LENGTH = struct.Struct(">I")


class LambdaContext:
    """The ``context`` argument of a Python Lambda handler."""

    def __init__(self, facts: dict[str, Any], request_id: str, deadline: float) -> None:
        self.function_name: str = facts["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = facts["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(facts["memory_limit_in_mb"])
        self.aws_request_id: str = request_id
        self.log_group_name: str = facts["log_group_name"]
        self.log_stream_name: str = facts["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


class _Encoder(json.JSONEncoder):
    # The Python runtime's marshaller: Decimals (DynamoDB) become numbers, the rest fails.
    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _error_document(
    exc: BaseException, request_id: str | None, error_type: str | None = None
) -> dict[str, Any]:
    tb = traceback.extract_tb(exc.__traceback__)
    # Drop this bootstrap's own frames, as Lambda's runtime does.
    frames = [frame for frame in tb if frame.filename != __file__]
    document: dict[str, Any] = {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id or "",
        "stackTrace": traceback.format_list(frames),
    }
    return document


class _Channel:
    def __init__(self, request_fd: int, response_fd: int) -> None:
        self._in = os.fdopen(request_fd, "rb")
        self._out = os.fdopen(response_fd, "wb")

    def receive(self) -> tuple[dict[str, Any], bytes] | None:
        prefix = self._in.read(4)
        if len(prefix) < 4:
            return None
        (length,) = _LENGTH.unpack(prefix)
        frame = self._in.read(length)
        if len(frame) < length:
            return None
        header, _, body = frame.partition(b"\n")
        return json.loads(header), body

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        frame = json.dumps(header).encode() + b"\n" + body
        self._out.write(_LENGTH.pack(len(frame)) + frame)
        self._out.flush()


def _load_handler(handler: str) -> Any:
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise _InitError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as exc:
        raise _InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        ) from exc
    except ImportError as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    try:
        function = getattr(module, attribute)
    except AttributeError:
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        ) from None
    if not callable(function):
        raise _InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{attribute}' on module '{module_name}' is not callable",
        )
    return function


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _log(line: str) -> None:
    sys.stdout.write(line + "\n")


def _one_log_stream() -> None:
    """stdout and stderr become one line-buffered stream on fd 1 (the function's log): lines
    keep their order, a crash loses at most a partial line, and a quiet handler costs no
    writes beyond the START/END/REPORT lines, whatever PYTHONUNBUFFERED says."""
    stream = io.TextIOWrapper(
        io.FileIO(os.dup(1), "w"), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.stdout = sys.stderr = stream


def main(request_fd: int, response_fd: int) -> int:
    _one_log_stream()
    channel = _Channel(request_fd, response_fd)
    message = channel.receive()
    if message is None:
        return 0
    facts, _ = message
    sys.path[:] = facts["sys_path"]
    started = time.monotonic()
    try:
        handler = _load_handler(facts["handler"])
    except _InitError as exc:
        document = _error_document(exc, None, exc.error_type)
        _log(f"[ERROR] {exc.error_type}: {exc}")
        channel.send({"error": document})
        return 1
    except BaseException as exc:  # the module raised while importing
        document = _error_document(exc, None)
        _log(f"[ERROR] {document['errorType']}: {exc}\n" + "".join(document["stackTrace"]))
        channel.send({"error": document})
        return 1
    channel.send({"ok": True, "init_ms": (time.monotonic() - started) * 1000})

    while True:
        message = channel.receive()
        if message is None:
            return 0
        header, body = message
        request_id = header["request_id"]
        deadline = time.monotonic() + header["timeout"]
        context = LambdaContext(facts, request_id, deadline)
        _log(f"START RequestId: {request_id} Version: $LATEST")
        began = time.monotonic()
        try:
            event = json.loads(body)
            result = handler(event, context)
            try:
                out = json.dumps(result, cls=_Encoder).encode()
            except (TypeError, ValueError) as exc:
                raise _InitError(
                    "Runtime.MarshalError", f"Unable to marshal response: {exc}"
                ) from None
            reply: dict[str, Any] = {"ok": True}
        except _InitError as exc:
            reply = {"error": _error_document(exc, request_id, exc.error_type)}
            out = b""
        except Exception as exc:
            reply = {"error": _error_document(exc, request_id)}
            out = b""
            doc = reply["error"]
            sys.stderr.write(
                f"[ERROR] {doc['errorType']}: {doc['errorMessage']}\nTraceback (most recent call last):\n"
                + "".join(doc["stackTrace"])
            )
        duration = (time.monotonic() - began) * 1000
        _log(
            f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\t"
            f"Duration: {duration:.2f} ms\tMemory Size: {facts['memory_limit_in_mb']} MB"
        )
        channel.send(reply, out)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
