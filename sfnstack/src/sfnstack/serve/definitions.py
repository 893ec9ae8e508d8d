"""State machine definitions as the Step Functions API receives them (JSON text), checked by
the interpreter's own validation (``sfnstack.asl.StateMachine``, the one ``sfnstack states
validate`` uses) and reported as AWS reports it: ValidateStateMachineDefinition's
diagnostics, or CreateStateMachine's ``InvalidDefinition``.

The diagnostic codes are AWS's documented ones (INVALID_JSON_DESCRIPTION,
MISSING_DESCRIPTION, SCHEMA_VALIDATION_FAILED); ``location`` is a JSON pointer to the state
(and field) at fault, as AWS gives it (``/States/Map/ItemProcessor/States/Task/Type``).
The interpreter stops at the first problem, so there is at most one diagnostic."""

from __future__ import annotations

import json
from typing import Any

from sfnstack.serve.executions import SfnError, not_in_enum, null_member

__all__ = ["MAX_DEFINITION_CHARS", "definition_problem", "parse_definition", "validate_text"]

MAX_DEFINITION_CHARS = 1_048_576  # the API's limit on `definition`
WORKFLOW_TYPES = ("STANDARD", "EXPRESS")


def _state_pointer(spec: Any, state: str, prefix: str = "") -> str | None:
    """The JSON pointer of the state named ``state`` anywhere in the definition ``spec``
    (in Parallel branches, Map processors), or None."""
    if not isinstance(spec, dict):
        return None
    states = spec.get("States")
    if not isinstance(states, dict):
        return None
    if state in states:
        return f"{prefix}/States/{_escape(state)}"
    for name, body in states.items():
        if not isinstance(body, dict):
            continue
        here = f"{prefix}/States/{_escape(name)}"
        for key in ("ItemProcessor", "Iterator"):
            found = _state_pointer(body.get(key), state, f"{here}/{key}")
            if found:
                return found
        for i, branch in enumerate(body.get("Branches") or []):
            found = _state_pointer(branch, state, f"{here}/Branches/{i}")
            if found:
                return found
    return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def definition_problem(
    text: Any, workflow_type: str = "STANDARD"
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the parsed definition, None) when ``text`` is a valid definition, else (None, its
    diagnostic: ``{"severity", "code", "message", "location"?}``)."""
    from sfnstack.asl import DefinitionError, StateMachine

    if not isinstance(text, str) or not text.strip():
        return None, {
            "severity": "ERROR",
            "code": "MISSING_DESCRIPTION",
            "message": "The state machine definition is null or empty.",
        }
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, {
            "severity": "ERROR",
            "code": "INVALID_JSON_DESCRIPTION",
            "message": f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        }
    try:
        StateMachine(parsed, workflow_type=workflow_type)
    except DefinitionError as exc:
        diagnostic: dict[str, Any] = {
            "severity": "ERROR",
            "code": "SCHEMA_VALIDATION_FAILED",
            "message": exc.problem,
        }
        location = _state_pointer(parsed, exc.state) if exc.state is not None else ""
        if location is not None and exc.field:
            location += "/" + "/".join(_escape(part) for part in exc.field.split("."))
        if location:
            diagnostic["location"] = location
        return None, diagnostic
    return parsed, None


def parse_workflow_type(value: Any) -> str:
    """A request's ``type``: STANDARD when not given."""
    if value is None:
        return "STANDARD"
    if value not in WORKFLOW_TYPES:
        raise not_in_enum("type", value, WORKFLOW_TYPES)
    return str(value)


def _check_size(text: Any) -> None:
    if isinstance(text, str) and len(text) > MAX_DEFINITION_CHARS:
        raise SfnError(
            "ValidationException",
            "1 validation error detected: Value at 'definition' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_DEFINITION_CHARS}",
        )


def validate_text(request: dict[str, Any]) -> dict[str, Any]:
    """ValidateStateMachineDefinition: ``{"result": "OK"|"FAIL", "diagnostics": [...],
    "truncated": bool}``."""
    text = request.get("definition")
    if text is None:
        raise null_member("definition")
    _check_size(text)
    workflow_type = parse_workflow_type(request.get("type"))
    severity = request.get("severity", "ERROR")
    if severity not in ("ERROR", "WARNING"):
        raise not_in_enum("severity", severity, ("ERROR", "WARNING"))
    max_results = request.get("maxResults") or 100
    if not isinstance(max_results, int) or not 0 <= max_results <= 100:
        raise SfnError("ValidationException", "maxResults must be between 0 and 100")
    _parsed, diagnostic = definition_problem(text, workflow_type)
    # The interpreter reports errors only (no warnings), so WARNING and ERROR see the same.
    diagnostics = [diagnostic] if diagnostic else []
    return {
        "result": "FAIL" if diagnostics else "OK",
        "diagnostics": diagnostics[:max_results],
        "truncated": len(diagnostics) > max_results,
    }


def parse_definition(text: Any, workflow_type: str = "STANDARD") -> dict[str, Any]:
    """The parsed definition, or ``InvalidDefinition`` worded as CreateStateMachine's."""
    _check_size(text)
    parsed, diagnostic = definition_problem(text, workflow_type)
    if diagnostic is not None:
        where = f" at {diagnostic['location']}" if diagnostic.get("location") else ""
        raise SfnError(
            "InvalidDefinition",
            f"Invalid State Machine Definition: '{diagnostic['code']}: "
            f"{diagnostic['message']}{where}'",
        )
    assert parsed is not None
    return parsed
