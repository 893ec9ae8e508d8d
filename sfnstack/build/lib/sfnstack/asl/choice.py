"""Choice rules: comparison operators, And/Or/Not and the Is* tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, PathNotFound, RuntimeFailure
from .jsonvalue import is_number
from .references import Reference, compile_path_reference

if TYPE_CHECKING:
    from .context import Frame

Rule = Callable[[Any, "Frame"], bool]

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


@lru_cache(maxsize=2048)
def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 timestamp as Step Functions accepts it (uppercase T, zone required)."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.match(value)
    if not match:
        return None
    fraction = match.group(7) or ""
    text = value[: match.start(7)] if fraction else value[: match.start(8)]
    zone = match.group(8)
    micro = (fraction[1:] + "000000")[:6] if fraction else "000000"
    try:
        moment = datetime.fromisoformat(f"{text}.{micro}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None
    return moment


def _string_matches(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _num_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: is_number(a) and is_number(b) and op(a, b)


def _str_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: isinstance(a, str) and isinstance(b, str) and op(a, b)


def _ts_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ta = parse_timestamp(a) if isinstance(a, str) else None
        tb = parse_timestamp(b) if isinstance(b, str) else None
        return ta is not None and tb is not None and op(ta, tb)

    return compare


def _eq(a: Any, b: Any) -> bool:
    return a == b


def _lt(a: Any, b: Any) -> bool:
    return a < b


def _gt(a: Any, b: Any) -> bool:
    return a > b


def _le(a: Any, b: Any) -> bool:
    return a <= b


def _ge(a: Any, b: Any) -> bool:
    return a >= b


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": _str_cmp(_eq),
    "StringLessThan": _str_cmp(_lt),
    "StringGreaterThan": _str_cmp(_gt),
    "StringLessThanEquals": _str_cmp(_le),
    "StringGreaterThanEquals": _str_cmp(_ge),
    "NumericEquals": _num_cmp(_eq),
    "NumericLessThan": _num_cmp(_lt),
    "NumericGreaterThan": _num_cmp(_gt),
    "NumericLessThanEquals": _num_cmp(_le),
    "NumericGreaterThanEquals": _num_cmp(_ge),
    "BooleanEquals": lambda a, b: isinstance(a, bool) and isinstance(b, bool) and a == b,
    "TimestampEquals": _ts_cmp(_eq),
    "TimestampLessThan": _ts_cmp(_lt),
    "TimestampGreaterThan": _ts_cmp(_gt),
    "TimestampLessThanEquals": _ts_cmp(_le),
    "TimestampGreaterThanEquals": _ts_cmp(_ge),
}

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: isinstance(v, str) and parse_timestamp(v) is not None,
}

OPERATORS = (
    set(_COMPARISONS)
    | {name + "Path" for name in _COMPARISONS}
    | set(_TYPE_TESTS)
    | {"IsPresent", "StringMatches"}
)


def _literal_ok(operator: str, value: Any) -> bool:
    if operator.startswith("String"):
        return isinstance(value, str)
    if operator.startswith("Numeric"):
        return is_number(value)
    if operator.startswith("Boolean") or operator.startswith("Is"):
        return isinstance(value, bool)
    if operator.startswith("Timestamp"):
        return isinstance(value, str) and parse_timestamp(value) is not None
    return True


def compile_rule(spec: Any, *, state: str, top_level: bool) -> Rule:
    where = {"state": state, "field": "Choices"}
    if not isinstance(spec, dict):
        raise DefinitionError("each choice rule must be an object", **where)
    allowed_extra = {"Next", "Comment", "Assign", "Output"} if top_level else {"Comment"}
    if "And" in spec or "Or" in spec:
        key = "And" if "And" in spec else "Or"
        _check_fields(spec, {key} | allowed_extra, state)
        subs = spec[key]
        if not isinstance(subs, list) or not subs:
            raise DefinitionError(f"{key} must be a non-empty list of rules", **where)
        rules = [compile_rule(s, state=state, top_level=False) for s in subs]
        if key == "And":
            return lambda data, frame: all(rule(data, frame) for rule in rules)
        return lambda data, frame: any(rule(data, frame) for rule in rules)
    if "Not" in spec:
        _check_fields(spec, {"Not"} | allowed_extra, state)
        inner = compile_rule(spec["Not"], state=state, top_level=False)
        return lambda data, frame: not inner(data, frame)
    operators = [k for k in spec if k in OPERATORS]
    if len(operators) != 1:
        raise DefinitionError(
            f"a choice rule needs exactly one comparison operator, found {operators or 'none'}",
            **where,
        )
    operator = operators[0]
    _check_fields(spec, {"Variable", operator} | allowed_extra, state)
    variable_src: Any = spec.get("Variable")
    try:
        variable = compile_path_reference(variable_src)
    except ValueError as exc:
        raise DefinitionError(f"invalid Variable: {exc}", **where) from None
    operand = spec[operator]
    if operator.endswith("Path") and operator != "IsPresent":
        try:
            operand_ref = compile_path_reference(operand)
        except ValueError as exc:
            raise DefinitionError(f"invalid {operator}: {exc}", **where) from None
        compare = _COMPARISONS[operator[: -len("Path")]]

        def path_rule(data: Any, frame: Frame) -> bool:
            return compare(_resolve(variable, data, frame), _resolve(operand_ref, data, frame))

        return path_rule
    if not _literal_ok(operator, operand):
        raise DefinitionError(f"invalid value for {operator}: {operand!r}", **where)
    if operator == "IsPresent":

        def is_present(data: Any, frame: Frame) -> bool:
            try:
                variable.resolve(data, frame)
                found = True
            except (PathNotFound, RuntimeFailure):
                found = False
            return found is operand

        return is_present
    if operator in _TYPE_TESTS:
        test = _TYPE_TESTS[operator]

        def type_test(data: Any, frame: Frame) -> bool:
            try:
                value = variable.resolve(data, frame)
            except PathNotFound:
                return False
            return test(value) is operand

        return type_test
    if operator == "StringMatches":
        pattern = _string_matches(operand)

        def matches(data: Any, frame: Frame) -> bool:
            value = _resolve(variable, data, frame)
            return isinstance(value, str) and pattern.fullmatch(value) is not None

        return matches
    compare = _COMPARISONS[operator]

    def literal_rule(data: Any, frame: Frame) -> bool:
        return compare(_resolve(variable, data, frame), operand)

    return literal_rule


def _resolve(ref: Reference, data: Any, frame: Frame) -> Any:
    return ref.resolve(data, frame)


def _check_fields(spec: dict[str, Any], allowed: set[str], state: str) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise DefinitionError(
            f"unknown field(s) {sorted(unknown)} in a choice rule", state=state, field="Choices"
        )
