"""A state's query language, chosen once when the definition is read.

The same field means different things in a JSONPath and in a JSONata state: in JSONPath
a state reads its input through InputPath, builds its payload with Parameters, and places
its result with ResultSelector, ResultPath and OutputPath, all ``$.paths`` and ``.$``
templates; in JSONata it builds its payload with Arguments and its output with Output,
``{% %}`` expressions over ``$states``. Each state compiles its fields through one of the
two classes below (``fields_for``), so it holds objects that already are the JSONPath or
the JSONata variant and has a single ``execute``. (LocalStack's interpreter likewise picks
each field's variant when it parses the definition.)

Both classes offer the same compiled pieces, all called with the state's *data*: what
InputPath selected in JSONPath, the raw state input in JSONata (which has no InputPath).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .choice import compile_rule
from .errors import DefinitionError, RuntimeFailure
from .jsonata_mode import (
    JsonataTemplate,
    QueryEvaluationFailure,
    bindings,
    describe_type,
    is_expression,
)
from .jsonvalue import to_json_string
from .payload import ResultPath, Template
from .references import Reference, compile_path_reference, compile_reference

if TYPE_CHECKING:
    from .context import Frame

Compiled = Callable[[Any, "Frame"], Any]  # (data, frame) -> value
NO_MATCH = object()  # a Choice rule that does not apply
_NULL = object()  # "InputPath": null / "OutputPath": null


def set_variables(values: Any, frame: Frame) -> None:
    """Assign: the evaluated object's entries become (or replace) workflow variables."""
    if not isinstance(values, dict):
        raise RuntimeFailure("Assign must evaluate to a JSON object")
    if frame.scope.variables is None:
        frame.scope.variables = dict(values)
    else:
        frame.scope.variables.update(values)


def unchanged(value: Any) -> Any:
    return value


def _constant(value: Any) -> Compiled:
    return lambda data, frame: value


class StateFields(abc.ABC):
    """What both languages compile; ``fields_for`` picks the subclass."""

    jsonata = False
    ARGUMENTS = ""  # the payload field: Parameters or Arguments

    def __init__(self, state: str, spec: dict[str, Any], allowed: frozenset[str]) -> None:
        self.state = state
        self.spec = spec
        self.allowed = allowed

    def error(self, problem: str, field: str) -> DefinitionError:
        return DefinitionError(problem, state=self.state, field=field)

    # Compiled per state. finish_result: the output of a state with a result (Task,
    # Parallel, Map, JSONPath Pass); finish_plain: of one without (Wait, Succeed, Choice's
    # Default); both apply Assign. template: a payload template (Parameters / Arguments,
    # ItemSelector, BatchInput...).
    @abc.abstractmethod
    def input(self, raw: Any, frame: Frame) -> Any: ...

    @abc.abstractmethod
    def output_path(self, data: Any, frame: Frame) -> Any: ...

    @abc.abstractmethod
    def arguments(self, data: Any, frame: Frame) -> Any: ...

    @abc.abstractmethod
    def finish_result(self, raw: Any, result: Any, frame: Frame) -> Any: ...

    @abc.abstractmethod
    def finish_plain(self, data: Any, frame: Frame) -> Any: ...

    @abc.abstractmethod
    def template(self, value: Any, field: str) -> Compiled: ...

    def value(
        self,
        field: str,
        *,
        resolve_path: Callable[[Reference, str, Any, Frame], Any] | None = None,
        check: Callable[[Any], Any] | None = None,
        convert_literal: Callable[[Any], Any] | None = None,
        default: Any = None,
        spec: dict[str, Any] | None = None,
    ) -> Compiled:
        """A field given as a literal (``default`` when absent), a ``<field>Path`` (JSONPath:
        read by ``resolve_path(ref, path_field, data, frame)``; a literal goes through
        ``convert_literal``) or an expression (JSONata: ``check`` validates and converts
        the value, a literal's too). ``spec``: where the field is (a nested object such as
        ReaderConfig), else the state."""
        where = self.spec if spec is None else spec
        return self._value(where, field, default, resolve_path, check, convert_literal)

    @abc.abstractmethod
    def _value(self, spec: dict[str, Any], field: str, default: Any, *rules: Any) -> Compiled: ...

    @abc.abstractmethod
    def catch_output(self, spec: dict[str, Any]) -> Callable[[Any, Any, Frame], Any]:
        """A Catch entry's (raw input, error output, frame) -> state output, with Assign."""

    @abc.abstractmethod
    def choice_rule(self, spec: dict[str, Any]) -> ChoiceRule: ...


