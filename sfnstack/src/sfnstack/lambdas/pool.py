"""Worker processes that behave like Lambda execution environments, and the pool that
hands invocations to them.

One process per execution environment, dedicated to one function: its handler module is
imported once (cold start) and reused warm; one invocation at a time. The pool keeps idle
environments per function; at most ``max_workers`` invocations run at once (the others
wait), and at most ``max_environments`` environments live at once (the least recently used
idle one is retired to make room). A handler past its Timeout gets its process killed
(``LambdaTimeoutError``); a process that dies mid-invocation is Lambda's
``Runtime.ExitError``.

Handlers' stdout/stderr go to one log file per function (``log_path``), Lambda-style
START/END/REPORT lines included, never into the CLI's own output.

With ``record_invocations`` set, the pool keeps an ``InvocationRecord`` per invocation
(function, handler duration as the worker measured it, init duration on a cold start),
for tools that account for what a run did (what Lambda would bill, for one).

With ``preload`` (module names, e.g. ``("boto3", "numpy")``; Linux only) the pool starts a
zygote (``Zygote``; ``worker.zygote``) that imports them once, and environments are forked
from it instead of starting a fresh interpreter that imports them again: a cold start then
costs the handler's own imports and the fork. A forked environment has what a fresh one
has: its handler module imported fresh, its own environment variables, working directory,
stdio, random state and temp directory (TMPDIR is read anew). What differs: the preloaded
libraries were imported once, under the zygote's environment (the pool's, without any
function's own variables), so a library that reads a variable at import time sees the
zygote's value (which is why ``raincast run`` does not preload the X-Ray SDK).
With botocore among them, the zygote also reads botocore's shared data files and the S3
model once (``worker.BOTOCORE_DATA``): a session made in an environment starts with them,
as a warm environment has them in memory.
A function whose path finds a preloaded package somewhere else (a layer with its own
numpy), or whose ``PYTHON*`` variables differ, gets a fresh interpreter, as do all
environments while the zygote is still importing. A forked environment's init duration
leaves out the preloaded imports, so a pool that records invocations to estimate what
Lambda bills should not preload.
``start_zygote`` starts that zygote before the pool (``LambdaPool(zygote=...)``), for a
caller with start-up work of its own: it imports while the caller does that work.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import greenlet

from sfnstack.arns import DEFAULT_ACCOUNT_ID
from sfnstack.cooperative import Signal, current_hub
from sfnstack.lambdas.functions import LocalFunction
from sfnstack.services import (
    LambdaFunctionError,
    LambdaNotFoundError,
    LambdaTimeoutError,
)

_WORKER_SCRIPT = str(Path(__file__).with_name("worker.py"))
_LENGTH = struct.Struct(">I")
_TIMEOUT = struct.Struct(">d")
_DURATION = struct.Struct(">d")  # leads an invoke's reply: the handler's duration in ms
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation limit, both ways
# Lambda limits a function's init phase to 10 s; a loaded laptop importing numpy and boto3
# deserves more slack, so the local limit is generous.
INIT_TIMEOUT_SECONDS = 60.0
# How long an invocation waits for a busy environment of its function before it starts a
# new one, until the pool has seen a cold start (then: the longest it has seen).
DEFAULT_COLD_START_ESTIMATE = 1.0


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation: the function's logical id, the handler's duration in ms (measured in
    the worker, as its REPORT line says; the time until the failure for a timed-out or dead
    environment), the init duration in ms when it was a cold start, and the error type when
    it failed."""

    function: str
    duration_ms: float
    init_ms: float | None = None
    error: str | None = None


def _request_id() -> str:
    # A version-4 UUID, formatted without uuid.UUID's per-call overhead.
    h = f"{random.getrandbits(128) & _UUID4_MASK | _UUID4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)


def default_worker_count() -> int:
    return max(2, os.cpu_count() or 2)


class _WorkerDied(Exception):
    pass


class _WorkerTimedOut(Exception):
    pass


