"""Intrinsic functions (``States.Format(...)`` etc.): parser and evaluator."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import IntrinsicFailure
from .jsonvalue import is_number, json_equal, json_key, to_json_string
from .references import Reference, compile_reference

if TYPE_CHECKING:
    from .context import Frame


class _Literal:
    __slots__ = ("raw", "source", "value")

    def __init__(self, value: Any, raw: str | None = None) -> None:
        self.value = value
        self.raw = raw  # for strings: the text with \{ \} escapes kept (States.Format)
        self.source = repr(value)

    def resolve(self, data: Any, frame: Frame) -> Any:
        return self.value


class IntrinsicCall:
    __slots__ = ("args", "func", "name", "source")

    def __init__(self, name: str, args: list[Any], source: str) -> None:
        if name not in FUNCTIONS:
            raise ValueError(f"unknown intrinsic function '{name}'")
        self.name = name
        self.args = args
        self.func = FUNCTIONS[name]
        self.source = source

    def resolve(self, data: Any, frame: Frame) -> Any:
        values = [arg.resolve(data, frame) for arg in self.args]
        if self.name == "States.Format":
            template = (
                self.args[0].raw if self.args and isinstance(self.args[0], _Literal) else None
            )
            return _format(template, values)
        try:
            return self.func(*values)
        except IntrinsicFailure:
            raise
        except TypeError as exc:
            raise IntrinsicFailure(f"Invalid arguments in {self.name}: {exc}") from None
        except (ValueError, IndexError, KeyError, OverflowError) as exc:
            raise IntrinsicFailure(f"{self.name} failed: {exc}") from None


@lru_cache(maxsize=1024)
def compile_intrinsic(source: str) -> IntrinsicCall:
    parser = _Parser(source)
    call = parser.parse_call()
    parser.skip_ws()
    if parser.pos != len(source):
        raise ValueError(f"unexpected text after intrinsic function in '{source}'")
    return call


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def fail(self, what: str) -> ValueError:
        return ValueError(f"invalid intrinsic function '{self.text}': {what}")

    def parse_call(self) -> IntrinsicCall:
        start = self.pos
        paren = self.text.find("(", self.pos)
        if paren < 0:
            raise self.fail("missing '('")
        name = self.text[self.pos : paren].strip()
        self.pos = paren + 1
        args: list[Any] = []
        self.skip_ws()
        if self.peek() == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.parse_arg())
                self.skip_ws()
                ch = self.peek()
                self.pos += 1
                if ch == ",":
                    continue
                if ch == ")":
                    break
                raise self.fail("expected ',' or ')'")
        return IntrinsicCall(name, args, self.text[start : self.pos])

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse_arg(self) -> Any:
        self.skip_ws()
        ch = self.peek()
        if ch == "'":
            return self.parse_string()
        if ch == "$":
            return self.parse_path()
        if self.text.startswith("States.", self.pos):
            return self.parse_call()
        end = self.pos
        while end < len(self.text) and self.text[end] not in ",) \t":
            end += 1
        token = self.text[self.pos : end]
        self.pos = end
        if token in ("true", "false", "null"):
            return _Literal({"true": True, "false": False, "null": None}[token])
        try:
            if any(c in token for c in ".eE"):
                return _Literal(float(token))
            return _Literal(int(token))
        except ValueError:
            raise self.fail(f"invalid argument '{token}'") from None

    def parse_string(self) -> _Literal:
        self.pos += 1
        value: list[str] = []
        raw: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\" and self.pos + 1 < len(text):
                nxt = text[self.pos + 1]
                value.append(nxt)
                raw.append("\\" + nxt if nxt in "{}\\" else nxt)
                self.pos += 2
                continue
            if ch == "'":
                self.pos += 1
                return _Literal("".join(value), "".join(raw))
            value.append(ch)
            raw.append(ch)
            self.pos += 1
        raise self.fail("unterminated string literal")

    def parse_path(self) -> Reference:
        start = self.pos
        depth = 0
        quote = ""
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and depth:
                quote = ch
            elif ch in "[(":
                depth += 1
            elif ch in "])":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            self.pos += 1
        source = text[start : self.pos].strip()
        return compile_reference(source)


# ---------------------------------------------------------------------------------------
# The functions. Arguments arrive resolved; raise IntrinsicFailure on bad input.


def _format_value(value: Any) -> str:
    """An argument as States.Format renders it. Objects and arrays are not JSON text but
    Java's ``Map``/``List`` ``toString`` style, as recorded on AWS: ``{"Arg1": 1, "Arg2":
    []}`` becomes ``{Arg1=1, Arg2=[]}`` (strings unquoted at any depth, keys in order)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_format_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(item) for item in value) + "]"
    return to_json_string(value)


