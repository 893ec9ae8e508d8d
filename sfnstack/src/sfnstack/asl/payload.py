"""Payload templates (Parameters, ResultSelector, ItemSelector, Assign) and ResultPath."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, PathNotFound, RuntimeFailure
from .jsonpath import PathSyntaxError, compile_path
from .jsonvalue import to_json_string
from .references import Reference, compile_reference

if TYPE_CHECKING:
    from .context import Frame


class Template:
    """A compiled payload template. Static parts are shared, never copied: JSON values in
    the interpreter are immutable by convention."""

    __slots__ = ("evaluate",)

    def __init__(self, value: Any, *, state: str, field: str) -> None:
        self.evaluate = _compile(value, state, field)

    def __call__(self, data: Any, frame: Frame) -> Any:
        return self.evaluate(data, frame)


def _compile(value: Any, state: str, field: str) -> Any:
    if isinstance(value, dict):
        entries: list[tuple[str, bool, Any]] = []  # (key, dynamic, evaluator-or-value)
        dynamic = False
        for key, sub in value.items():
            if key.endswith(".$"):
                if not isinstance(sub, str):
                    raise DefinitionError(
                        f"the value of '{key}' must be a JSONPath or intrinsic function string",
                        state=state,
                        field=field,
                    )
                try:
                    ref = compile_reference(sub)
                except ValueError as exc:
                    raise DefinitionError(str(exc), state=state, field=field) from None
                entries.append((key[:-2], True, _ref_evaluator(ref, key)))
                dynamic = True
            else:
                sub_eval = _compile(sub, state, field)
                if isinstance(sub_eval, _Static):
                    entries.append((key, False, sub_eval.value))
                else:
                    entries.append((key, True, sub_eval))
                    dynamic = True
        if not dynamic:
            return _Static(value)

        def evaluate_object(data: Any, frame: Frame) -> dict[str, Any]:
            out = {}
            for key, is_dynamic, item in entries:
                out[key] = item(data, frame) if is_dynamic else item
            return out

        return evaluate_object
    if isinstance(value, list):
        items = [_compile(v, state, field) for v in value]
        if all(isinstance(i, _Static) for i in items):
            return _Static(value)

        def evaluate_array(data: Any, frame: Frame) -> list[Any]:
            return [i.value if isinstance(i, _Static) else i(data, frame) for i in items]

        return evaluate_array
    return _Static(value)


class _Static:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, data: Any, frame: Frame) -> Any:
        return self.value


def _ref_evaluator(ref: Reference, key: str) -> Any:
    def evaluate(data: Any, frame: Frame) -> Any:
        try:
            return ref.resolve(data, frame)
        except PathNotFound:
            source = ref.source
            where = frame.context_object() if source.startswith("$$") else data
            raise RuntimeFailure(
                f"The JSONPath '{source}' specified for the field '{key}' could not be found "
                f"in the input '{to_json_string(where)}'"
            ) from None

    return evaluate


class ResultPath:
    """Where a state's result goes in its input. ``None`` source (``"ResultPath": null``)
    discards the result; ``$`` replaces the input."""

    __slots__ = ("discard", "names", "source")

    def __init__(self, source: str | None, *, state: str) -> None:
        self.source = source
        self.discard = source is None
        self.names: list[str] = []
        if source is None or source == "$":
            return
        try:
            path = compile_path(source) if isinstance(source, str) else None
        except PathSyntaxError as exc:
            raise DefinitionError(str(exc), state=state, field="ResultPath") from None
        names = path.prop_names if path is not None else None
        if names is None:
            raise DefinitionError(
                f"'{source}' is not a reference path (only '$.name' steps are allowed)",
                state=state,
                field="ResultPath",
            )
        self.names = names

    def apply(self, state_input: Any, result: Any) -> Any:
        if self.discard:
            return state_input
        names = self.names
        if not names:
            return result
        if type(state_input) is not dict:
            raise RuntimeFailure(
                f"Unable to apply ResultPath '{self.source}' to input "
                f"'{to_json_string(state_input)}': the input is not a JSON object"
            )
        # Copy along the path only: the input stays untouched (it may be shared).
        root = dict(state_input)
        node = root
        for name in names[:-1]:
            child = node.get(name)
            child = dict(child) if type(child) is dict else {}
            node[name] = child
            node = child
        node[names[-1]] = result
        return root