class ChoiceRule:
    __slots__ = ("choose", "next")

    def __init__(self, next_state: str, choose: Callable[[Any, Any, Frame], Any]) -> None:
        self.next = next_state
        # (data, state output, frame) -> the output when the rule applies, else NO_MATCH
        self.choose = choose


class JsonPathFields(StateFields):
    ARGUMENTS = "Parameters"

    def __init__(self, state: str, spec: dict[str, Any], allowed: frozenset[str]) -> None:
        super().__init__(state, spec, allowed)
        self._input = self._path_field("InputPath")
        self._output = self._path_field("OutputPath")
        self._parameters = self._template_field("Parameters")
        self._selector = self._template_field("ResultSelector")
        # Only the states with a result accept a ResultPath field; for the others it is "$".
        self.result_path = ResultPath(spec.get("ResultPath", "$"), state=state)
        self._assign = self._template_field("Assign")

    def _path_field(self, field: str) -> Any:
        if field not in self.spec:
            return None
        value = self.spec[field]
        if value is None:
            return _NULL
        try:
            ref = compile_path_reference(value)
        except ValueError as exc:
            raise self.error(str(exc), field) from None
        return None if value == "$" else ref

    def _template_field(self, field: str) -> Template | None:
        if field not in self.spec or field not in self.allowed:
            return None
        return Template(self.spec[field], state=self.state, field=field)

    def input(self, raw: Any, frame: Frame) -> Any:
        ref = self._input
        if ref is None:
            return raw
        if ref is _NULL:
            return {}
        return ref.resolve(raw, frame)

    def output_path(self, data: Any, frame: Frame) -> Any:
        ref = self._output
        if ref is None:
            return data
        if ref is _NULL:
            return {}
        return ref.resolve(data, frame)

    def arguments(self, data: Any, frame: Frame) -> Any:
        parameters = self._parameters
        return parameters(data, frame) if parameters is not None else data

    def finish_result(self, raw: Any, result: Any, frame: Frame) -> Any:
        if self._selector is not None:
            result = self._selector(result, frame)
        output = self.output_path(self.result_path.apply(raw, result), frame)
        if self._assign is not None:
            set_variables(self._assign(result, frame), frame)
        return output

    def finish_plain(self, data: Any, frame: Frame) -> Any:
        output = self.output_path(data, frame)
        if self._assign is not None:
            set_variables(self._assign(data, frame), frame)
        return output

    def reference(self, source: Any, field: str) -> Reference:
        try:
            return compile_reference(source)
        except ValueError as exc:
            raise self.error(str(exc), field) from None

    def template(self, value: Any, field: str) -> Compiled:
        return Template(value, state=self.state, field=field)

    def _value(self, spec: dict[str, Any], field: str, default: Any, *rules: Any) -> Compiled:
        resolve_path, _check, convert_literal = rules
        path_field = f"{field}Path"
        if path_field in spec and resolve_path is not None:
            ref = self.reference(spec[path_field], path_field)
            return lambda data, frame: resolve_path(ref, path_field, data, frame)
        literal = spec.get(field, default)
        if convert_literal is None:
            return _constant(literal)
        return lambda data, frame: convert_literal(literal)

    def catch_output(self, spec: dict[str, Any]) -> Callable[[Any, Any, Frame], Any]:
        result_path = ResultPath(spec.get("ResultPath", "$"), state=self.state)
        assign = (
            Template(spec["Assign"], state=self.state, field="Catch.Assign")
            if "Assign" in spec
            else None
        )

        def caught(raw: Any, error_output: Any, frame: Frame) -> Any:
            if assign is not None:
                set_variables(assign(error_output, frame), frame)
            return result_path.apply(raw, error_output)

        return caught

    def choice_rule(self, spec: dict[str, Any]) -> ChoiceRule:
        test = compile_rule(spec, state=self.state, top_level=True)
        rule_assign = (
            Template(spec["Assign"], state=self.state, field="Choices.Assign")
            if "Assign" in spec
            else None
        )
        state_assign = self._assign

        def choose(data: Any, output: Any, frame: Frame) -> Any:
            if not test(data, frame):
                return NO_MATCH
            if rule_assign is not None:
                set_variables(rule_assign(data, frame), frame)
            if state_assign is not None:
                set_variables(state_assign(data, frame), frame)
            return output

        return ChoiceRule(spec["Next"], choose)


