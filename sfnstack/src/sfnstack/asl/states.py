"""The state types. Each state compiles its fields once, for its query language
(``language.py``); ``run`` executes one visit."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .choice import parse_timestamp
from .context import BranchCancelled, Execution, Frame, Scope
from .errors import (
    DATA_LIMIT_EXCEEDED,
    NO_CHOICE_MATCHED,
    DefinitionError,
    ExecutionAborted,
    ExecutionTimedOut,
    PathNotFound,
    RuntimeFailure,
    StateFailure,
)
from .history import History, Track
from .jsonata_mode import JSONPATH_ONLY, QueryEvaluationFailure, describe_type, is_expression
from .jsonvalue import MAX_STATE_DATA_BYTES, is_number, to_json_string
from .language import NO_MATCH, fields_for, unchanged
from .references import Reference
from .retry import Catcher, Retrier, error_matches

if TYPE_CHECKING:
    from .machine import ProgramBuilder

COMMON_FIELDS = {"Type", "Comment", "QueryLanguage"}
_ABORT_EVENTS = frozenset({"Task", "Map", "Parallel", "Wait"})  # types with *StateAborted


def _entered_details(history: History, name: str, raw: Any) -> dict[str, Any]:
    return {"name": name, **history.data("input", raw)}


def _exited_details(history: History, name: str, output: Any) -> dict[str, Any]:
    return {"name": name, **history.data("output", output)}


def runtime_prefix(state: str, entered_id: int) -> str:
    return f"An error occurred while executing the state '{state}' (entered at the event id #{entered_id}). "


class State:
    TYPE = ""
    FIELDS: frozenset[str] = frozenset()
    HAS_RESULT = False  # ResultPath / ResultSelector apply
    blocking = False  # may wait on I/O or time (Map and Parallel run such work side by side)
    JSONATA_FIELDS: frozenset[str] = frozenset({"Output"})  # extra fields in JSONata mode

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        self.name = name
        self.spec = spec
        language = spec.get("QueryLanguage", builder.default_language)
        if language not in ("JSONPath", "JSONata"):
            raise DefinitionError(
                "QueryLanguage must be JSONPath or JSONata", state=name, field="QueryLanguage"
            )
        if language == "JSONPath" and builder.default_language == "JSONata":
            raise DefinitionError(
                "a JSONPath state cannot be used when the state machine's QueryLanguage is JSONata",
                state=name,
                field="QueryLanguage",
            )
        jsonata = language == "JSONata"
        allowed = COMMON_FIELDS | self.FIELDS
        if jsonata:
            allowed = (allowed - JSONPATH_ONLY) | self.JSONATA_FIELDS
        unknown = set(spec) - allowed
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {', '.join(sorted(unknown))} for a {self.TYPE} state"
                + (" (JSONata)" if jsonata else ""),
                state=name,
            )
        self.fields = fields_for(name, spec, frozenset(allowed), jsonata=jsonata)
        self.next: str | None = None
        if "Next" in self.FIELDS:
            nxt, end = spec.get("Next"), spec.get("End", False)
            if nxt is not None and end:
                raise DefinitionError("a state cannot have both Next and End", state=name)
            if nxt is None and end is not True:
                raise DefinitionError('missing Next (or "End": true)', state=name, field="Next")
            if nxt is not None and not isinstance(nxt, str):
                raise DefinitionError("Next must be a state name", state=name, field="Next")
            self.next = nxt
        self.retriers = [Retrier(r, name) for r in self._list("Retry")]
        self.catchers = [Catcher(c, name, self.fields) for c in self._list("Catch")]
        for field, entries in (("Retry", self.retriers), ("Catch", self.catchers)):
            for entry in entries[:-1]:
                if "States.ALL" in entry.error_equals:
                    raise DefinitionError(
                        f"States.ALL must be in the last {field} entry", state=name, field=field
                    )
        self.entered_type = f"{self.TYPE}StateEntered"
        self.exited_type = f"{self.TYPE}StateExited"

    # -- compile helpers ----------------------------------------------------------------
    def _list(self, field: str) -> list[Any]:
        if field not in self.FIELDS or field not in self.spec:
            return []
        value = self.spec[field]
        if not isinstance(value, list):
            raise DefinitionError(f"{field} must be a list", state=self.name, field=field)
        return value

    def targets(self) -> list[str]:
        out = [self.next] if self.next else []
        out.extend(c.next for c in self.catchers)
        return out

    # -- execution ----------------------------------------------------------------------
    def run(self, ex: Execution, raw: Any, track: Track, scope: Scope) -> tuple[str | None, Any]:
        history = ex.history
        entered_time = datetime.now(UTC)
        entered_id = history.add(
            track,
            self.entered_type,
            "stateEnteredEventDetails",
            _entered_details,
            self.name,
            raw,
        )
        attempts = [0] * len(self.retriers)
        retry_count = 0
        while True:
            frame = Frame(ex, scope, self.name, entered_time, retry_count, bool(self.retriers))
            try:
                next_state, output = self.execute(ex, raw, frame, track)
                self._check_size(output, history)
                break
            except (ExecutionAborted, ExecutionTimedOut, BranchCancelled):
                if self.TYPE in _ABORT_EVENTS:
                    history.add(track, f"{self.TYPE}StateAborted")
                raise
            except RuntimeFailure as runtime_failure:
                raise StateFailure(
                    runtime_failure.error,
                    runtime_prefix(self.name, entered_id) + runtime_failure.detail,
                ) from None
            except StateFailure as raised:
                failure: StateFailure = raised
                if isinstance(raised, QueryEvaluationFailure):
                    failure = StateFailure(
                        raised.error, runtime_prefix(self.name, entered_id) + raised.detail
                    )
                retrier_index = self._find_retrier(failure.error)
                if retrier_index is not None:
                    retrier = self.retriers[retrier_index]
                    if attempts[retrier_index] < retrier.max_attempts:
                        ex.wait(retrier.delay(attempts[retrier_index]), scope)
                        attempts[retrier_index] += 1
                        retry_count += 1
                        continue
                catcher = self._find_catcher(failure.error)
                if catcher is None:
                    if failure is raised:
                        raise
                    raise failure from None
                error_output = {"Error": failure.error, "Cause": failure.cause}
                try:
                    output = catcher.output(raw, error_output, frame)
                except (RuntimeFailure, QueryEvaluationFailure) as late:
                    raise StateFailure(
                        late.error, runtime_prefix(self.name, entered_id) + late.detail
                    ) from None
                next_state = catcher.next
                break
        if self.exited_type:
            history.add(
                track,
                self.exited_type,
                "stateExitedEventDetails",
                _exited_details,
                self.name,
                output,
            )
        return next_state, output

    def _find_retrier(self, error: str | None) -> int | None:
        for i, retrier in enumerate(self.retriers):
            if error_matches(retrier.error_equals, error):
                return i
        return None

    def _find_catcher(self, error: str | None) -> Catcher | None:
        for catcher in self.catchers:
            if error_matches(catcher.error_equals, error):
                return catcher
        return None

    def _check_size(self, output: Any, history: History) -> None:
        kind = type(output)
        if kind is str:
            if len(output) * 4 < MAX_STATE_DATA_BYTES:
                return
        elif (kind is not dict and kind is not list) or history.within_limit(output):
            return
        if len(history.json(output).encode()) > MAX_STATE_DATA_BYTES:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The state/task '{self.name}' returned a result with a size exceeding "
                "the maximum number of bytes service limit.",
            )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        """One attempt: (next state or None, output), Assign applied. The fields it uses
        were compiled for the state's query language (``self.fields``)."""
        raise NotImplementedError


