"""Per-execution and per-state runtime context: the ``$$`` context object, variables,
stop/cancel checks."""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..cooperative import sleep as cooperative_sleep
from ..services import Services
from .errors import ExecutionAborted, ExecutionTimedOut, HistoryLimitExceeded
from .history import History
from .jsonvalue import DecodedTexts

if TYPE_CHECKING:
    from .machine import StateMachine


def iso_timestamp(moment: datetime) -> str:
    """AWS context timestamps: millisecond precision, 'Z'."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class BranchCancelled(Exception):
    """A sibling Map iteration or Parallel branch failed: stop this one quietly."""


class Execution:
    """What every state of one execution shares."""

    def __init__(
        self,
        machine: StateMachine,
        services: Services,
        history: History,
        *,
        name: str,
        arn: str,
        input: Any,
        start: datetime,
        deadline: float | None,
    ) -> None:
        self.machine = machine
        self.services = services
        self.history = history
        self.decoded_texts = DecodedTexts()
        self.name = name
        self.arn = arn
        self.input = input
        self.start = start
        self.deadline = deadline
        self.stop_event = services.stop_event
        self.region, self.account = machine.region, machine.account
        self.context_execution = {
            "Id": arn,
            "Input": input,
            "StartTime": iso_timestamp(start),
            "Name": name,
            "RoleArn": machine.role_arn,
            "RedriveCount": 0,
        }
        self.context_state_machine = {"Id": machine.arn, "Name": machine.name}

    def child(self, name: str, arn: str, input: Any) -> Execution:
        """A child execution (Distributed Map iteration): own history and $$.Execution,
        shared services, stop event and deadline."""
        child = copy.copy(self)
        child.history = History(record=False, listener=None)
        child.decoded_texts = DecodedTexts()
        child.name, child.arn, child.input = name, arn, input
        child.start = datetime.now(UTC)
        child.context_execution = {
            **self.context_execution,
            "Id": arn,
            "Input": input,
            "Name": name,
            "StartTime": iso_timestamp(child.start),
        }
        return child

    def check(self, scope: Scope) -> None:
        if self.stop_event.is_set():
            raise ExecutionAborted()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ExecutionTimedOut()
        if self.history.limit_reached:
            raise HistoryLimitExceeded()
        for event in scope.cancel_events:
            if event.is_set():
                raise BranchCancelled()

    def wait(self, seconds: float, scope: Scope) -> None:
        """Sleep (Wait states, Retry back-off) on the execution's hub, so the other
        iterations run meanwhile; interruptible by stop/cancel."""
        sleep = self.services.sleep
        if sleep is not time.sleep:
            sleep(seconds)  # an injected (test) clock
            self.check(scope)
            return
        end = time.monotonic() + seconds
        while True:
            self.check(scope)
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            if self.deadline is not None:
                remaining = min(remaining, max(self.deadline - time.monotonic(), 0) + 0.001)
            cooperative_sleep(min(remaining, 0.1))


class Scope:
    """Variables and cancellation for one program run (the execution, a branch or an
    iteration); ``map_item`` is the ``$$.Map.Item`` entry inside Map iterations."""

    __slots__ = ("cancel_events", "map_item", "variables")

    def __init__(
        self,
        variables: dict[str, Any] | None,
        cancel_events: tuple[threading.Event, ...] = (),
        map_item: dict[str, Any] | None = None,
    ) -> None:
        self.variables = variables
        self.cancel_events = cancel_events
        self.map_item = map_item

    def child(
        self, cancel: threading.Event | None = None, map_item: dict[str, Any] | None = None
    ) -> Scope:
        events = (*self.cancel_events, cancel) if cancel is not None else self.cancel_events
        variables = dict(self.variables) if self.variables is not None else None
        return Scope(variables, events, map_item)


class Frame:
    """What expressions inside one state attempt are evaluated against."""

    __slots__ = (
        "_context",
        "entered_time",
        "execution",
        "has_retry",
        "retry_count",
        "scope",
        "state_name",
    )

    def __init__(
        self,
        execution: Execution,
        scope: Scope,
        state_name: str,
        entered_time: datetime,
        retry_count: int = 0,
        has_retry: bool = False,
    ) -> None:
        self.has_retry = has_retry
        self.execution = execution
        self.scope = scope
        self.state_name = state_name
        self.entered_time = entered_time
        self.retry_count = retry_count
        self._context: dict[str, Any] | None = None

    @property
    def variables(self) -> dict[str, Any] | None:
        return self.scope.variables

    def context_object(self) -> dict[str, Any]:
        if self._context is None:
            ex = self.execution
            ctx: dict[str, Any] = {
                "Execution": ex.context_execution,
                "State": {
                    "EnteredTime": iso_timestamp(self.entered_time),
                    "Name": self.state_name,
                },
                "StateMachine": ex.context_state_machine,
            }
            if self.has_retry:
                ctx["State"]["RetryCount"] = self.retry_count
            if self.scope.map_item is not None:
                ctx["Map"] = {"Item": self.scope.map_item}
            self._context = ctx
        return self._context
