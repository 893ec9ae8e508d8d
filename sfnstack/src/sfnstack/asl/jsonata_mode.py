"""JSONata query language (``"QueryLanguage": "JSONata"``): expressions ``{% ... %}`` in
Arguments, Output, Assign, Items, ItemSelector, Condition and the other fields that accept
them, evaluated with ``$states`` (input, result, errorOutput, context) and the workflow
variables bound, plus the functions Step Functions adds ($partition, $range, $hash,
$random, $uuid, $parse). Evaluation errors are ``States.QueryEvaluationError``.

The expression engine is the ``jsonata-python`` package, imported on first use so JSONPath
machines do not need it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import uuid
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, StateFailure
from .jsonvalue import to_json_string

if TYPE_CHECKING:
    from .context import Frame

QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"

_engine_lock = threading.Lock()
_engine: Any = None


def _jsonata() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                import jsonata
            except ImportError as exc:  # pragma: no cover - dependency is declared
                raise DefinitionError(
                    "JSONata needs the 'jsonata-python' package (pip install jsonata-python)"
                ) from exc
            _engine = jsonata
    return _engine


class QueryEvaluationFailure(StateFailure):
    """A JSONata evaluation failure; the cause gets the usual state prefix."""

    def __init__(self, detail: str) -> None:
        super().__init__(QUERY_EVALUATION_ERROR, detail)
        self.detail = detail


def is_expression(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("{%")
        and value.endswith("%}")
        and len(value) >= 4
    )


def _sequence(values: list[Any]) -> Any:
    from jsonata.utils import Utils

    return Utils.create_sequence_from_iter(values)


def _partition(array: Any, size: Any) -> list[Any]:
    if not isinstance(array, list) or not isinstance(size, int | float) or size <= 0:
        raise ValueError("$partition(array, size) needs an array and a positive size")
    size = int(size)
    return [list(array[i : i + size]) for i in range(0, len(array), size)]


def _range(start: Any, end: Any, step: Any) -> Any:
    if not all(isinstance(v, int | float) and float(v).is_integer() for v in (start, end, step)):
        raise ValueError("$range(start, end, step) needs integers")
    start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise ValueError("$range step must not be 0")
    values = list(range(start, end + (1 if step > 0 else -1), step))
    if len(values) > 1000:
        raise ValueError("$range returns at most 1000 items")
    return _sequence(values)


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(value: Any, algorithm: Any) -> str:
    if algorithm not in _HASHES:
        raise ValueError(f"$hash: unsupported algorithm {algorithm!r}")
    text = value if isinstance(value, str) else to_json_string(value)
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _random(seed: Any = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        raise ValueError("$parse needs a JSON string")
    return json.loads(text)


class Expression:
    """One compiled ``{% ... %}`` expression."""

    __slots__ = ("compiled", "lock", "source")

    def __init__(self, source: str, *, state: str, field: str) -> None:
        self.source = source
        jsonata = _jsonata()
        try:
            compiled = jsonata.Jsonata(source)
        except Exception as exc:
            raise DefinitionError(
                f"invalid JSONata expression '{source}': {exc}", state=state, field=field
            ) from None
        compiled.set_output_convert_nulls(False)
        compiled.register_lambda("partition", _partition)
        compiled.register_lambda("range", _range)
        compiled.register_lambda("hash", _hash)
        compiled.register_lambda("random", _random)
        compiled.register_lambda("uuid", lambda: str(uuid.uuid4()))
        compiled.register_lambda("parse", _parse)
        self.compiled = compiled
        # jsonata-python keeps per-evaluation state on the compiled object ($now's clock):
        # one evaluation at a time per expression (it is CPU-bound under the GIL anyway).
        self.lock = threading.Lock()

    def evaluate(self, bindings: dict[str, Any], field: str) -> Any:
        try:
            with self.lock:
                value = self.compiled.evaluate(None, _null_markers(bindings))
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise QueryEvaluationFailure(
                f"The JSONata expression '{self.source}' specified for the field '{field}' "
                f"threw an error: {message}"
            ) from None
        if value is None:
            raise QueryEvaluationFailure(
                f"The JSONata expression '{self.source}' specified for the field '{field}' "
                "returned nothing (undefined)."
            )
        plain = to_plain(value)
        try:
            to_json_string(plain)
        except (TypeError, ValueError):  # a function or another non-JSON value
            raise QueryEvaluationFailure(
                f"The JSONata expression '{self.source}' specified for the field '{field}' "
                "returned an unsupported result type."
            ) from None
        return plain


def _null_markers(bindings: dict[str, Any]) -> dict[str, Any]:
    """A variable holding JSON null must read as null, not as undefined."""
    if any(v is None for v in bindings.values()):
        from jsonata.utils import Utils

        return {k: Utils.NULL_VALUE if v is None else v for k, v in bindings.items()}
    return bindings


def to_plain(value: Any) -> Any:
    """jsonata-python values -> plain JSON values (null marker -> None, integral floats ->
    int, sequences -> lists)."""
    from jsonata.utils import Utils

    if value is Utils.NULL_VALUE:
        return None
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


class JsonataTemplate:
    """A field value with ``{% %}`` expressions anywhere inside (Output, Arguments, ...)."""

    __slots__ = ("evaluate",)

    def __init__(self, value: Any, *, state: str, field: str) -> None:
        self.evaluate = _compile(value, state, field)

    def __call__(self, bindings: dict[str, Any]) -> Any:
        return self.evaluate(bindings)


def _compile(value: Any, state: str, field: str) -> Any:
    if is_expression(value):
        expression = Expression(value[2:-2].strip(), state=state, field=field)
        return lambda bindings: expression.evaluate(bindings, field)
    if isinstance(value, dict):
        parts = {k: _compile(v, state, f"{field}/{k}") for k, v in value.items()}
        return lambda bindings: {k: part(bindings) for k, part in parts.items()}
    if isinstance(value, list):
        items = [_compile(v, state, field) for v in value]
        return lambda bindings: [item(bindings) for item in items]
    return lambda bindings: value


def bindings(frame: Frame, state_input: Any, **states_fields: Any) -> dict[str, Any]:
    """Variables plus ``$states``: input, context and whatever the field may see."""
    out: dict[str, Any] = dict(frame.variables or {})
    out["states"] = {"input": state_input, "context": frame.context_object(), **states_fields}
    return out


def describe_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# JSONPath-only fields, which a JSONata state must not use.
JSONPATH_ONLY = frozenset(
    {
        "InputPath",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "OutputPath",
        "ItemsPath",
        "SecondsPath",
        "TimestampPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "ErrorPath",
        "CausePath",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
    }
)
