"""A small, compiled JSONPath evaluator with the semantics AWS Step Functions uses (Jayway).

Paths are parsed once and cached. A *definite* path (only names and single indexes) yields
one value or raises ``PathNotFound`` with Jayway's messages; an *indefinite* path
(wildcards, slices, unions, filters, deep scan) yields a list of all matches (possibly
empty). Values are never copied: callers treat JSON data as immutable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .errors import PathNotFound

_MISSING = object()


class PathSyntaxError(ValueError):
    pass


# ---------------------------------------------------------------------------------------
# Steps. Each step maps one value to a list of (value) matches; definite steps also offer
# a fast single-value accessor.


class _Prop:
    __slots__ = ("name",)
    definite = True

    def __init__(self, name: str) -> None:
        self.name = name

    def one(self, value: Any) -> Any:
        if type(value) is dict:
            return value.get(self.name, _MISSING)
        return _MISSING

    def many(self, value: Any) -> list[Any]:
        if type(value) is dict and self.name in value:
            return [value[self.name]]
        return []

    def norm(self) -> str:
        return f"['{self.name}']"


class _Index:
    __slots__ = ("index",)
    definite = True

    def __init__(self, index: int) -> None:
        self.index = index

    def one(self, value: Any) -> Any:
        if type(value) is list:
            i = self.index
            if -len(value) <= i < len(value):
                return value[i]
        return _MISSING

    def many(self, value: Any) -> list[Any]:
        found = self.one(value)
        return [] if found is _MISSING else [found]

    def norm(self) -> str:
        return f"[{self.index}]"


class _Wildcard:
    definite = False

    def many(self, value: Any) -> list[Any]:
        if type(value) is dict:
            return list(value.values())
        if type(value) is list:
            return list(value)
        return []

    def norm(self) -> str:
        return "[*]"


class _Union:
    __slots__ = ("keys",)
    definite = False

    def __init__(self, keys: list[str | int]) -> None:
        self.keys = keys

    def many(self, value: Any) -> list[Any]:
        out = []
        for key in self.keys:
            step = _Index(key) if isinstance(key, int) else _Prop(key)
            out.extend(step.many(value))
        return out

    def norm(self) -> str:
        return "[" + ",".join(repr(k) for k in self.keys) + "]"


class _MergedProps:
    """A multi-property selection as the last step (``$['a','b']``, ``$[*]['a','b']``):
    Jayway merges the properties present into one object per value; absent ones are left
    out. (Before another step, ``['a','b']`` is a ``_Union``: each property in turn.)"""

    __slots__ = ("names",)
    definite = True

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def one(self, value: Any) -> Any:
        if type(value) is dict:
            return {name: value[name] for name in self.names if name in value}
        return _MISSING

    def many(self, value: Any) -> list[Any]:
        found = self.one(value)
        return [] if found is _MISSING else [found]

    def norm(self) -> str:
        return "[" + ",".join(f"'{name}'" for name in self.names) + "]"


class _Slice:
    __slots__ = ("start", "step", "stop")
    definite = False

    def __init__(self, start: int | None, stop: int | None, step: int | None) -> None:
        self.start, self.stop, self.step = start, stop, step

    def many(self, value: Any) -> list[Any]:
        if type(value) is not list:
            return []
        return value[self.start : self.stop : self.step]

    def norm(self) -> str:
        return f"[{self.start}:{self.stop}]"


class _DeepScan:
    __slots__ = ("inner",)
    definite = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner  # a step applied at every level

    def many(self, value: Any) -> list[Any]:
        out: list[Any] = []
        stack = [value]
        while stack:
            current = stack.pop()
            out.extend(self.inner.many(current))
            if type(current) is dict:
                stack.extend(reversed(list(current.values())))
            elif type(current) is list:
                stack.extend(reversed(current))
        return out

    def norm(self) -> str:
        return ".." + self.inner.norm()


class _Filter:
    __slots__ = ("predicate", "source")
    definite = False

    def __init__(self, predicate: Callable[[Any, Any], bool], source: str) -> None:
        self.predicate = predicate
        self.source = source

    def many(self, value: Any, root: Any = None) -> list[Any]:
        if type(value) is list:
            return [item for item in value if self.predicate(item, root)]
        if type(value) is dict:
            return [value] if self.predicate(value, root) else []
        return []

    def norm(self) -> str:
        return f"[?({self.source})]"


class _Length:
    """Jayway's ``length()`` function."""

    definite = True

    def one(self, value: Any) -> Any:
        if isinstance(value, list | dict | str):
            return len(value)
        return _MISSING

    def many(self, value: Any) -> list[Any]:
        found = self.one(value)
        return [] if found is _MISSING else [found]

    def norm(self) -> str:
        return ".length()"


