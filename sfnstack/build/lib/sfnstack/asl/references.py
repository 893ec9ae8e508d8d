"""Compiled value references: a ``.$`` value, a ``*Path`` field or an intrinsic argument.

A reference is ``$...`` (the state's data), ``$$...`` (the context object), ``$name...`` (a
workflow variable) or an intrinsic function call. ``compile_reference`` turns the string
into an object whose ``resolve(data, frame)`` returns the value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from .errors import RuntimeFailure
from .jsonpath import JsonPath, PathSyntaxError, compile_path

if TYPE_CHECKING:
    from .context import Frame


class Reference(Protocol):
    source: str

    def resolve(self, data: Any, frame: Frame) -> Any: ...


class DataPath:
    """``$...``: a path into the state's data."""

    __slots__ = ("path", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.path: JsonPath = compile_path(source)

    def resolve(self, data: Any, frame: Frame) -> Any:
        return self.path.get(data)


class ContextPath:
    """``$$...``: a path into the context object."""

    __slots__ = ("path", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.path = compile_path(source[1:])

    def resolve(self, data: Any, frame: Frame) -> Any:
        return self.path.get(frame.context_object())


_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class VariablePath:
    """``$name...``: a path into a workflow variable (set by ``Assign``)."""

    __slots__ = ("name", "path", "source")

    def __init__(self, source: str) -> None:
        match = _VARIABLE.match(source)
        assert match
        self.source = source
        self.name = match.group(1)
        self.path = compile_path("$" + source[match.end() :])

    def resolve(self, data: Any, frame: Frame) -> Any:
        variables = frame.variables
        if variables is None or self.name not in variables:
            raise RuntimeFailure(
                f"The JSONPath '{self.source}' could not be found: variable "
                f"'{self.name}' is not defined"
            )
        return self.path.get(variables[self.name])


def compile_reference(source: str) -> Reference:
    """Compile a path or intrinsic-function string. Raises ValueError if invalid."""
    if not isinstance(source, str):
        raise ValueError(f"expected a path string, got {source!r}")
    if source.startswith("States."):
        from .intrinsics import compile_intrinsic

        return compile_intrinsic(source)
    try:
        if source.startswith("$$"):
            return ContextPath(source)
        if _VARIABLE.match(source):
            return VariablePath(source)
        if source.startswith("$"):
            return DataPath(source)
    except PathSyntaxError as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"'{source}' is not a JSONPath (must start with '$')")


def compile_path_reference(source: str) -> Reference:
    """A reference that must be a path (InputPath, ItemsPath, *Path fields): no intrinsics."""
    if isinstance(source, str) and source.startswith("States."):
        raise ValueError(f"'{source}' is not a JSONPath")
    return compile_reference(source)
