"""StateMachine: parse + validate a definition once, execute it any number of times
(concurrently from several threads, each execution on a hub of its own thread)."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import arns
from ..cooperative import run_on_hub
from ..services import Services
from .context import BranchCancelled, Execution, Scope
from .errors import (
    RUNTIME,
    TIMEOUT,
    DefinitionError,
    ExecutionAborted,
    ExecutionTimedOut,
    StateFailure,
)
from .history import History, Track
from .map_state import MapState
from .parallel import ParallelState
from .states import ChoiceState, FailState, PassState, State, SucceedState, WaitState
from .task import TaskState

STATE_TYPES: dict[str, type[State]] = {
    cls.TYPE: cls
    for cls in (
        PassState,
        TaskState,
        ChoiceState,
        WaitState,
        SucceedState,
        FailState,
        ParallelState,
        MapState,
    )
}
_TOP_FIELDS = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
_PROGRAM_FIELDS = {"StartAt", "States", "Comment", "QueryLanguage"}
_SUBSTITUTION = re.compile(r"\$\{[^}]*\}")


@dataclass
class ExecutionResult:
    status: str  # SUCCEEDED | FAILED | ABORTED | TIMED_OUT
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start_date: datetime | None = None
    stop_date: datetime | None = None
    execution_arn: str = ""
    name: str = ""
    # The events, or a callable that builds them: a recorded history is built when read.
    _history: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]] = field(
        default_factory=list, repr=False, compare=False
    )

    @property
    def history(self) -> list[dict[str, Any]]:
        if callable(self._history):
            self._history = self._history()
        return self._history

    @history.setter
    def history(self, events: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]]) -> None:
        self._history = events

    def to_dict(self) -> dict[str, Any]:
        """``{"status": ..., "output": ...}`` or ``{"status": ..., "error": ..., "cause": ...}``."""
        if self.status == "SUCCEEDED":
            return {"status": self.status, "output": self.output}
        return {"status": self.status, "error": self.error, "cause": self.cause}


class Program:
    """A StartAt + States graph: the machine itself, a Parallel branch, a Map processor."""

    def __init__(self, states: dict[str, State], start_at: str) -> None:
        self.states = states
        self.start_at = start_at
        self.blocking = any(s.blocking for s in states.values())

    def run(self, ex: Execution, data: Any, track: Track, scope: Scope) -> Any:
        states = self.states
        state = states[self.start_at]
        check = ex.check
        while True:
            check(scope)
            next_name, data = state.run(ex, data, track, scope)
            if next_name is None:
                return data
            state = states[next_name]


class ProgramBuilder:
    """Builds the machine and its nested programs; state names are unique machine-wide."""

    def __init__(self, default_language: str = "JSONPath") -> None:
        self.names: set[str] = set()
        self.default_language = default_language

    def build(self, spec: Any, where: str, top_level: bool = False) -> Program:
        if not isinstance(spec, dict):
            raise DefinitionError(f"{where} must be an object with StartAt and States")
        unknown = set(spec) - (_TOP_FIELDS if top_level else _PROGRAM_FIELDS)
        if unknown:
            raise DefinitionError(f"unknown field(s) {', '.join(sorted(unknown))} in {where}")
        start_at = spec.get("StartAt")
        states_spec = spec.get("States")
        if not isinstance(start_at, str):
            raise DefinitionError(f"missing StartAt in {where}", field="StartAt")
        if not isinstance(states_spec, dict) or not states_spec:
            raise DefinitionError(f"missing or empty States in {where}", field="States")
        if start_at not in states_spec:
            raise DefinitionError(
                f"StartAt '{start_at}' is not a state in {where}", field="StartAt"
            )
        states: dict[str, State] = {}
        for name, state_spec in states_spec.items():
            if len(name) > 80:
                raise DefinitionError("state names are limited to 80 characters", state=name)
            if not isinstance(state_spec, dict):
                raise DefinitionError("a state must be an object", state=name)
            if name in self.names:
                raise DefinitionError(
                    "duplicate state name (names must be unique in the whole state machine)",
                    state=name,
                )
            self.names.add(name)
            state_type = state_spec.get("Type")
            cls = STATE_TYPES.get(state_type)  # type: ignore[arg-type]  # not a str: None, below
            if cls is None:
                raise DefinitionError(
                    f"unknown state Type {state_type!r} (expected one of {', '.join(STATE_TYPES)})",
                    state=name,
                    field="Type",
                )
            states[name] = cls(name, state_spec, self)
        for name, state in states.items():
            for target in state.targets():
                if target not in states:
                    raise DefinitionError(
                        f"transition to unknown state '{target}'", state=name, field="Next"
                    )
        reachable = {start_at}
        todo = [start_at]
        while todo:
            for target in states[todo.pop()].targets():
                if target not in reachable:
                    reachable.add(target)
                    todo.append(target)
        unreachable = [n for n in states if n not in reachable]
        if unreachable:
            raise DefinitionError(
                f"state is not reachable from StartAt '{start_at}' in {where}", state=unreachable[0]
            )
        return Program(states, start_at)


def _find_substitution(
    value: Any, state: str | None, path: str
) -> tuple[str | None, str, str] | None:
    """The first unresolved ``${...}`` left in the definition: (state, field path, text)."""
    if isinstance(value, str):
        match = _SUBSTITUTION.search(value)
        return (state, path, match.group()) if match else None
    if isinstance(value, dict):
        in_states = path == "States" or path.endswith(".States")
        for key, sub in value.items():
            if in_states:
                found = _find_substitution(sub, key, "")
            else:
                found = _find_substitution(sub, state, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for i, sub in enumerate(value):
            found = _find_substitution(sub, state, f"{path}[{i}]")
            if found:
                return found
    return None


class StateMachine:
    """A parsed, validated state machine (JSONPath or JSONata, per state)."""

    def __init__(
        self,
        definition: dict[str, Any] | str,
        *,
        name: str = "StateMachine",
        arn: str | None = None,
        role_arn: str | None = None,
    ) -> None:
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except json.JSONDecodeError as exc:
                raise DefinitionError(f"the definition is not valid JSON: {exc}") from None
        if not isinstance(definition, dict):
            raise DefinitionError("the definition must be a JSON object")
        found = _find_substitution(definition, None, "")
        if found:
            state, where, text = found
            raise DefinitionError(
                f"unresolved substitution {text} (DefinitionSubstitutions not applied?)",
                state=state,
                field=where or None,
            )
        self.definition = definition
        self.name = name
        self.arn = arn or arns.state_machine_arn(name)
        self.region, self.account = arns.region_and_account(self.arn)
        self.role_arn = role_arn or arns.role_arn(
            "sfnstack-local", self.account, arns.partition_of(self.region)
        )
        timeout = definition.get("TimeoutSeconds")
        if timeout is not None and (
            not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1
        ):
            raise DefinitionError(
                "TimeoutSeconds must be a positive integer", field="TimeoutSeconds"
            )
        self.timeout_seconds = timeout
        language = definition.get("QueryLanguage", "JSONPath")
        if language not in ("JSONPath", "JSONata"):
            raise DefinitionError(
                "QueryLanguage must be JSONPath or JSONata", field="QueryLanguage"
            )
        self.program = ProgramBuilder(language).build(
            definition, "the state machine", top_level=True
        )

    def execute(
        self,
        input: Any = None,
        *,
        services: Services | None = None,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        listener: Callable[[dict[str, Any]], None] | None = None,
        record_history: bool = True,
        stop_event: threading.Event | None = None,
    ) -> ExecutionResult:
        """Run one execution to completion and return its result. Thread-safe: several
        executions may run at once from different threads. Its states, Map iterations and
        Parallel branches run as greenlets of a hub on the calling thread
        (``sfnstack.cooperative``; the caller's hub when called from one's greenlet).

        ``input`` is the decoded JSON input (``None`` means ``{}``, as StartExecution without
        input). ``listener`` receives every history event as it is recorded, on the
        calling thread. ``record_history=False``
        keeps ``result.history`` empty and skips building events nobody listens to.
        Setting ``services.stop_event`` (or ``stop_event``, which overrides it for this
        execution only) aborts the execution: status ``ABORTED``."""
        services = services or Services()
        if stop_event is not None:
            services = dataclasses.replace(services, stop_event=stop_event)
        name = execution_name or str(uuid.uuid4())
        arn = execution_arn or arns.execution_arn(self.name, name, self.region, self.account)
        try:
            data = json.loads(json.dumps({} if input is None else input))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"execution input is not JSON-serializable: {exc}") from None
        history = History(record=record_history, listener=listener)
        start = datetime.now(UTC)
        deadline = time.monotonic() + self.timeout_seconds if self.timeout_seconds else None
        ex = Execution(
            self, services, history, name=name, arn=arn, input=data, start=start, deadline=deadline
        )
        track = Track()
        history.add(
            track,
            "ExecutionStarted",
            "executionStartedEventDetails",
            lambda: {**history.data("input", data), "roleArn": self.role_arn},
        )
        result = ExecutionResult(status="RUNNING", start_date=start, execution_arn=arn, name=name)
        try:
            output = run_on_hub(lambda: self.program.run(ex, data, track, Scope(None)))
            output = json.loads(json.dumps(output))  # the caller owns its copy
            history.add(
                track,
                "ExecutionSucceeded",
                "executionSucceededEventDetails",
                lambda: history.data("output", output),
            )
            result.status, result.output = "SUCCEEDED", output
        except StateFailure as failure:
            details = {
                k: v
                for k, v in (("error", failure.error), ("cause", failure.cause))
                if v is not None
            }
            history.add(track, "ExecutionFailed", "executionFailedEventDetails", details)
            result.status, result.error, result.cause = "FAILED", failure.error, failure.cause
        except (ExecutionAborted, BranchCancelled):
            history.add(track, "ExecutionAborted", "executionAbortedEventDetails", {})
            result.status = "ABORTED"
        except ExecutionTimedOut:
            cause = f"The execution exceeded its TimeoutSeconds ({self.timeout_seconds})"
            history.add(
                track,
                "ExecutionTimedOut",
                "executionTimedOutEventDetails",
                {"error": TIMEOUT, "cause": cause},
            )
            result.status, result.error, result.cause = "TIMED_OUT", TIMEOUT, cause
        except Exception as exc:  # an interpreter defect: fail the execution, do not crash
            cause = (
                f"Internal interpreter error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            )
            history.add(
                track,
                "ExecutionFailed",
                "executionFailedEventDetails",
                {"error": RUNTIME, "cause": cause},
            )
            result.status, result.error, result.cause = "FAILED", RUNTIME, cause
        result.stop_date = datetime.now(UTC)
        result.history = lambda: history.events
        return result