# ---------------------------------------------------------------------------------------


class JsonPath:
    """A compiled path. ``get(data)`` evaluates it against ``data`` (``$``)."""

    __slots__ = ("definite", "source", "steps")

    def __init__(self, source: str, steps: list[Any]) -> None:
        self.source = source
        self.steps = tuple(steps)
        self.definite = all(step.definite for step in steps)

    def get(self, data: Any) -> Any:
        if self.definite:
            value = data
            steps = self.steps
            for i, step in enumerate(steps):
                nxt = step.one(value)
                if nxt is _MISSING:
                    self._raise_missing(i)
                value = nxt
            return value
        return self.get_all(data)

    def get_all(self, data: Any) -> list[Any]:
        current = [data]
        for step in self.steps:
            nxt: list[Any] = []
            if type(step) is _Filter:
                for value in current:
                    nxt.extend(step.many(value, data))
            else:
                for value in current:
                    nxt.extend(step.many(value))
            current = nxt
        return current

    def exists(self, data: Any) -> bool:
        if self.definite:
            value = data
            for step in self.steps:
                value = step.one(value)
                if value is _MISSING:
                    return False
            return True
        return bool(self.get_all(data))

    def _raise_missing(self, failed_at: int) -> None:
        if failed_at == len(self.steps) - 1:
            message = "No results for path: $" + "".join(s.norm() for s in self.steps)
        else:
            message = "Missing property in path $" + "".join(
                s.norm() for s in self.steps[: failed_at + 1]
            )
        raise PathNotFound(self.source, message)

    @property
    def prop_names(self) -> list[str] | None:
        """The property names if the path is a plain chain of names (for ResultPath)."""
        if all(type(s) is _Prop for s in self.steps):
            return [s.name for s in self.steps]
        return None

    def __repr__(self) -> str:
        return f"JsonPath({self.source!r})"


@lru_cache(maxsize=4096)
def compile_path(source: str) -> JsonPath:
    """Compile a path starting with ``$`` (``$$`` context paths: strip one ``$`` first)."""
    if not isinstance(source, str) or not source.startswith("$"):
        raise PathSyntaxError(f"Invalid JSONPath '{source}': must start with '$'")
    parser = _Parser(source, 1)
    steps = parser.parse_steps()
    return JsonPath(source, steps)


_NAME_END = re.compile(r"[.\[]")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


