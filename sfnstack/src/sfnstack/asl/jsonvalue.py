"""JSON value helpers: AWS-style serialization, equality that tells 1 from true."""

from __future__ import annotations

import json
import math
from typing import Any

# AWS limits state input/output ("state data") to 256 KiB of UTF-8 JSON.
MAX_STATE_DATA_BYTES = 256 * 1024

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def to_json_string(value: Any) -> str:
    """Serialize like AWS does in history and JsonToString: compact separators."""
    return _compact.encode(value)


class DecodedTexts:
    """The JSON text each of the last few decoded objects came from (a function's result),
    so that one passed on whole (``"Payload.$": "$"``: the next step's payload is this
    step's result) is sent as that text rather than encoded again. Objects only (dicts and
    lists), held with their text: the reference keeps each id unique while it is
    remembered, and state data is never changed in place, so the text stays the object's."""

    __slots__ = ("_texts",)
    LIMIT = 64  # enough for the tasks in flight across a Map's iterations

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, bytes]] = {}

    def remember(self, value: Any, text: bytes) -> None:
        if type(value) is not dict and type(value) is not list:
            return
        if len(self._texts) >= self.LIMIT:
            self._texts.clear()
        self._texts[id(value)] = (value, text)

    def text(self, value: Any) -> bytes | None:
        """The text ``value`` was decoded from, if it is remembered."""
        hit = self._texts.get(id(value))
        return hit[1] if hit is not None and hit[0] is value else None


def json_key(value: Any) -> str:
    """A canonical string for hashing/equality that keeps 1, 1.0 equal and true distinct."""
    return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"))


def _canon(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
