"""One Lambda execution environment: the child side of the worker protocol.

Run as a script (``python worker.py REQUEST_FD RESPONSE_FD``) with only the standard library,
so a cold start costs the interpreter start plus the handler's own imports. The parent
(``sfnstack.lambdas.pool``) talks over two pipes (see ``_Channel`` for the frames);
the process's stdout/stderr are the function's log.

Protocol: first an init frame (sys.path, handler, function facts) answered with OK or
Lambda's init error document; then invoke frames, one at a time, each answered with the
result JSON or Lambda's error document. EOF on the request pipe means shut down.

Run as ``python worker.py --zygote CONTROL_FD`` it is instead a zygote (``zygote()``): it
imports a list of libraries once (boto3, numpy, ...) and forks environments that then run
``main`` exactly as a fresh ``python worker.py`` would, minus those imports. No library
does this for arbitrary handler code (multiprocessing's forkserver preloads modules but
runs its own worker protocol and keeps the forked processes its children), hence by hand.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import importlib.machinery
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

_LENGTH = struct.Struct(">I")
_TIMEOUT = struct.Struct(">d")
_DURATION = struct.Struct(">d")
# After each reply the environment watches its request pipe this long before it blocks in
# read(). A Map hands a warm environment its next item within tens of microseconds; a
# process that is still running takes it at once, while waking a sleeping one costs the
# sender a cross-CPU wake-up (measured on a 2-vCPU VM: about half of a Map's time per item;
# benchmarks/lambda_bench.py). sched_yield between looks leaves the CPU to anything runnable.
IDLE_SPIN_SECONDS = 0.0002


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
    """Frames: 4-byte big-endian length, 1 kind byte, body. Requests: ``I`` (init, body = the
    function facts as JSON) and ``V`` (invoke, body = 8-byte timeout + 36-byte request id +
    event JSON). Replies: ``O`` (body = result JSON) or ``E`` (body = error document JSON);
    an invoke's reply body starts with the 8-byte handler duration in milliseconds (what
    the REPORT line says), so the pool can record it. Fixed binary headers keep the
    per-invocation cost to the payload itself."""

    def __init__(self, request_fd: int, response_fd: int) -> None:
        self._in = request_fd
        self._out = response_fd
        self._buffer = bytearray()
        self._poll = select.poll()
        self._poll.register(request_fd, select.POLLIN)

    def wait_briefly(self) -> None:
        """Spin (yielding) until a request is readable or ``IDLE_SPIN_SECONDS`` pass."""
        if self._buffer:
            return
        poll, clock = self._poll.poll, time.perf_counter
        end = clock() + IDLE_SPIN_SECONDS
        while not poll(0) and clock() < end:
            os.sched_yield()

    def _fill(self, count: int) -> bool:
        while len(self._buffer) < count:
            chunk = os.read(self._in, max(65536, count - len(self._buffer)))
            if not chunk:
                return False
            self._buffer += chunk
        return True

    def receive(self) -> tuple[bytes, bytes] | None:
        if not self._fill(4):
            return None
        (length,) = _LENGTH.unpack_from(self._buffer)
        if not self._fill(4 + length):
            return None
        frame = bytes(self._buffer[4 : 4 + length])
        del self._buffer[: 4 + length]
        return frame[:1], frame[1:]

    def send(self, kind: bytes, body: bytes = b"") -> None:
        data = memoryview(_LENGTH.pack(len(body) + 1) + kind + body)
        while data:
            data = data[os.write(self._out, data) :]


class _LogStream(io.TextIOBase):
    """The function's log (stdout and stderr both, so lines keep their order), line-buffered
    so a crash loses at most a partial line. The START line of an invocation is held back
    until the handler writes something, so a quiet invocation costs one log write."""

    def __init__(self, raw: io.TextIOWrapper) -> None:
        self._raw = raw
        self.pending = ""

    def write(self, text: str) -> int:
        if self.pending:
            self._raw.write(self.pending)
            self.pending = ""
        return self._raw.write(text)

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # a property where TextIOBase has an attribute
        return self._raw.encoding

    @property
    def buffer(self) -> Any:
        self.write("")
        return self._raw.buffer


def _one_log_stream() -> _LogStream:
    raw = io.TextIOWrapper(
        io.FileIO(os.dup(1), "w"), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    stream = _LogStream(raw)
    sys.stdout = sys.stderr = stream
    return stream


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


class _RequestIdFilter:
    request_id = ""

    def filter(self, record: Any) -> bool:
        record.aws_request_id = self.request_id
        return True


def _root_log_handler(stream: _LogStream) -> _RequestIdFilter:
    """Lambda's Python runtime puts a handler on the root logger, so ``logging.getLogger()
    .setLevel(logging.INFO); logging.info(...)`` in a handler reaches the log; same here,
    with Lambda's line format."""
    import logging

    handler = logging.StreamHandler(stream)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    request_ids = _RequestIdFilter()
    handler.addFilter(request_ids)
    logging.getLogger().addHandler(handler)
    return request_ids