class _Parser:
    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def error(self, what: str) -> PathSyntaxError:
        return PathSyntaxError(f"Invalid JSONPath '{self.text}': {what} at position {self.pos}")

    def parse_steps(self, stop: str = "") -> list[Any]:
        text = self.text
        steps: list[Any] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if stop and ch in stop:
                break
            if text.startswith("..", self.pos):
                self.pos += 2
                if self.pos < len(text) and text[self.pos] == "[":
                    inner = self.parse_bracket()
                else:
                    inner = self.parse_dot_name(stop)
                steps.append(_DeepScan(inner))
            elif ch == ".":
                self.pos += 1
                if self.pos < len(text) and text[self.pos] == "[":
                    # Jayway reads the token after a dot as any token: `$.[0]`, `$.a.['b c']`
                    steps.append(self.parse_bracket())
                elif text.startswith("length()", self.pos) and self.pos + 8 == len(text):
                    self.pos += 8
                    steps.append(_Length())
                else:
                    steps.append(self.parse_dot_name(stop))
            elif ch == "[":
                steps.append(self.parse_bracket())
            else:
                raise self.error(f"unexpected character {ch!r}")
        if steps and type(steps[-1]) is _Union and all(isinstance(k, str) for k in steps[-1].keys):
            steps[-1] = _MergedProps(steps[-1].keys)  # type: ignore[arg-type]  # all str: checked
        return steps

    def parse_dot_name(self, stop: str = "") -> Any:
        text = self.text
        if self.pos < len(text) and text[self.pos] == "*":
            self.pos += 1
            return _Wildcard()
        match = _NAME_END.search(text, self.pos)
        end = match.start() if match else len(text)
        if stop:
            for i in range(self.pos, end):
                if text[i] in stop:
                    end = i
                    break
        name = text[self.pos : end]
        if not name:
            raise self.error("empty property name")
        if any(c in name for c in " ()") and not name.strip():
            raise self.error("invalid property name")
        self.pos = end
        return _Prop(name)

    def parse_bracket(self) -> Any:
        text = self.text
        self.pos += 1  # [
        self.skip_ws()
        if self.pos >= len(text):
            raise self.error("unterminated '['")
        ch = text[self.pos]
        if ch == "?":
            return self.parse_filter()
        if ch == "*":
            self.pos += 1
            self.expect("]")
            return _Wildcard()
        if ch in "'\"":
            names: list[str | int] = []
            while True:
                self.skip_ws()
                names.append(self.parse_string())
                self.skip_ws()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                break
            self.expect("]")
            return _Prop(names[0]) if len(names) == 1 else _Union(names)  # type: ignore[arg-type]
        # numbers, slices, unions of numbers
        end = text.find("]", self.pos)
        if end < 0:
            raise self.error("unterminated '['")
        body = text[self.pos : end].replace(" ", "")
        self.pos = end + 1
        try:
            if ":" in body:
                parts = body.split(":")
                if len(parts) > 3:
                    raise ValueError
                nums = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
                return _Slice(nums[0], nums[1], nums[2])
            if "," in body:
                return _Union([int(p) for p in body.split(",")])
            return _Index(int(body))
        except ValueError:
            raise self.error(f"invalid subscript [{body}]") from None

    def parse_filter(self) -> Any:
        self.pos += 1  # ?
        self.skip_ws()
        self.expect("(")
        start = self.pos
        expr = _FilterParser(self).parse_or()
        self.skip_ws()
        source = self.text[start : self.pos]
        self.expect(")")
        self.skip_ws()
        self.expect("]")
        return _Filter(expr, source)

    def parse_string(self) -> str:
        quote = self.text[self.pos]
        if quote not in "'\"":
            raise self.error("expected a quoted name")
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
                out.append(self.parse_escape())
                continue
            if ch == quote:
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated string")

    def parse_escape(self) -> str:
        """The character after a backslash in a quoted name, unescaped as Jayway's
        ``Utils.unescape`` does: \\n \\t \\r \\b \\f, \\uXXXX, else the character itself."""
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "u":
            digits = self.text[self.pos : self.pos + 4]
            if len(digits) < 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise self.error(f"invalid unicode escape \\u{digits}")
            self.pos += 4
            return chr(int(digits, 16))
        return _ESCAPES.get(ch, ch)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.error(f"expected {ch!r}")
        self.pos += 1


# A filter predicate takes (current item "@", root "$") and returns a value.
_Expr = Callable[[Any, Any], Any]
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