def _format(template: str | None, values: list[Any]) -> str:
    if not values or not isinstance(values[0], str):
        raise IntrinsicFailure("States.Format: the first argument must be a string template")
    if template is None:
        template = values[0].replace("\\", "\\\\")
    args = values[1:]
    out: list[str] = []
    used = 0
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "\\" and i + 1 < len(template):
            out.append(template[i + 1])
            i += 2
            continue
        if template.startswith("{}", i):
            if used >= len(args):
                raise IntrinsicFailure(
                    "States.Format: the template has more placeholders than arguments"
                )
            out.append(_format_value(args[used]))
            used += 1
            i += 2
            continue
        out.append(ch)
        i += 1
    if used != len(args):
        raise IntrinsicFailure("States.Format: the number of arguments does not match the template")
    return "".join(out)


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise IntrinsicFailure(message)


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def _string_to_json(value: Any) -> Any:
    _need(isinstance(value, str), "States.StringToJson: the argument must be a string")
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise IntrinsicFailure(f"States.StringToJson: invalid JSON: {exc}") from None


def _json_to_string(value: Any) -> str:
    return to_json_string(value)


def _array(*values: Any) -> list[Any]:
    return list(values)


def _array_partition(array: Any, size: Any) -> list[Any]:
    _need(isinstance(array, list), "States.ArrayPartition: the first argument must be an array")
    _need(
        _is_int(size) and size > 0,
        "States.ArrayPartition: the chunk size must be a positive integer",
    )
    size = int(size)
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(array: Any, value: Any) -> bool:
    _need(isinstance(array, list), "States.ArrayContains: the first argument must be an array")
    return any(json_equal(item, value) for item in array)


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    _need(
        _is_int(start) and _is_int(end) and _is_int(step),
        "States.ArrayRange: all arguments must be integers",
    )
    start, end, step = int(start), int(end), int(step)
    _need(step != 0, "States.ArrayRange: the step must not be 0")
    result = list(range(start, end + (1 if step > 0 else -1), step))
    _need(len(result) <= 1000, "States.ArrayRange: the result exceeds 1000 items")
    return result


def _array_get_item(array: Any, index: Any) -> Any:
    _need(isinstance(array, list), "States.ArrayGetItem: the first argument must be an array")
    _need(
        _is_int(index) and index >= 0,
        "States.ArrayGetItem: the index must be a non-negative integer",
    )
    index = int(index)
    _need(index < len(array), f"States.ArrayGetItem: index {index} out of bounds")
    return array[index]


def _array_length(array: Any) -> int:
    _need(isinstance(array, list), "States.ArrayLength: the argument must be an array")
    return len(array)


def _array_unique(array: Any) -> list[Any]:
    _need(isinstance(array, list), "States.ArrayUnique: the argument must be an array")
    seen: set[str] = set()
    out = []
    for item in array:
        key = json_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_encode(value: Any) -> str:
    _need(isinstance(value, str), "States.Base64Encode: the argument must be a string")
    _need(len(value) <= 10000, "States.Base64Encode: the input exceeds 10000 characters")
    return base64.b64encode(value.encode()).decode()


def _base64_decode(value: Any) -> str:
    _need(isinstance(value, str), "States.Base64Decode: the argument must be a string")
    _need(len(value) <= 10000, "States.Base64Decode: the input exceeds 10000 characters")
    try:
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntrinsicFailure(f"States.Base64Decode: invalid base64 input: {exc}") from None


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(value: Any, algorithm: Any) -> str:
    _need(
        algorithm in _HASHES,
        f"States.Hash: unsupported algorithm {algorithm!r} (use one of {', '.join(_HASHES)})",
    )
    _need(value is not None, "States.Hash: the data must not be null")
    text = value if isinstance(value, str) else to_json_string(value)
    _need(len(text) <= 10000, "States.Hash: the input exceeds 10000 characters")
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(a: Any, b: Any, deep: Any) -> dict[str, Any]:
    _need(
        isinstance(a, dict) and isinstance(b, dict), "States.JsonMerge: both inputs must be objects"
    )
    _need(deep is False, "States.JsonMerge: only shallow merging is supported (deep must be false)")
    merged = dict(a)
    merged.update(b)
    return merged


def _math_random(start: Any, end: Any, seed: Any = None) -> int:
    _need(_is_int(start) and _is_int(end), "States.MathRandom: start and end must be integers")
    rng = random.Random(int(seed)) if seed is not None else random
    start, end = int(start), int(end)
    _need(start < end, "States.MathRandom: start must be less than end")
    return rng.randrange(start, end)


def _java_round(value: Any) -> int:
    # AWS rounds non-integer operands like Java's Math.round: floor(x + 0.5).
    return int(value) if isinstance(value, int) else math.floor(value + 0.5)


def _math_add(a: Any, b: Any) -> int:
    _need(is_number(a) and is_number(b), "States.MathAdd: both arguments must be numbers")
    return _java_round(a) + _java_round(b)


def _string_split(value: Any, delimiters: Any) -> list[str]:
    _need(
        isinstance(value, str) and isinstance(delimiters, str),
        "States.StringSplit: both arguments must be strings",
    )
    parts = [value]
    for delimiter in delimiters or "":
        parts = [piece for part in parts for piece in part.split(delimiter)]
    return [p for p in parts if p != ""]


def _uuid() -> str:
    return str(uuid.uuid4())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": lambda *a: None,  # handled in IntrinsicCall.resolve (needs raw template)
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