def _log(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(request_fd: int, response_fd: int) -> int:
    log = _one_log_stream()
    request_ids = _root_log_handler(log)
    channel = _Channel(request_fd, response_fd)
    message = channel.receive()
    if message is None:
        return 0
    facts = json.loads(message[1])
    sys.path[:] = facts["sys_path"]
    started = time.monotonic()
    try:
        handler = _load_handler(facts["handler"])
    except _InitError as exc:
        document = _error_document(exc, None, exc.error_type)
        _log(f"[ERROR] {exc.error_type}: {exc}")
        channel.send(b"E", json.dumps(document).encode())
        return 1
    except BaseException as exc:  # the module raised while importing
        document = _error_document(exc, None)
        _log(f"[ERROR] {document['errorType']}: {exc}\n" + "".join(document["stackTrace"]))
        channel.send(b"E", json.dumps(document).encode())
        return 1
    channel.send(b"O", json.dumps({"init_ms": (time.monotonic() - started) * 1000}).encode())
    memory = facts["memory_limit_in_mb"]
    loads, dumps, monotonic = json.loads, json.dumps, time.monotonic
    # One encoder (json.dumps(cls=...) builds one per call). Unicode unescaped, as the
    # python3.12 runtime returns it (earlier runtimes sent \u escapes).
    encode = _Encoder(ensure_ascii=False).encode

    while True:
        channel.wait_briefly()
        message = channel.receive()
        if message is None:
            return 0
        body = message[1]
        (timeout,) = _TIMEOUT.unpack_from(body)
        request_id = body[8:44].decode()
        began = monotonic()
        context = LambdaContext(facts, request_id, began + timeout)
        log.pending = f"START RequestId: {request_id} Version: $LATEST\n"
        request_ids.request_id = request_id
        try:
            result = handler(loads(body[44:]), context)
            try:
                kind, out = b"O", encode(result).encode()
            except (TypeError, ValueError) as exc:
                raise _InitError(
                    "Runtime.MarshalError", f"Unable to marshal response: {exc}"
                ) from None
        except _InitError as exc:
            kind, out = b"E", dumps(_error_document(exc, request_id, exc.error_type)).encode()
        except Exception as exc:
            doc = _error_document(exc, request_id)
            kind, out = b"E", dumps(doc).encode()
            log.write(
                f"[ERROR] {doc['errorType']}: {doc['errorMessage']}\n"
                "Traceback (most recent call last):\n" + "".join(doc["stackTrace"])
            )
        duration = (monotonic() - began) * 1000
        pending, log.pending = log.pending, ""
        log.write(
            f"{pending}END RequestId: {request_id}\nREPORT RequestId: {request_id}\t"
            f"Duration: {duration:.2f} ms\tMemory Size: {memory} MB\n"
        )
        channel.send(kind, _DURATION.pack(duration) + out)


# -- the zygote -------------------------------------------------------------------------
#
# Control messages are JSON on a SOCK_SEQPACKET unix socket (one datagram each, so no
# framing). First {"sys_path", "preload"} -> {"loaded", "skipped", "preload_ms"}; then per
# environment {"env", "cwd", "sys_path"} with three descriptors attached (the request
# pipe's read end, the response pipe's write end, the log file) -> {"pid"} or {"refused"}.
# An environment is forked twice: the intermediate process exits at once, so the
# environment is re-parented to the pool's process (a child subreaper, see pool.Zygote),
# which waits for it and kills it like any child of its own.
_CONTROL_BYTES = 1 << 20


def _package_location(name: str, path: list[str]) -> str | None:
    """Where a top-level module or package ``name`` is found on ``path``: what decides
    whether a preloaded copy is the one the function would import."""
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return os.pathsep.join(spec.submodule_search_locations)
    return spec.origin


def _preload(names: list[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Imports ``names``; the top-level packages now loaded, by where they were found, and
    the names that failed, with why. A failed import is left out of ``sys.modules``."""
    skipped: dict[str, str] = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a library that does not import is not preloaded
            skipped[name] = f"{type(exc).__name__}: {exc}"
    tops = {name.partition(".")[0] for name in names if name not in skipped}
    return {top: _package_location(top, sys.path) for top in sorted(tops)}, skipped


# botocore reads its JSON data into each session's loader anew: the endpoints, the list of
# services, the S3 model and rules, 0.1 s of a cold start in every environment that makes a
# client (what a warm Lambda environment holds in memory). A zygote that preloaded botocore
# reads them once; a loader made later in an environment forked from it starts with them.
# S3: the service the runtime serves to the handlers itself.
BOTOCORE_DATA = ("endpoints", "partitions", "_retry", "sdk-default-configuration")
BOTOCORE_MODELS = (("s3", "service-2"), ("s3", "endpoint-rule-set-1"))


def _warm_botocore() -> None:
    """Reads ``BOTOCORE_DATA`` and ``BOTOCORE_MODELS`` into a loader and has every session
    loader made afterwards in this process (and its forks) start with that loader's
    cache, if it searches the same directories (one given another ``AWS_DATA_PATH`` reads
    its files itself). The data is the same files read once: what a client sees is
    unchanged."""
    import botocore.loaders
    import botocore.session

    warm = botocore.loaders.create_loader()
    warm.list_available_services("service-2")
    for name in BOTOCORE_DATA:
        warm.load_data(name)
    for service, kind in BOTOCORE_MODELS:
        warm.load_service_model(service, kind)
    cache, search_paths = dict(warm._cache), list(warm.search_paths)
    create_loader = botocore.session.create_loader

    def create_warm_loader(search_path_string: str | None = None) -> Any:
        loader = create_loader(search_path_string)
        if list(loader.search_paths) == search_paths:
            loader._cache.update(cache)
        return loader

    botocore.session.create_loader = create_warm_loader


def _refusal(loaded: dict[str, str | None], request: dict[str, Any], env: dict[str, str]) -> str:
    """Why this zygote cannot stand in for a fresh interpreter of this function ("" if it
    can): a preloaded package that the function's path would find elsewhere (a layer that
    ships its own numpy, say), or interpreter settings (``PYTHON*`` variables) that differ
    from the ones the zygote started with."""
    for top, location in loaded.items():
        if _package_location(top, request["sys_path"]) != location:
            return f"{top} is found elsewhere on this function's path"
    for name in set(env) | set(request["env"]):
        if name.startswith("PYTHON") and env.get(name) != request["env"].get(name):
            return f"its environment sets {name} differently"
    return ""


def _send_json(control: socket.socket, document: dict[str, Any]) -> None:
    control.send(json.dumps(document).encode())


def zygote(control_fd: int) -> int:
    """Preload, then fork environments on request until the control socket closes.
    Returns the exit status of whichever process returns: the zygote's own (0), or, in a
    forked environment, ``main``'s."""
    # Ctrl-C reaches the whole process group; the pool reports it, the zygote just ends.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    control = socket.socket(fileno=control_fd)
    first = control.recv(_CONTROL_BYTES)
    if not first:
        return 0
    setup = json.loads(first)
    sys.path[:] = setup["sys_path"]
    started = time.monotonic()
    loaded, skipped = _preload(setup["preload"])
    if "botocore" in sys.modules:
        try:
            _warm_botocore()
        except Exception as exc:  # another botocore than this was written for: read cold
            skipped["botocore data"] = f"{type(exc).__name__}: {exc}"
    preload_ms = (time.monotonic() - started) * 1000
    _send_json(control, {"loaded": sorted(loaded), "skipped": skipped, "preload_ms": preload_ms})
    zygote_env = dict(os.environ)
    while True:
        data, fds, _flags, _address = socket.recv_fds(control, _CONTROL_BYTES, 3)
        if not data:
            return 0
        request = json.loads(data)
        refused = _refusal(loaded, request, zygote_env) if len(fds) == 3 else "no descriptors"
        if refused:
            for fd in fds:
                os.close(fd)
            _send_json(control, {"refused": refused})
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = _fork_environment(control, fds, request)
        if pid is None:  # this is the environment, and main() has returned
            return _environment_exit_code
        for fd in fds:
            os.close(fd)
        _send_json(control, {"pid": pid})


_environment_exit_code = 0


def _fork_environment(
    control: socket.socket, fds: list[int], request: dict[str, Any]
) -> int | None:
    """Forks an environment (through an intermediate process that exits, see above); in
    the zygote returns its pid, in the environment runs ``main`` and returns None."""
    global _environment_exit_code
    pid_read, pid_write = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        try:
            os.close(pid_read)
            environment = os.fork()
        except BaseException:
            os._exit(1)
        if environment != 0:
            os.write(pid_write, struct.pack(">i", environment))
            os._exit(0)
        os.close(pid_write)
        _environment_exit_code = _become_environment(control, fds, request)
        return None
    os.close(pid_write)
    data = os.read(pid_read, 4)
    os.close(pid_read)
    os.waitpid(intermediate, 0)
    return struct.unpack(">i", data)[0] if len(data) == 4 else -1


def _become_environment(control: socket.socket, fds: list[int], request: dict[str, Any]) -> int:
    """In the forked process: what a fresh ``python worker.py`` would have (its working
    directory, environment, stdio, signal handling, temp dir, random state), then ``main``."""
    request_fd, response_fd, log_fd = fds
    control.close()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    keep = {0, 1, 2, request_fd, response_fd}
    for entry in os.listdir("/proc/self/fd"):  # nothing else of the zygote's leaks in
        fd = int(entry)
        if fd not in keep:
            with contextlib.suppress(OSError):  # the directory listing's own descriptor
                os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # TZ is read at start-up; the function's may differ (Lambda's is UTC)
    if "tempfile" in sys.modules:  # TMPDIR is read once, on first use
        sys.modules["tempfile"].tempdir = None  # type: ignore[attr-defined]
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:  # the stdlib's random reseeds itself after a fork; numpy's not
        numpy_random.seed()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv[:] = [__file__, str(request_fd), str(response_fd)]
    return main(request_fd, response_fd)


def _exit(code: int) -> None:
    """Ends the process as the interpreter would, atexit handlers and stdio flushes
    included, without its object-by-object teardown: in an environment forked from the
    zygote that teardown writes to every page shared with it (reference counts), copying
    them all, which made exiting take a third of a second (Lambda itself freezes and
    kills its environments, running no teardown at all)."""
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.flush()
        os._exit(code)


if __name__ == "__main__":
    if sys.argv[1] == "--zygote":
        _exit(zygote(int(sys.argv[2])))
    _exit(main(int(sys.argv[1]), int(sys.argv[2])))
