"""Task tokens: the ``.waitForTaskToken`` pattern.

A Task state whose resource ends in ``.waitForTaskToken`` gets a token (``$$.Task.Token``
in its Parameters), makes its call, then waits until someone hands the token back with
SendTaskSuccess, SendTaskFailure or SendTaskHeartbeat (``sfnstack serve``'s Step Functions
API, or a test calling ``TaskTokens`` directly), within its TimeoutSeconds and, between
heartbeats, HeartbeatSeconds. The wait is on the execution's hub
(``sfnstack.cooperative``): the task's greenlet sleeps on a signal that the thread
answering SendTask* sets, and the execution's other branches run meanwhile.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ..asl.errors import HEARTBEAT_TIMEOUT, TIMEOUT, StateFailure
from ..asl.jsonvalue import MAX_STATE_DATA_BYTES
from ..cooperative import Signal, current_hub

if TYPE_CHECKING:
    from ..asl.context import Execution, Frame

# Tokens of tasks that are over, kept to answer "TaskTimedOut" rather than "InvalidToken"
# when one comes back late (AWS keeps them for the execution's life).
_FINISHED_KEPT = 10_000
_POLL_SECONDS = 0.1  # how often a waiting task looks at stop / cancel / its clocks


class TaskTokenError(Exception):
    """What SendTask* answers for a token it cannot take: ``code`` is the Step Functions
    API's error name (InvalidToken, TaskTimedOut, TaskDoesNotExist, InvalidOutput)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Pending:
    __slots__ = ("execution_arn", "heartbeat_at", "outcome", "signal", "state")

    def __init__(self, execution_arn: str, state: str, signal: Signal) -> None:
        self.execution_arn = execution_arn
        self.state = state
        self.signal = signal
        self.heartbeat_at = time.monotonic()
        # ("success", output) or ("failure", (error, cause)); None while waiting
        self.outcome: tuple[str, Any] | None = None


class TaskTokens:
    """The tokens of the tasks waiting in one runtime's executions (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._finished: collections.OrderedDict[str, str] = collections.OrderedDict()

    # -- the waiting side (a Task state on its execution's hub) -----------------------

    def issue(self, execution_arn: str, state: str) -> str:
        """A new token for the task ``state`` of ``execution_arn``; call from the hub."""
        hub = current_hub()
        if hub is None:
            raise RuntimeError("a task token is issued on the execution's hub")
        raw = json.dumps({"e": execution_arn, "s": state}).encode() + b"|" + os.urandom(24)
        token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        with self._lock:
            self._pending[token] = _Pending(execution_arn, state, hub.signal())
        return token

    def wait(
        self,
        token: str,
        ex: Execution,
        frame: Frame,
        *,
        timeout: int | None,
        heartbeat: int | None,
        started: float,
    ) -> Any:
        """Until the token comes back: the output of SendTaskSuccess, or the
        ``StateFailure`` of SendTaskFailure, States.Timeout (``timeout`` seconds after
        ``started``) or States.HeartbeatTimeout (``heartbeat`` seconds without one)."""
        with self._lock:
            pending = self._pending.get(token)
        if pending is None:
            raise RuntimeError(f"task token {token!r} was not issued")
        try:
            while pending.outcome is None:
                now = time.monotonic()
                if timeout is not None and now - started >= timeout:
                    raise StateFailure(TIMEOUT, None)
                if heartbeat is not None and now - pending.heartbeat_at >= heartbeat:
                    raise StateFailure(HEARTBEAT_TIMEOUT, None)
                if pending.signal.wait(_POLL_SECONDS):
                    pending.signal.is_set = False  # a heartbeat sets it too
                ex.check(frame.scope)
            kind, value = pending.outcome
            if kind == "failure":
                raise StateFailure(*value)
            return value
        finally:
            self.release(token, "finished")

    def release(self, token: str, why: str = "finished") -> None:
        """The task is over (answered, timed out, stopped): a late answer is TaskTimedOut."""
        with self._lock:
            if self._pending.pop(token, None) is not None:
                self._finished[token] = why
                while len(self._finished) > _FINISHED_KEPT:
                    self._finished.popitem(last=False)

    # -- the answering side (SendTask*, any thread) -------------------------------------

    def succeed(self, token: str, output: str) -> None:
        """SendTaskSuccess: ``output`` is JSON text."""
        if not isinstance(output, str) or len(output.encode()) > MAX_STATE_DATA_BYTES:
            raise TaskTokenError("InvalidOutput", "output must be JSON text of at most 256 KiB")
        try:
            value = json.loads(output)
        except json.JSONDecodeError as exc:
            raise TaskTokenError("InvalidOutput", f"Invalid output: {exc}") from None
        self._answer(token, ("success", value))

    def fail(self, token: str, error: str | None, cause: str | None) -> None:
        """SendTaskFailure."""
        self._answer(token, ("failure", (error, cause)))

    def heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat: the HeartbeatSeconds clock starts again."""
        pending = self._find(token)
        pending.heartbeat_at = time.monotonic()
        pending.signal.set()

    def waiting(self) -> list[tuple[str, str, str]]:
        """(token, execution ARN, state) of every task waiting for its token."""
        with self._lock:
            return [(t, p.execution_arn, p.state) for t, p in self._pending.items()]

    def _answer(self, token: str, outcome: tuple[str, Any]) -> None:
        with self._lock:
            pending = self._find_locked(token)
            if pending.outcome is not None:  # answered already, not yet released
                raise TaskTokenError("TaskTimedOut", "Task Timed Out: the task is closed")
            pending.outcome = outcome
        pending.signal.set()

    def _find(self, token: str) -> _Pending:
        with self._lock:
            return self._find_locked(token)

    def _find_locked(self, token: str) -> _Pending:
        if not isinstance(token, str) or not 1 <= len(token) <= 2048:
            raise TaskTokenError("InvalidToken", "Invalid token")
        pending = self._pending.get(token)
        if pending is not None:
            return pending
        if token in self._finished:
            raise TaskTokenError(
                "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'"
            )
        raise TaskTokenError("InvalidToken", f"Invalid token: '{token}'")
