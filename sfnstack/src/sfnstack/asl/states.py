"""The state types. Each state compiles its fields once; ``run`` executes one visit."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .choice import compile_rule, parse_timestamp
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
from .jsonata_mode import (
    JSONPATH_ONLY,
    JsonataTemplate,
    QueryEvaluationFailure,
    bindings,
    describe_type,
    is_expression,
)
from .jsonvalue import MAX_STATE_DATA_BYTES, is_number, to_json_string
from .payload import ResultPath, Template
from .references import Reference, compile_path_reference, compile_reference
from .retry import Catcher, Retrier, error_matches

if TYPE_CHECKING:
    from .machine import ProgramBuilder

COMMON_FIELDS = {"Type", "Comment", "QueryLanguage"}
_NULL = object()
_ABORT_EVENTS = frozenset(
    {"Task", "Map", "Parallel", "Wait"}
)  # types with *StateAborted  # "InputPath": null / "OutputPath": null


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
    blocking = False  # may wait on I/O or time (Map runs such iterations on threads)
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
        self.jsonata = language == "JSONata"
        allowed = COMMON_FIELDS | self.FIELDS
        if self.jsonata:
            allowed = (allowed - JSONPATH_ONLY) | self.JSONATA_FIELDS
        unknown = set(spec) - allowed
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {', '.join(sorted(unknown))} for a {self.TYPE} state"
                + (" (JSONata)" if self.jsonata else ""),
                state=name,
            )
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
        self.input_path = self._path_field("InputPath")
        self.output_path = self._path_field("OutputPath")
        self.parameters = self._template("Parameters") if "Parameters" in self.FIELDS else None
        self.result_selector = self._template("ResultSelector")
        self.result_path = (
            ResultPath(spec.get("ResultPath", "$"), state=name) if self.HAS_RESULT else None
        )
        self.assign = self._template("Assign") if not self.jsonata else None
        self.j_output = self._jsonata_field("Output")
        self.j_arguments = self._jsonata_field("Arguments")
        self.j_assign = self._jsonata_field("Assign")
        self.retriers = [Retrier(r, name) for r in self._list("Retry")]
        self.catchers = [Catcher(c, name, jsonata=self.jsonata) for c in self._list("Catch")]
        for field, entries in (("Retry", self.retriers), ("Catch", self.catchers)):
            for entry in entries[:-1]:
                if "States.ALL" in entry.error_equals:
                    raise DefinitionError(
                        f"States.ALL must be in the last {field} entry", state=name, field=field
                    )
        self.entered_type = f"{self.TYPE}StateEntered"
        self.exited_type = f"{self.TYPE}StateExited"

    # -- compile helpers ----------------------------------------------------------------
    def _path_field(self, field: str) -> Any:
        if field not in self.spec or self.jsonata:
            return None
        value = self.spec[field]
        if value is None:
            return _NULL
        try:
            ref = compile_path_reference(value)
        except ValueError as exc:
            raise DefinitionError(str(exc), state=self.name, field=field) from None
        return None if value == "$" else ref

    def _reference(self, field: str, value: Any) -> Reference:
        try:
            return compile_reference(value)
        except ValueError as exc:
            raise DefinitionError(str(exc), state=self.name, field=field) from None

    def _template(self, field: str) -> Template | None:
        if field not in self.spec or field not in self.FIELDS or self.jsonata:
            return None
        return Template(self.spec[field], state=self.name, field=field)

    def _jsonata_field(self, field: str) -> JsonataTemplate | None:
        if not self.jsonata or field not in self.spec:
            return None
        return JsonataTemplate(self.spec[field], state=self.name, field=field)

    def _jsonata_value(self, field: str, frame: Frame, raw: Any) -> Any:
        """A field that is either a literal or a single ``{% %}`` expression."""
        value = self.spec[field]
        if is_expression(value):
            return JsonataTemplate(value, state=self.name, field=field)(bindings(frame, raw))
        return value

    def finish_jsonata(
        self, frame: Frame, raw: Any, default_output: Any, **states_fields: Any
    ) -> Any:
        """Output and Assign of a JSONata state, both seeing the same variables."""
        if self.j_output is None and self.j_assign is None:
            return default_output
        values = bindings(frame, raw, **states_fields)
        output = self.j_output(values) if self.j_output is not None else default_output
        if self.j_assign is not None:
            self._set_variables(self.j_assign(values), frame)
        return output

    @staticmethod
    def _set_variables(values: Any, frame: Frame) -> None:
        if not isinstance(values, dict):
            raise RuntimeFailure("Assign must evaluate to a JSON object")
        if frame.scope.variables is None:
            frame.scope.variables = dict(values)
        else:
            frame.scope.variables.update(values)

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
                if self.jsonata:
                    next_state, output = self.execute_jsonata(ex, raw, frame, track)
                else:
                    next_state, output, assign_source = self.execute(ex, raw, frame, track)
                    if assign_source is not _NULL and self.assign is not None:
                        self._assign(assign_source, frame)
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
                    output = self._caught_output(catcher, error_output, raw, frame)
                except (RuntimeFailure, QueryEvaluationFailure) as late:
                    raise StateFailure(
                        late.error, runtime_prefix(self.name, entered_id) + late.detail
                    ) from None
                history.add(
                    track,
                    self.exited_type,
                    "stateExitedEventDetails",
                    _exited_details,
                    self.name,
                    output,
                )
                return catcher.next, output
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

    def _caught_output(self, catcher: Catcher, error_output: Any, raw: Any, frame: Frame) -> Any:
        if catcher.jsonata:
            values = bindings(frame, raw, errorOutput=error_output)
            output = catcher.output(values) if catcher.output is not None else error_output
            if catcher.j_assign is not None:
                self._set_variables(catcher.j_assign(values), frame)
            return output
        if catcher.assign is not None:
            self._assign_with(catcher.assign, error_output, frame)
        return catcher.result_path.apply(raw, error_output)

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

    def _assign(self, source: Any, frame: Frame) -> None:
        assert self.assign is not None
        self._assign_with(self.assign, source, frame)

    @staticmethod
    def _assign_with(template: Template, source: Any, frame: Frame) -> None:
        values = template(source, frame)
        if not isinstance(values, dict):
            raise RuntimeFailure("Assign must evaluate to a JSON object")
        variables = frame.scope.variables
        if variables is None:
            frame.scope.variables = dict(values)
        else:
            variables.update(values)

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

    # -- the data flow helpers used by execute() ----------------------------------------
    def apply_input_path(self, raw: Any, frame: Frame) -> Any:
        ref = self.input_path
        if ref is None:
            return raw
        if ref is _NULL:
            return {}
        return ref.resolve(raw, frame)

    def apply_output(self, raw: Any, result: Any, frame: Frame) -> Any:
        """ResultSelector, ResultPath, OutputPath."""
        if self.result_selector is not None:
            result = self.result_selector(result, frame)
        output = self.result_path.apply(raw, result) if self.result_path is not None else result
        return self.apply_output_path(output, frame)

    def apply_output_path(self, output: Any, frame: Frame) -> Any:
        ref = self.output_path
        if ref is None:
            return output
        if ref is _NULL:
            return {}
        return ref.resolve(output, frame)

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        """Returns (next state or None, output, value Assign is evaluated against)."""
        raise NotImplementedError

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        """JSONata mode: returns (next state or None, output); applies Assign itself."""
        raise NotImplementedError


class PassState(State):
    TYPE = "Pass"
    FIELDS = frozenset(
        {"Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "Assign"}
    )
    HAS_RESULT = True

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        self.has_result = "Result" in spec
        self.result = spec.get("Result")

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        data = self.apply_input_path(raw, frame)
        if self.has_result:
            result = self.result
        elif self.parameters is not None:
            result = self.parameters(data, frame)
        else:
            result = data
        output = self.apply_output(raw, result, frame)
        return self.next, output, result

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        return self.next, self.finish_jsonata(frame, raw, raw)


class SucceedState(State):
    TYPE = "Succeed"
    FIELDS = frozenset({"InputPath", "OutputPath"})

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        output = self.apply_output_path(self.apply_input_path(raw, frame), frame)
        return None, output, _NULL

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        return None, self.finish_jsonata(frame, raw, raw)


class FailState(State):
    TYPE = "Fail"
    FIELDS = frozenset({"Error", "ErrorPath", "Cause", "CausePath"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        self.exited_type = ""
        for a, b in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if a in spec and b in spec:
                raise DefinitionError(f"{a} and {b} are mutually exclusive", state=name, field=b)
        self.error = spec.get("Error")
        self.cause = spec.get("Cause")
        for field in ("Error", "Cause", "ErrorPath", "CausePath"):
            if field in spec and not isinstance(spec[field], str):
                if self.jsonata and field in ("Error", "Cause"):
                    continue
                raise DefinitionError(f"{field} must be a string", state=name, field=field)
        self.error_path = (
            self._reference("ErrorPath", spec["ErrorPath"]) if "ErrorPath" in spec else None
        )
        self.cause_path = (
            self._reference("CausePath", spec["CausePath"]) if "CausePath" in spec else None
        )

    def _resolve(self, ref: Reference, field: str, raw: Any, frame: Frame) -> Any:
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

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        error = (
            self._resolve(self.error_path, "ErrorPath", raw, frame)
            if self.error_path
            else self.error
        )
        cause = (
            self._resolve(self.cause_path, "CausePath", raw, frame)
            if self.cause_path
            else self.cause
        )
        raise StateFailure(error, cause)

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        error = self._jsonata_value("Error", frame, raw) if "Error" in self.spec else None
        cause = self._jsonata_value("Cause", frame, raw) if "Cause" in self.spec else None
        for field, value in (("Error", error), ("Cause", cause)):
            if value is not None and not isinstance(value, str):
                raise QueryEvaluationFailure(
                    f"The {field} field must be a string, but was {describe_type(value)}: "
                    f"{to_json_string(value)}"
                )
        raise StateFailure(error, cause)


class ChoiceState(State):
    TYPE = "Choice"
    FIELDS = frozenset({"Choices", "Default", "InputPath", "OutputPath", "Assign"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        choices = spec.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise DefinitionError("Choices must be a non-empty list", state=name, field="Choices")
        self.rules = []
        self.j_rules = []
        for rule in choices:
            if not isinstance(rule, dict) or not isinstance(rule.get("Next"), str):
                raise DefinitionError(
                    "every top-level choice rule needs a Next", state=name, field="Choices"
                )
            if self.jsonata:
                self.j_rules.append(self._jsonata_rule(rule))
                continue
            assign = (
                Template(rule["Assign"], state=name, field="Choices.Assign")
                if "Assign" in rule
                else None
            )
            self.rules.append(
                (compile_rule(rule, state=name, top_level=True), rule["Next"], assign)
            )
        self.default = spec.get("Default")

    def _jsonata_rule(self, rule: dict[str, Any]) -> tuple[Any, str, Any, Any]:
        unknown = set(rule) - {"Condition", "Next", "Output", "Assign", "Comment"}
        if unknown or "Condition" not in rule:
            raise DefinitionError(
                "a JSONata choice rule has Condition, Next and optionally Output/Assign"
                + (f" (unknown: {sorted(unknown)})" if unknown else ""),
                state=self.name,
                field="Choices",
            )
        condition = JsonataTemplate(rule["Condition"], state=self.name, field="Condition")
        output = (
            JsonataTemplate(rule["Output"], state=self.name, field="Output")
            if "Output" in rule
            else None
        )
        assign = (
            JsonataTemplate(rule["Assign"], state=self.name, field="Assign")
            if "Assign" in rule
            else None
        )
        return condition, rule["Next"], output, assign

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        values = bindings(frame, raw)
        for condition, next_state, output, assign in self.j_rules:
            matched = condition(values)
            if not isinstance(matched, bool):
                raise QueryEvaluationFailure(
                    "The Condition field must evaluate to a boolean, but was "
                    f"{describe_type(matched)}: {to_json_string(matched)}"
                )
            if matched:
                result = output(values) if output is not None else raw
                if assign is not None:
                    self._set_variables(assign(values), frame)
                return next_state, result
        if self.default is None:
            raise StateFailure(NO_CHOICE_MATCHED, f"No Matches! (state '{self.name}')")
        return self.default, self.finish_jsonata(frame, raw, raw)

    def targets(self) -> list[str]:
        out = [r[1] for r in self.j_rules]
        out += [next_state for _, next_state, _ in self.rules]
        if self.default:
            out.append(self.default)
        return out

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        data = self.apply_input_path(raw, frame)
        output = self.apply_output_path(data, frame)
        for rule, next_state, assign in self.rules:
            if rule(data, frame):
                if assign is not None:
                    self._assign_with(assign, data, frame)
                return next_state, output, data
        if self.default is None:
            raise StateFailure(
                NO_CHOICE_MATCHED,
                f"No Matches! (state '{self.name}', input {to_json_string(data)})",
            )
        return self.default, output, data


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
        self.kind = given[0]
        value = spec[self.kind]
        self.value = value
        self.ref = None
        if self.jsonata and is_expression(value):
            return  # checked when evaluated
        if self.kind == "Seconds" and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise DefinitionError(
                "Seconds must be a non-negative integer", state=name, field="Seconds"
            )
        if self.kind == "Timestamp" and (
            not isinstance(value, str) or parse_timestamp(value) is None
        ):
            raise DefinitionError(
                "Timestamp must be an ISO-8601 timestamp", state=name, field="Timestamp"
            )
        self.value = value
        self.ref = self._reference(self.kind, value) if self.kind.endswith("Path") else None

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        data = self.apply_input_path(raw, frame)
        if self.kind == "Seconds":
            seconds = float(self.value)
        elif self.kind == "Timestamp":
            seconds = (parse_timestamp(self.value) - datetime.now(UTC)).total_seconds()  # type: ignore[operator]  # a valid timestamp: checked in __init__
        elif self.kind == "SecondsPath":
            assert self.ref is not None
            value = self.ref.resolve(data, frame)
            if not is_number(value) or (isinstance(value, float) and not value.is_integer()):
                raise RuntimeFailure(
                    f"The SecondsPath parameter cannot be parsed as a long value: {self.value} == {to_json_string(value)}"
                )
            if value < 0:
                raise RuntimeFailure(
                    f"The SecondsPath parameter references a negative value: {self.value} == {to_json_string(value)}"
                )
            seconds = float(value)
        else:
            assert self.ref is not None
            value = self.ref.resolve(data, frame)
            moment = parse_timestamp(value) if isinstance(value, str) else None
            if moment is None:
                shown = value if isinstance(value, str) else to_json_string(value)
                raise RuntimeFailure(
                    "The TimestampPath parameter does not reference a valid ISO-8601 extended "
                    f"offset date-time format string: {self.value} == {shown}"
                )
            seconds = (moment - datetime.now(UTC)).total_seconds()
        if seconds > 0 and math.isfinite(seconds):
            ex.wait(seconds, frame.scope)
        output = self.apply_output_path(data, frame)
        return self.next, output, data

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        value = self._jsonata_value(self.kind, frame, raw)
        if self.kind == "Seconds":
            if not is_number(value) or float(value) != int(value) or value < 0:
                raise QueryEvaluationFailure(
                    "The Seconds field must be a non-negative integer, but was "
                    f"{to_json_string(value)}"
                )
            seconds = float(value)
        else:
            moment = parse_timestamp(value) if isinstance(value, str) else None
            if moment is None:
                shown = value if isinstance(value, str) else to_json_string(value)
                raise QueryEvaluationFailure(
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                    f"date-time format string: {shown}"
                )
            seconds = (moment - datetime.now(UTC)).total_seconds()
        if seconds > 0 and math.isfinite(seconds):
            ex.wait(seconds, frame.scope)
        return self.next, self.finish_jsonata(frame, raw, raw)