class JsonataFields(StateFields):
    jsonata = True
    ARGUMENTS = "Arguments"

    def __init__(self, state: str, spec: dict[str, Any], allowed: frozenset[str]) -> None:
        super().__init__(state, spec, allowed)
        self._output = self._expression_field("Output")
        self._arguments = self._expression_field("Arguments")
        self._assign = self._expression_field("Assign")

    def _expression_field(self, field: str) -> JsonataTemplate | None:
        if field not in self.spec:
            return None
        return JsonataTemplate(self.spec[field], state=self.state, field=field)

    def input(self, raw: Any, frame: Frame) -> Any:
        return raw

    def output_path(self, data: Any, frame: Frame) -> Any:
        return data

    def arguments(self, data: Any, frame: Frame) -> Any:
        arguments = self._arguments
        return arguments(bindings(frame, data)) if arguments is not None else data

    def _finish(self, data: Any, default_output: Any, frame: Frame, **states_fields: Any) -> Any:
        """Output and Assign, both seeing the same variables."""
        if self._output is None and self._assign is None:
            return default_output
        values = bindings(frame, data, **states_fields)
        output = self._output(values) if self._output is not None else default_output
        if self._assign is not None:
            set_variables(self._assign(values), frame)
        return output

    def finish_result(self, raw: Any, result: Any, frame: Frame) -> Any:
        return self._finish(raw, result, frame, result=result)

    def finish_plain(self, data: Any, frame: Frame) -> Any:
        return self._finish(data, data, frame)

    def template(self, value: Any, field: str) -> Compiled:
        template = JsonataTemplate(value, state=self.state, field=field)
        return lambda data, frame: template(bindings(frame, data))

    def _value(self, spec: dict[str, Any], field: str, default: Any, *rules: Any) -> Compiled:
        _resolve_path, check, _convert_literal = rules
        if field not in spec:
            return _constant(default)
        literal = spec[field]
        convert = check or unchanged
        if is_expression(literal):
            expression = JsonataTemplate(literal, state=self.state, field=field)
            return lambda data, frame: convert(expression(bindings(frame, data)))
        return lambda data, frame: convert(literal)

    def catch_output(self, spec: dict[str, Any]) -> Callable[[Any, Any, Frame], Any]:
        output = self._catch_field(spec, "Output")
        assign = self._catch_field(spec, "Assign")

        def caught(raw: Any, error_output: Any, frame: Frame) -> Any:
            values = bindings(frame, raw, errorOutput=error_output)
            result = output(values) if output is not None else error_output
            if assign is not None:
                set_variables(assign(values), frame)
            return result

        return caught

    def _catch_field(self, spec: dict[str, Any], field: str) -> JsonataTemplate | None:
        if field not in spec:
            return None
        return JsonataTemplate(spec[field], state=self.state, field=field)

    def choice_rule(self, spec: dict[str, Any]) -> ChoiceRule:
        unknown = set(spec) - {"Condition", "Next", "Output", "Assign", "Comment"}
        if unknown or "Condition" not in spec:
            raise self.error(
                "a JSONata choice rule has Condition, Next and optionally Output/Assign"
                + (f" (unknown: {sorted(unknown)})" if unknown else ""),
                "Choices",
            )
        condition = JsonataTemplate(spec["Condition"], state=self.state, field="Condition")
        output = self._catch_field(spec, "Output")
        assign = self._catch_field(spec, "Assign")

        def choose(data: Any, _state_output: Any, frame: Frame) -> Any:
            values = bindings(frame, data)
            matched = condition(values)
            if not isinstance(matched, bool):
                raise QueryEvaluationFailure(
                    "The Condition field must evaluate to a boolean, but was "
                    f"{describe_type(matched)}: {to_json_string(matched)}"
                )
            if not matched:
                return NO_MATCH
            result = output(values) if output is not None else data
            if assign is not None:
                set_variables(assign(values), frame)
            return result

        return ChoiceRule(spec["Next"], choose)


def fields_for(
    state: str, spec: dict[str, Any], allowed: frozenset[str], *, jsonata: bool
) -> StateFields:
    cls = JsonataFields if jsonata else JsonPathFields
    return cls(state, spec, allowed)