class PassState(State):
    TYPE = "Pass"
    FIELDS = frozenset(
        {"Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "Assign"}
    )
    HAS_RESULT = True

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        fields = self.fields
        if fields.jsonata:  # a JSONata Pass state's output is its input or its Output
            self.finish = lambda raw, data, frame: fields.finish_plain(raw, frame)
        elif "Result" in spec:
            result = spec["Result"]
            self.finish = lambda raw, data, frame: fields.finish_result(raw, result, frame)
        else:
            self.finish = lambda raw, data, frame: fields.finish_result(
                raw, fields.arguments(data, frame), frame
            )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        return self.next, self.finish(raw, self.fields.input(raw, frame), frame)


class SucceedState(State):
    TYPE = "Succeed"
    FIELDS = frozenset({"InputPath", "OutputPath"})

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        fields = self.fields
        return None, fields.finish_plain(fields.input(raw, frame), frame)


def _path_string(ref: Reference, field: str, raw: Any, frame: Frame) -> Any:
    """ErrorPath / CausePath: must find a string."""
    try:
        value = ref.resolve(raw, frame)
    except PathNotFound:
        raise RuntimeFailure(
            f"The JSONPath '{ref.source}' specified for the field '{field}' could not be "
            f"found in the input '{to_json_string(raw)}'"
        ) from None
    if not isinstance(value, str):
        raise RuntimeFailure(
            f"The JSONPath '{ref.source}' specified for the field '{field}' must resolve "
            f"to a string, found '{to_json_string(value)}'"
        )
    return value


def _string_checker(field: str) -> Any:
    def check(value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise QueryEvaluationFailure(
                f"The {field} field must be a string, but was {describe_type(value)}: "
                f"{to_json_string(value)}"
            )
        return value

    return check


class FailState(State):
    TYPE = "Fail"
    FIELDS = frozenset({"Error", "ErrorPath", "Cause", "CausePath"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        self.exited_type = ""
        for a, b in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if a in spec and b in spec:
                raise DefinitionError(f"{a} and {b} are mutually exclusive", state=name, field=b)
        jsonata = self.fields.jsonata
        for field in ("Error", "Cause", "ErrorPath", "CausePath"):
            if field in spec and not isinstance(spec[field], str):
                if jsonata and field in ("Error", "Cause"):
                    continue
                raise DefinitionError(f"{field} must be a string", state=name, field=field)
        # JSONata evaluates both expressions before checking either value.
        self.error = self.fields.value("Error", resolve_path=_path_string)
        self.cause = self.fields.value("Cause", resolve_path=_path_string)
        self.checks = (
            (_string_checker("Error"), _string_checker("Cause"))
            if jsonata
            else (unchanged, unchanged)
        )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        error, cause = self.error(raw, frame), self.cause(raw, frame)
        check_error, check_cause = self.checks
        raise StateFailure(check_error(error), check_cause(cause))


class ChoiceState(State):
    TYPE = "Choice"
    FIELDS = frozenset({"Choices", "Default", "InputPath", "OutputPath", "Assign"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        choices = spec.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise DefinitionError("Choices must be a non-empty list", state=name, field="Choices")
        self.rules = []
        for rule in choices:
            if not isinstance(rule, dict) or not isinstance(rule.get("Next"), str):
                raise DefinitionError(
                    "every top-level choice rule needs a Next", state=name, field="Choices"
                )
            self.rules.append(self.fields.choice_rule(rule))
        self.default = spec.get("Default")
        # JSONPath names the input that matched nothing; JSONata does not.
        self.show_input = not self.fields.jsonata

    def targets(self) -> list[str]:
        out = [rule.next for rule in self.rules]
        if self.default:
            out.append(self.default)
        return out

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        fields = self.fields
        data = fields.input(raw, frame)
        output = fields.output_path(data, frame)
        for rule in self.rules:
            chosen = rule.choose(data, output, frame)
            if chosen is not NO_MATCH:
                return rule.next, chosen
        if self.default is None:
            shown = f", input {to_json_string(data)}" if self.show_input else ""
            raise StateFailure(NO_CHOICE_MATCHED, f"No Matches! (state '{self.name}'{shown})")
        return self.default, fields.finish_plain(data, frame)


def _whole_seconds(value: Any) -> float:
    if not is_number(value) or float(value) != int(value) or value < 0:
        raise QueryEvaluationFailure(
            f"The Seconds field must be a non-negative integer, but was {to_json_string(value)}"
        )
    return float(value)


def _seconds_until(value: Any) -> float:
    return _until(
        value,
        lambda shown: QueryEvaluationFailure(
            "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
            f"date-time format string: {shown}"
        ),
    )


def _until(value: Any, invalid: Callable[[str], StateFailure]) -> float:
    """Seconds from now until the timestamp ``value``; ``invalid(shown value)`` otherwise."""
    moment = parse_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        raise invalid(value if isinstance(value, str) else to_json_string(value))
    return (moment - datetime.now(UTC)).total_seconds()


def _seconds_path(ref: Reference, field: str, data: Any, frame: Frame) -> float:
    value = ref.resolve(data, frame)
    if not is_number(value) or (isinstance(value, float) and not value.is_integer()):
        raise RuntimeFailure(
            f"The SecondsPath parameter cannot be parsed as a long value: {ref.source} == {to_json_string(value)}"
        )
    if value < 0:
        raise RuntimeFailure(
            f"The SecondsPath parameter references a negative value: {ref.source} == {to_json_string(value)}"
        )
    return float(value)


def _timestamp_path(ref: Reference, field: str, data: Any, frame: Frame) -> float:
    return _until(
        ref.resolve(data, frame),
        lambda shown: RuntimeFailure(
            "The TimestampPath parameter does not reference a valid ISO-8601 extended "
            f"offset date-time format string: {ref.source} == {shown}"
        ),
    )


class WaitState(State):
    TYPE = "Wait"
    FIELDS = frozenset(
        {
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
            "Assign",
        }
    )
    blocking = True

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        given = [f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in spec]
        if len(given) != 1:
            raise DefinitionError(
                "exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required",
                state=name,
            )
        kind = given[0]
        value = spec[kind]
        jsonata = self.fields.jsonata
        if not (jsonata and is_expression(value)):  # expressions are checked when evaluated
            if kind == "Seconds" and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise DefinitionError(
                    "Seconds must be a non-negative integer", state=name, field="Seconds"
                )
            if kind == "Timestamp" and (
                not isinstance(value, str) or parse_timestamp(value) is None
            ):
                raise DefinitionError(
                    "Timestamp must be an ISO-8601 timestamp", state=name, field="Timestamp"
                )
        if kind.startswith("Seconds"):
            self.seconds = self.fields.value(
                "Seconds",
                resolve_path=_seconds_path,
                check=_whole_seconds,
                convert_literal=float,
            )
        else:
            self.seconds = self.fields.value(
                "Timestamp",
                resolve_path=_timestamp_path,
                check=_seconds_until,
                convert_literal=_literal_seconds_until,
            )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        fields = self.fields
        data = fields.input(raw, frame)
        seconds = self.seconds(data, frame)
        if seconds > 0 and math.isfinite(seconds):
            ex.wait(seconds, frame.scope)
        return self.next, fields.finish_plain(data, frame)


def _literal_seconds_until(value: Any) -> float:
    return (parse_timestamp(value) - datetime.now(UTC)).total_seconds()  # type: ignore[operator]  # a valid timestamp: checked in __init__