class _FilterParser:
    def __init__(self, parser: _Parser) -> None:
        self.p = parser

    def parse_or(self) -> _Expr:
        left = self.parse_and()
        while True:
            self.p.skip_ws()
            if self.p.text.startswith("||", self.p.pos):
                self.p.pos += 2
                right = self.parse_and()
                left = (lambda a, b: lambda item, root: bool(a(item, root)) or bool(b(item, root)))(
                    left, right
                )
            else:
                return left

    def parse_and(self) -> _Expr:
        left = self.parse_not()
        while True:
            self.p.skip_ws()
            if self.p.text.startswith("&&", self.p.pos):
                self.p.pos += 2
                right = self.parse_not()
                left = (
                    lambda a, b: lambda item, root: bool(a(item, root)) and bool(b(item, root))
                )(left, right)
            else:
                return left

    def parse_not(self) -> _Expr:
        self.p.skip_ws()
        if self.p.peek() == "!" and not self.p.text.startswith("!=", self.p.pos):
            self.p.pos += 1
            inner = self.parse_not()
            return lambda item, root: not inner(item, root)
        return self.parse_comparison()

    def parse_comparison(self) -> _Expr:
        left, left_is_path = self.parse_operand()
        self.p.skip_ws()
        text = self.p.text
        for op in ("==", "!=", "<=", ">=", "=~", "<", ">"):
            if text.startswith(op, self.p.pos):
                self.p.pos += len(op)
                break
        else:
            if left_is_path:
                return lambda item, root: left(item, root) is not _MISSING
            return left
        if op == "=~":
            self.p.skip_ws()
            if self.p.peek() != "/":
                raise self.p.error("expected /regex/")
            end = text.find("/", self.p.pos + 1)
            pattern = re.compile(text[self.p.pos + 1 : end])
            self.p.pos = end + 1
            if self.p.peek() == "i":
                pattern = re.compile(pattern.pattern, re.IGNORECASE)
                self.p.pos += 1
            return lambda item, root: (
                isinstance(v := left(item, root), str) and bool(pattern.fullmatch(v))
            )
        right, _ = self.parse_operand()
        return lambda item, root: _compare(op, left(item, root), right(item, root))

    def parse_operand(self) -> tuple[_Expr, bool]:
        p = self.p
        p.skip_ws()
        ch = p.peek()
        if ch == "(":
            p.pos += 1
            inner = self.parse_or()
            p.skip_ws()
            p.expect(")")
            return inner, False
        if ch in "@$":
            p.pos += 1
            steps = p.parse_steps(stop=" )=!<>&|,")
            path = JsonPath(ch, steps)
            use_root = ch == "$"

            def evaluate(item: Any, root: Any) -> Any:
                base = root if use_root else item
                if path.definite:
                    value = base
                    for step in path.steps:
                        value = step.one(value)
                        if value is _MISSING:
                            return _MISSING
                    return value
                found = path.get_all(base)
                return found if found else _MISSING

            return evaluate, True
        if ch in "'\"":
            s = p.parse_string()
            return (lambda item, root: s), False
        for word, val in (("true", True), ("false", False), ("null", None)):
            if p.text.startswith(word, p.pos):
                p.pos += len(word)
                return (lambda item, root, v=val: v), False
        match = _NUMBER.match(p.text, p.pos)
        if match:
            p.pos = match.end()
            num = float(match.group()) if match.group(1) or match.group(2) else int(match.group())
            return (lambda item, root: num), False
        raise p.error("invalid filter expression")


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return op == "!=" and not (a is _MISSING and b is _MISSING)
    a_num = isinstance(a, int | float) and not isinstance(a, bool)
    b_num = isinstance(b, int | float) and not isinstance(b, bool)
    if op == "==":
        return a == b and (a_num == b_num)
    if op == "!=":
        return not (a == b and (a_num == b_num))
    if (a_num and b_num) or (isinstance(a, str) and isinstance(b, str)):
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
    return False