class Worker:
    """One execution environment (a child process) of one function."""

    def __init__(
        self,
        function: LocalFunction,
        env: dict[str, str],
        sys_path: list[str],
        log_path: Path,
        zygote: Zygote | None = None,
    ) -> None:
        self.function = function
        self._log_path = log_path
        self.started_at = time.monotonic()
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        self.process: subprocess.Popen[bytes] | ForkedProcess
        try:
            with open(log_path, "ab") as log:
                forked = None
                if zygote is not None:
                    fds = (request_read, response_write, log.fileno())
                    forked = zygote.spawn(function.name, env, function.code_dir, sys_path, fds)
                self.forked = forked is not None
                self.process = forked or subprocess.Popen(
                    [sys.executable, _WORKER_SCRIPT, str(request_read), str(response_write)],
                    pass_fds=(request_read, response_write),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=function.code_dir,
                    env=env,
                )
        except OSError as exc:
            os.close(self._request_write)
            os.close(self._response_read)
            message = f"cannot start an environment for {function.name}: {exc}"
            raise LambdaFunctionError(
                "Runtime.ExitError", {"errorType": "Runtime.ExitError", "errorMessage": message}
            ) from None
        finally:
            os.close(request_read)
            os.close(response_write)
        self._buffer = bytearray()
        self.abandoned: tuple[float, str] | None = None  # (deadline, request id)
        self.invocations = 0
        self.init_ms: float | None = None  # the handler module's import, from the worker
        self.prewarmed = False  # started by LambdaPool.prewarm, ahead of an invocation
        self.last_duration_ms: float | None = None  # the last invocation's handler time
        self.last_used = time.monotonic()
        self.deadline: float | None = None  # set while the watchdog should time it out
        self.timed_out = False
        self._guard = threading.Lock()
        _WATCHDOG.watch(self)
        self.closed = False
        started = time.monotonic()
        facts = {
            "sys_path": sys_path,
            "handler": function.handler,
            "function_name": function.name,
            "invoked_function_arn": function.arn,
            "memory_limit_in_mb": function.memory_size,
            "log_group_name": f"/aws/lambda/{function.name}",
            "log_stream_name": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
        }
        try:
            self._send(b"I", json.dumps(facts).encode())
            kind, body = self._receive(started + INIT_TIMEOUT_SECONDS)
        except (_WorkerDied, _WorkerTimedOut, OSError) as exc:
            self.kill()
            raise LambdaFunctionError(
                "Runtime.ExitError",
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Error: Runtime exited during init ({type(exc).__name__}): "
                    f"{self._exit_description()}",
                },
            ) from None
        if kind != b"O":
            self.kill()
            document = json.loads(body)
            raise LambdaFunctionError(document.get("errorType", "Runtime.Unknown"), document)
        self.init_ms = float(json.loads(body).get("init_ms", 0.0))

    # -- framing --------------------------------------------------------------------

    def _send(self, kind: bytes, body: bytes) -> None:
        data = _LENGTH.pack(len(body) + 1) + kind + body
        written = os.write(self._request_write, data)
        if written < len(data):  # a payload bigger than the pipe's buffer
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(self._request_write, view) :]

    def _receive(self, deadline: float) -> tuple[bytes, bytes]:
        """One reply frame: (kind, body); see ``worker._Channel``.

        Blocking reads, or in a hub's greenlet a cooperative wait for data first (the other
        iterations run meanwhile); the watchdog kills a worker past its deadline, which ends
        the read with EOF."""
        self.deadline = deadline
        hub = current_hub()
        fd = self._response_read
        buffer = self._buffer
        want = 65536
        try:
            while True:
                if hub is not None:
                    hub.wait_readable(fd)
                chunk = os.read(fd, want)
                if not chunk:
                    raise _WorkerTimedOut if self.timed_out else _WorkerDied
                if not buffer and len(chunk) >= 4:
                    # The usual case: the whole reply in one read.
                    end = 4 + _LENGTH.unpack_from(chunk)[0]
                    if len(chunk) == end:
                        return chunk[4:5], chunk[5:]
                buffer += chunk
                if len(buffer) >= 4:
                    end = 4 + _LENGTH.unpack_from(buffer)[0]
                    want = max(65536, end - len(buffer))  # a big reply: larger reads
                    if len(buffer) >= end:
                        frame = bytes(buffer[4:end])
                        del buffer[:end]
                        return frame[:1], frame[1:]
        finally:
            with self._guard:
                self.deadline = None

    def expire(self, now: float) -> None:
        """Called by the watchdog: kill the process if it is past its deadline."""
        with self._guard:
            if self.deadline is not None and now >= self.deadline and not self.timed_out:
                self.timed_out = True
                if self.process.poll() is None:
                    self.process.kill()

    # -- invocation -----------------------------------------------------------------

    def invoke(self, payload: bytes, request_id: str) -> bytes:
        """Run the handler on ``payload`` (JSON text); the result as JSON text."""
        function = self.function
        self.invocations += 1
        self.last_duration_ms = None
        deadline = time.monotonic() + function.timeout
        try:
            self._send(b"V", _TIMEOUT.pack(function.timeout) + request_id.encode() + payload)
            kind, body = self._receive(deadline)
            (self.last_duration_ms,) = _DURATION.unpack_from(body)
            body = body[_DURATION.size :]
        except greenlet.GreenletExit:
            # Its execution ended without it (a Task timeout gave up on it): the handler runs
            # on, as on Lambda; the pool has the reply read (``finish``) before reusing it.
            self.abandoned = (deadline, request_id)
            raise
        except BaseException as exc:
            self._failed(exc, request_id)
            raise
        return self._result(kind, body)

    def finish(self) -> None:
        """Wait for (and drop) the reply of the abandoned invocation, blocking; nobody is
        left to report its error to."""
        assert self.abandoned is not None
        deadline, request_id = self.abandoned
        self.abandoned = None
        try:
            self._receive(deadline)
        except BaseException as exc:
            with contextlib.suppress(LambdaTimeoutError, LambdaFunctionError):
                self._failed(exc, request_id)

    def _failed(self, exc: BaseException, request_id: str) -> None:
        """An invocation that did not reply: kill the environment and raise what Lambda
        reports (or ``exc`` itself)."""
        function = self.function
        self.kill()
        if isinstance(exc, _WorkerTimedOut):
            self._log(f"{request_id} Task timed out after {function.timeout:.2f} seconds")
            raise LambdaTimeoutError(function.name, function.timeout) from None
        if isinstance(exc, _WorkerDied | BrokenPipeError):
            message = f"RequestId: {request_id} Error: Runtime exited with error: {self._exit_description()}"
            self._log(message)
            raise LambdaFunctionError(
                "Runtime.ExitError",
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": message,
                    "requestId": request_id,
                },
            ) from None
        # Interrupted mid-invocation (KeyboardInterrupt, a greenlet thrown into): its reply
        # may still come, so this environment cannot serve another invocation.

    def _result(self, kind: bytes, body: bytes) -> bytes:
        if kind != b"O":
            document = json.loads(body)
            raise LambdaFunctionError(document.get("errorType", "Runtime.Unknown"), document)
        return body

    def _exit_description(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "no exit status"
        if code < 0:
            # Lambda words it as Go does: "signal: segmentation fault", "signal: killed".
            description = signal.strsignal(-code) or str(-code)
            return f"signal: {description.lower()}"
        return f"exit status {code}"

    def _log(self, line: str) -> None:
        # The worker's stdout is the log file; the parent appends its own notes to it.
        try:
            with open(self._log_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except FileNotFoundError:
            # A closed pool removed its log folder: the environment an abandoned
            # invocation ran in was ended by that close, and the note has no reader left.
            pass

    # -- lifecycle ------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return not self.closed and self.process.poll() is None

    def kill(self) -> None:
        _WATCHDOG.forget(self)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self, grace: float = 2.0) -> None:
        """EOF on the request pipe tells the worker to exit; killed if it does not."""
        _WATCHDOG.forget(self)
        self._close_pipes()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _close_pipes(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in (self._request_write, self._response_read):
            with contextlib.suppress(OSError):
                os.close(fd)


class ForkedProcess:
    """The part of ``subprocess.Popen`` the pool uses, for an environment forked by the
    zygote: a child of this process (re-parented to it, see ``Zygote``), so it is waited
    for here, and its exit status reads as Popen's would (negative: the killing signal)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.args = [f"sfnstack-lambda-environment[{pid}]"]
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:  # waited for elsewhere: gone, status unknown
                    self.returncode = 255
                else:
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    """Makes this process the one that orphaned descendants are re-parented to (Linux's
    PR_SET_CHILD_SUBREAPER), so environments forked by the zygote's children are this
    process's children. A side effect for the whole process: any orphaned descendant
    (a handler's own daemon, say) is re-parented here rather than to init."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class Zygote:
    """A ``python worker.py --zygote`` process that has imported ``preload`` and forks
    environments (see the module docstring and ``worker.zygote``). It starts importing at
    once; until it has, ``spawn`` returns None and the pool starts a fresh interpreter, so
    nothing ever waits for it. ``spawn`` also returns None when the zygote refuses a
    function (``refusals`` says why, by function) or is gone."""

    def __init__(
        self,
        preload: Collection[str],
        sys_path: list[str],
        env: dict[str, str],
        log_path: Path | None = None,
    ) -> None:
        """``log_path``: where its own output goes (a file of its own, removed by
        ``close``, when None)."""
        self._owns_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="sfnstack-zygote-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = log_path
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.alive = True
        self.loaded: list[str] = []
        self.skipped: dict[str, str] = {}
        self.preload_ms = 0.0
        self.refusals: dict[str, str] = {}
        try:
            with open(log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, _WORKER_SCRIPT, "--zygote", str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
        finally:
            theirs.close()
        ours.send(json.dumps({"sys_path": sys_path, "preload": list(preload)}).encode())
        threading.Thread(target=self._await_ready, name="sfnstack-zygote", daemon=True).start()

    def _await_ready(self) -> None:
        try:
            reply = self._control.recv(1 << 20)
        except OSError:
            reply = b""
        with self._lock:
            if not reply:
                self.alive = False
            else:
                ready = json.loads(reply)
                self.loaded, self.skipped = ready["loaded"], ready["skipped"]
                self.preload_ms = float(ready["preload_ms"])
        self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Whether the zygote has imported its preloads and can fork (tests, benchmarks)."""
        return self._ready.wait(timeout) and self.alive

    def spawn(
        self,
        function: str,
        env: dict[str, str],
        cwd: Path,
        sys_path: list[str],
        fds: tuple[int, int, int],
    ) -> ForkedProcess | None:
        """A forked environment with ``fds`` (request pipe read end, response pipe write
        end, log file) as its own, or None (not ready, refused, or the zygote is gone).
        Blocks for the fork (milliseconds), not for anything the environment does."""
        if not self._ready.is_set():
            return None
        request = json.dumps({"env": env, "cwd": str(cwd), "sys_path": sys_path}).encode()
        with self._lock:
            if not self.alive:
                return None
            try:
                socket.send_fds(self._control, [request], list(fds))
                reply = self._control.recv(1 << 20)
            except OSError:
                reply = b""
            if not reply:
                self.alive = False
                return None
        answer = json.loads(reply)
        if "refused" in answer:
            self.refusals[function] = answer["refused"]
            return None
        return ForkedProcess(int(answer["pid"]))

    def close(self, grace: float = 2.0) -> None:
        with self._lock:
            self.alive = False
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)
            self._control.close()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._owns_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()


def start_zygote(preload: Collection[str], log_path: Path | None = None) -> Zygote | None:
    """A zygote importing ``preload`` from now on (this process's path and variables, this
    process the environments' subreaper), or None where there is none to start (nothing to
    preload, or not Linux): the one a ``LambdaPool`` starts for its ``preload``, and one a
    caller with start-up work of its own starts first and gives it (``LambdaPool(zygote=
    ...)``). Whoever holds it closes it, or the pool it is given does. ``log_path``: see
    ``Zygote``."""
    if not preload or not _become_subreaper():
        return None
    return Zygote(preload, [p for p in sys.path if p], LambdaPool._common_env(), log_path)


class _Watchdog:
    """One thread for all workers: every ``TICK`` seconds it kills the workers past their
    deadline (so Lambda timeouts fire at most a tick late)."""

    TICK = 0.05

    def __init__(self) -> None:
        self._workers: weakref.WeakSet[Worker] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, worker: Worker) -> None:
        with self._lock:
            self._workers.add(worker)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sfnstack-lambda-watchdog", daemon=True
                )
                self._thread.start()

    def forget(self, worker: Worker) -> None:
        with self._lock:
            self._workers.discard(worker)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            with self._lock:
                workers = list(self._workers)
                if not workers:  # nothing to watch: end; watch() starts a new thread
                    self._thread = None
                    return
            now = time.monotonic()
            for worker in workers:
                if worker.deadline is not None and now >= worker.deadline:
                    worker.expire(now)


_WATCHDOG = _Watchdog()


class ConcurrencySlots:
    """At most ``limit`` invocations at once. A thread waits for a free slot on a
    condition; a greenlet of a hub waits on a signal, so the hub keeps reading the other
    invocations' replies meanwhile (the ones that will free the slots)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Condition(threading.Lock())
        self._signals: collections.deque[Signal] = collections.deque()  # waiting greenlets
        self._waiting_threads = 0
        self._running = 0
        self._closed = False

    def acquire(self) -> None:
        with self._lock:
            while self._running >= self.limit and not self._closed:
                hub = current_hub()
                if hub is None:
                    self._waiting_threads += 1
                    try:
                        self._lock.wait()
                    finally:
                        self._waiting_threads -= 1
                    continue
                signal = hub.signal()
                self._signals.append(signal)
                self._lock.release()
                try:
                    signal.wait()
                except BaseException:
                    # Interrupted: leave the queue, or pass on a wake-up already taken.
                    with self._lock:
                        if signal in self._signals:
                            self._signals.remove(signal)
                        elif self._running < self.limit:
                            self._notify()
                    raise
                finally:
                    self._lock.acquire()
            if self._closed:
                raise RuntimeError("the Lambda pool is closed")
            self._running += 1

    def release(self) -> None:
        with self._lock:
            self._running -= 1
            self._notify()

    def _notify(self) -> None:
        # Under self._lock: a slot is free; wake one waiting thread and one waiting greenlet
        # (whichever loses the race waits again).
        if self._waiting_threads:
            self._lock.notify()
        if self._signals:
            self._signals.popleft().set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            while self._signals:
                self._signals.popleft().set()


class LambdaPool:
    """Invokes functions by logical id, name or ARN in pooled worker processes.

    By default an invocation that finds no idle environment of its function gets a new one,
    as on Lambda. With ``wait_for_warm`` (for batch runs, where throughput matters more
    than each invocation's latency) it first waits for a busy (or starting) environment of
    its function, up to as long as a cold start takes (from the process's start to the end
    of its first invocation, which loads what the handler loads lazily: the function's
    longest so far, else the pool's, ``DEFAULT_COLD_START_ESTIMATE`` before any), and only
    then starts one: on one machine a
    cold start (a process, the handler's imports, its data) costs far more CPU than the
    tens of milliseconds a warm invocation usually holds an environment, and waiting at
    most that long delays an invocation by at most the cold start it risked. The wait
    counts towards a Task's ``TimeoutSeconds``, as a slow cold start would.

    ``base_env`` (the S3 endpoint, fake credentials) is merged under each function's own
    environment; ``env_overrides`` maps a logical id (or ``"*"``) to variables that win over
    the template's."""

    def __init__(
        self,
        functions: Mapping[str, LocalFunction] | None = None,
        *,
        max_workers: int | None = None,
        max_environments: int | None = None,
        base_env: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        env_overrides: Mapping[str, Mapping[str, str]] | None = None,
        log_dir: str | Path | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        wait_for_warm: bool = False,
        preload: Collection[str] = (),
        zygote: Zygote | None = None,
    ) -> None:
        self.max_workers = max_workers or default_worker_count()
        self.wait_for_warm = wait_for_warm
        self.max_environments = max(
            self.max_workers, max_environments or max(8, 4 * self.max_workers)
        )
        self.account_id = account_id
        self._functions: dict[str, LocalFunction] = {}
        self._index: dict[str, LocalFunction] = {}
        self._base_env = base_env
        self._env_overrides = {k: dict(v) for k, v in (env_overrides or {}).items()}
        self._owns_log_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="sfnstack-lambda-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # logical id -> idle workers, least recently used first
        self._idle: dict[str, collections.deque[Worker]] = {}
        self._busy: set[Worker] = set()
        # per logical id: environments busy or starting, and who waits for one to be idle
        self._in_use: collections.Counter[str] = collections.Counter()
        self._warm_waiters: dict[str, collections.deque[Any]] = collections.defaultdict(
            collections.deque
        )
        # per logical id: the longest cold start seen, process start to first reply (wall)
        self._cold_start_seconds: dict[str, float] = {}
        self._slots = ConcurrencySlots(self.max_workers)
        self._total = 0  # live environments, idle or busy
        self._closed = False
        self.cold_starts = 0
        # Set to keep an InvocationRecord per invocation in ``invocations`` (off by default:
        # a long-lived pool would grow without bound).
        self.record_invocations = False
        self.invocations: list[InvocationRecord] = []
        for function in (functions or {}).values():
            self.add_function(function)
        # one started before the pool (start_zygote), else the pool's own
        self.zygote = zygote or start_zygote(preload, self.log_dir / "sfnstack-zygote.log")
        # Workers must not outlive the program even if close() is forgotten (finalize also
        # runs at interpreter exit).
        self._finalizer = weakref.finalize(
            self, LambdaPool._shutdown, self._idle, self._busy, self.zygote
        )

    # -- functions ------------------------------------------------------------------

    def add_function(self, function: LocalFunction) -> None:
        with self._lock:
            self._idle.setdefault(function.logical_id, collections.deque())
            self._functions[function.logical_id] = function
            for key in (function.logical_id, function.name, function.arn):
                self._index[key] = function

    @property
    def functions(self) -> dict[str, LocalFunction]:
        return dict(self._functions)

    def lookup(self, function: str) -> LocalFunction:
        """By logical id, name, ARN, qualified ARN (``:$LATEST``, alias, version) or
        partial ARN (``123456789012:function:name``), as Lambda accepts them."""
        found = self._index.get(function)
        if found is not None:
            return found
        name = function
        if name.startswith("arn:"):
            parts = name.split(":")
            # arn:partition:lambda:region:account:function:name[:qualifier]
            if len(parts) in (7, 8) and parts[2] == "lambda" and parts[5] == "function":
                name = parts[6]
        elif ":function:" in name:
            name = name.split(":function:", 1)[1].split(":")[0]
        elif ":" in name:
            name = name.split(":", 1)[0]  # name:qualifier
        found = self._index.get(name)
        if found is None:
            raise LambdaNotFoundError(function)
        return found

    def log_path(self, function: str) -> Path:
        return self.log_dir / f"{self.lookup(function).name}.log"

    def read_log(self, function: str) -> str:
        path = self.log_path(function)
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def logs(self) -> dict[str, str]:
        """Every function's log so far, by function name."""
        return {
            function.name: self.read_log(function.logical_id)
            for function in self._functions.values()
            if (self.log_dir / f"{function.name}.log").exists()
        }

    @staticmethod
    def _common_env() -> dict[str, str]:
        """What every environment's variables start from (and the zygote's are): this
        process's, without its AWS settings, plus what the Lambda runtime sets for the
        interpreter itself."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"PYTHONUNBUFFERED": "1", "TZ": ":UTC"})  # TZ: as in Lambda
        return env

    def _worker_env(self, function: LocalFunction) -> dict[str, str]:
        env = self._common_env()
        base = self._base_env() if callable(self._base_env) else self._base_env
        env.update(base or {})
        env.update(
            {
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(function.timeout)),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
                "LAMBDA_TASK_ROOT": str(function.code_dir),
                "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
                "_HANDLER": function.handler,
                # What `sam local` sets: tells libraries (Powertools' Tracer) there is no
                # X-Ray daemon here.
                "AWS_SAM_LOCAL": "true",
            }
        )
        env.update(function.environment)
        env.update(self._env_overrides.get("*", {}))
        env.update(self._env_overrides.get(function.logical_id, {}))
        return env

    def _sys_path(self, function: LocalFunction) -> list[str]:
        caller = [p for p in sys.path if p]
        if not function.keep_caller_path:
            cwd = os.getcwd()
            caller = [p for p in caller if p != cwd]
        head = [str(function.code_dir), *(str(p) for p in function.layers)]
        return head + [p for p in caller if p not in head]

    # -- invoking -------------------------------------------------------------------

    def invoke(self, function: str, payload: Any) -> Any:
        """``Services.invoke_lambda``: the handler's JSON-decoded result."""
        return json.loads(self.invoke_raw(function, payload))

    def invoke_raw(self, function: str, payload: Any) -> bytes:
        """The handler's result as the JSON text (bytes) the worker sent."""
        try:
            body = json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            raise LambdaFunctionError(
                "Lambda.InvalidRequestContentException",
                {"errorType": "InvalidRequestContentException", "errorMessage": str(exc)},
            ) from None
        return self.invoke_json(function, body)

    def invoke_json(self, function: str, body: bytes) -> bytes:
        """``Services.invoke_lambda_json``: ``body`` is the event as JSON text; the result
        comes back as JSON text, so a caller that encodes and decodes anyway does it once."""
        target = self.lookup(function)
        if target.unsupported:
            raise LambdaFunctionError(
                "Runtime.InvalidRuntime",
                {
                    "errorType": "Runtime.InvalidRuntime",
                    "errorMessage": f"{target.logical_id} cannot run locally: {target.unsupported}",
                },
            )
        if len(body) > MAX_PAYLOAD_BYTES:
            message = (
                f"{len(body)} byte payload is too large for the Invoke operation "
                f"(limit {MAX_PAYLOAD_BYTES} bytes)"
            )
            raise LambdaFunctionError(
                "Lambda.RequestTooLargeException",
                {"errorType": "RequestTooLargeException", "errorMessage": message},
            )
        request_id = _request_id()
        worker = self._acquire(target)
        cold = worker.invocations == 0
        started = time.monotonic()
        error: str | None = None
        try:
            result = worker.invoke(body, request_id)
        except LambdaFunctionError as exc:
            error = exc.error_type
            raise
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            if cold and not worker.prewarmed:  # a prewarmed one waited idle: not its start
                took = time.monotonic() - worker.started_at
                with self._lock:
                    seen = self._cold_start_seconds
                    seen[target.logical_id] = max(seen.get(target.logical_id, 0.0), took)
            if self.record_invocations:
                duration = worker.last_duration_ms
                if duration is None:  # no reply: timed out or died; billed until then
                    duration = (time.monotonic() - started) * 1000
                self.invocations.append(
                    InvocationRecord(
                        target.logical_id, duration, worker.init_ms if cold else None, error
                    )
                )
            if worker.abandoned is None:
                self._release(worker)
            else:  # it keeps its slot until its reply is in
                threading.Thread(
                    target=self._finish_abandoned,
                    args=(worker,),
                    name="lambda-abandoned",
                    daemon=True,
                ).start()
        if len(result) > MAX_PAYLOAD_BYTES:
            message = (
                f"Response payload size ({len(result)} bytes) exceeded maximum allowed payload "
                f"size ({MAX_PAYLOAD_BYTES} bytes)."
            )
            raise LambdaFunctionError(
                "Function.ResponseSizeTooLarge",
                {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message},
            )
        return result

    def _acquire(self, function: LocalFunction, wait_for_warm: bool = True) -> Worker:
        """A concurrency slot, then the warmest idle environment of the function, one that
        becomes idle within a cold start's time (see the class docstring), or a new one
        (retiring the least recently used idle environment when there are too many)."""
        self._slots.acquire()
        try:
            worker = self._take_idle(function, wait_for_warm and self.wait_for_warm)
        except BaseException:
            self._slots.release()
            raise
        if worker is not None:
            return worker
        victim: Worker | None = None
        with self._lock:
            self._total += 1
            self._in_use[function.logical_id] += 1
            if self._total > self.max_environments:
                victim = self._least_recently_used_idle()
                if victim is not None:
                    self._total -= 1
            self.cold_starts += 1
        if victim is not None:
            victim.close()
        try:
            log_path = self.log_dir / f"{function.name}.log"
            worker = Worker(
                function,
                self._worker_env(function),
                self._sys_path(function),
                log_path,
                self.zygote,
            )
        except BaseException:
            with self._lock:
                self._total -= 1
                self._in_use[function.logical_id] -= 1
                self._wake_one(function.logical_id)
            self._slots.release()
            raise
        with self._lock:
            self._busy.add(worker)
        return worker

    def prewarm(self, functions: Sequence[str]) -> threading.Thread:
        """Starts one environment of each of ``functions``, one after another in the order
        given, in a background thread (after the zygote, if any, is ready), each idle for
        the first invocation that needs it; for a batch run that knows which functions it
        will call, so their cold starts happen while the run does other work instead of
        each waiting for the one before (Lambda itself sometimes initialises environments
        ahead of invocations too). One at a time, so the first in the list is ready first
        and the run keeps a CPU meanwhile. A function that already has an environment, or
        one that fails to start (its invocation then reports why), gets none. The first
        invocation of a prewarmed environment is still its cold start (``init_ms``
        recorded). Returns the thread."""
        targets = [self.lookup(name) for name in functions]

        def start_all() -> None:
            for target in targets:
                self._prewarm_one(target)

        thread = threading.Thread(target=start_all, name="sfnstack-prewarm", daemon=True)
        thread.start()
        return thread

    def _prewarm_one(self, function: LocalFunction) -> None:
        if self.zygote is not None:
            self.zygote.wait_ready(INIT_TIMEOUT_SECONDS)
        key = function.logical_id
        with self._lock:
            if (
                self._closed
                or function.unsupported
                or self._idle.get(key)
                or self._in_use[key]
                or self._total >= self.max_environments
            ):
                return
            self._total += 1
            self._in_use[key] += 1  # starting: a waiting invocation waits for this one
            self.cold_starts += 1
        worker: Worker | None = None
        started = time.monotonic()
        try:
            worker = Worker(
                function,
                self._worker_env(function),
                self._sys_path(function),
                self.log_dir / f"{function.name}.log",
                self.zygote,
            )
        except Exception:  # its invocation starts one and reports the error
            worker = None
        with self._lock:
            self._in_use[key] -= 1
            if worker is not None:  # how long an invocation would wait for one (at least)
                seen = self._cold_start_seconds
                seen[key] = max(seen.get(key, 0.0), time.monotonic() - started)
            if worker is not None and not self._closed:
                worker.prewarmed = True
                worker.last_used = time.monotonic()
                self._idle[key].append(worker)
                worker = None
            else:
                self._total -= 1
            self._wake_one(key)
        if worker is not None:  # the pool closed meanwhile
            worker.close()

    def _take_idle(self, function: LocalFunction, wait: bool) -> Worker | None:
        """An idle environment of ``function`` (marked busy), waiting for one while another
        is in use, up to the cold-start estimate; None: start a new one."""
        deadline: float | None = None
        key = function.logical_id
        while True:
            waiter: Any = None
            with self._lock:
                idle = self._idle.setdefault(key, collections.deque())
                while idle:
                    worker = idle.pop()  # the most recently used: warmest
                    if worker.alive:
                        self._busy.add(worker)
                        self._in_use[key] += 1
                        return worker
                    self._total -= 1  # died while idle: Lambda would just replace it
                if not wait or self._closed or self._in_use[key] == 0:
                    return None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._cold_start_estimate(key)
                if now >= deadline:
                    return None
                hub = current_hub()
                waiter = hub.signal() if hub is not None else threading.Event()
                self._warm_waiters[key].append(waiter)
            try:
                waiter.wait(deadline - now)
            finally:
                with self._lock:
                    waiters = self._warm_waiters[key]
                    if waiter in waiters:  # timed out or interrupted
                        waiters.remove(waiter)
            # woken or timed out: look again (another caller may have won the environment)

    def _cold_start_estimate(self, key: str) -> float:
        # Under self._lock.
        seen = self._cold_start_seconds
        if key in seen:
            return seen[key]
        return max(seen.values(), default=DEFAULT_COLD_START_ESTIMATE)

    def _wake_one(self, key: str) -> None:
        # Under self._lock: an environment of ``key`` became idle or went away.
        waiters = self._warm_waiters.get(key)
        if waiters:
            waiters.popleft().set()

    def _finish_abandoned(self, worker: Worker) -> None:
        try:
            worker.finish()
        finally:
            self._release(worker)

    def _least_recently_used_idle(self) -> Worker | None:
        oldest: collections.deque[Worker] | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].last_used < oldest[0].last_used):
                oldest = idle
        return oldest.popleft() if oldest is not None else None

    def _release(self, worker: Worker) -> None:
        # The environment goes back before the slot, so whoever gets the slot finds it.
        with self._lock:
            self._busy.discard(worker)
            key = worker.function.logical_id
            self._in_use[key] -= 1
            # A failed invocation kills (and closes) its worker; a finished one is alive.
            reuse = not worker.closed and not self._closed
            if reuse:
                worker.last_used = time.monotonic()
                self._idle[key].append(worker)
            else:
                self._total -= 1
            self._wake_one(key)
        self._slots.release()
        if not reuse:
            worker.close()

    def retire(self, function: str, only: Collection[Worker] | None = None) -> list[Worker]:
        """Close the function's idle environments (of ``only``, if given), so its next
        invocation starts a fresh one: its code changed (serve's hot reload). Busy ones
        finish their invocation undisturbed; they are returned (of ``only``, if given), to
        retire again once they are idle."""
        logical_id = self.lookup(function).logical_id
        with self._lock:
            idle = self._idle.get(logical_id, collections.deque())
            retired = [w for w in idle if only is None or w in only]
            for worker in retired:
                idle.remove(worker)
            self._total -= len(retired)
            busy = [
                w
                for w in self._busy
                if w.function.logical_id == logical_id and (only is None or w in only)
            ]
        for worker in retired:
            worker.close()
        return busy

    def warm(self, function: str, count: int = 1) -> None:
        """Start ``count`` environments of a function ahead of use (benchmarks, serve)."""
        target = self.lookup(function)
        workers = [
            self._acquire(target, wait_for_warm=False) for _ in range(min(count, self.max_workers))
        ]
        for worker in workers:
            self._release(worker)

    # -- shutdown -------------------------------------------------------------------

    @property
    def worker_count(self) -> int:
        with self._lock:
            return self._total

    def close(self) -> None:
        self._slots.close()  # waiting callers get "closed"
        with self._lock:
            self._closed = True
            for waiters in self._warm_waiters.values():
                while waiters:
                    waiters.popleft().set()
        self._finalizer()
        if self._owns_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    @staticmethod
    def _shutdown(
        idle: dict[str, collections.deque[Worker]], busy: set[Worker], zygote: Zygote | None
    ) -> None:
        if zygote is not None:
            zygote.close()
        idle_workers = [w for queue in idle.values() for w in queue]
        busy_workers = list(busy)
        for queue in idle.values():
            queue.clear()
        for worker in idle_workers:
            worker._close_pipes()  # EOF: idle workers exit on their own
        for worker in busy_workers:
            # Mid-invocation: its caller's thread still reads the pipes; a kill makes that
            # invocation end (Runtime.ExitError) and the caller closes them.
            if worker.process.poll() is None:
                worker.process.kill()
        workers = idle_workers + busy_workers
        deadline = time.monotonic() + 2
        for worker in workers:
            try:
                worker.process.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def __enter__(self) -> LambdaPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
