"""TestState: one state, run for real by the interpreter (a Task state's integration too:
the template's Lambda functions), answered as AWS documents it: ``status`` SUCCEEDED,
FAILED, RETRIABLE or CAUGHT_ERROR, ``output``, ``error`` / ``cause``, ``nextState``, and at
inspection level DEBUG (and TRACE) ``inspectionData``.

The state runs in a small machine of its own: its transitions (Next, each Catch's Next,
each Choice rule's Next, Default) lead to placeholder Succeed states, so the state runs once
and the placeholder reached names ``nextState``. Its Retry is left out (TestState does not
retry; a failure a retrier would retry is RETRIABLE). ``variables`` become an Assign of a
Pass state before it.

The DEBUG data-flow steps (afterInputPath, afterParameters, afterResultSelector,
afterResultPath) come from the interpreter too, each by a Pass state with just the fields
up to that step (Pass applies InputPath, Parameters, Result and ResultPath exactly as Task
does); ``result`` is the integration's result from the run's history. Other state types get
``input`` and ``afterInputPath`` only; JSONata states get ``input``, ``afterArguments``
and ``result``. TRACE adds nothing here: its request and
response are those of HTTP Tasks, which do not run locally."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from sfnstack.serve.executions import SfnError, not_in_enum, null_member, parse_input
from sfnstack.services import Services

__all__ = ["run_test_state"]

LEVELS = ("INFO", "DEBUG", "TRACE")
TIME_LIMIT_SECONDS = 300.0  # TestState runs up to five minutes, then States.Timeout
_PLACEHOLDER = "sfnstack-test-state-"  # names of the placeholder states (plus a UUID)
_VARIABLES_STATE = "sfnstack-test-state-variables"
_RESULT_EVENTS = {
    "TaskSucceeded": "taskSucceededEventDetails",
    "LambdaFunctionSucceeded": "lambdaFunctionSucceededEventDetails",
}
_FAILURE_EVENTS = ("TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut")


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_argument(request: dict[str, Any], field: str) -> Any:
    value = request.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SfnError("ValidationException", f"{field} must be a string of JSON")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise SfnError("InvalidExecutionInput", f"{field} is not valid JSON: {exc}") from None


def _the_state(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the state's name, its definition) from ``definition`` (one state, or a state
    machine with ``stateName``)."""
    text = request.get("definition")
    if not isinstance(text, str) or not text.strip():
        raise null_member("definition")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SfnError(
            "InvalidDefinition",
            f"Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {exc}'",
        ) from None
    if not isinstance(spec, dict):
        raise SfnError("InvalidDefinition", "Invalid State Machine Definition: not a JSON object")
    name = request.get("stateName")
    if isinstance(spec.get("States"), dict):  # a whole state machine: the state it names
        if not isinstance(name, str) or name not in spec["States"]:
            raise SfnError(
                "ValidationException",
                f"stateName {name!r} is not a top-level state of the definition",
            )
        state = dict(spec["States"][name])
        if "QueryLanguage" in spec and "QueryLanguage" not in state:
            state["QueryLanguage"] = spec["QueryLanguage"]
        return name, state
    return (name if isinstance(name, str) and name else "TestState"), spec


def _placeholders(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The state with its transitions pointed at placeholder states: (state, placeholder
    name -> the transition's real target)."""
    state = json.loads(json.dumps(state))
    targets: dict[str, str] = {}

    def point(holder: dict[str, Any], key: str) -> None:
        target = holder.get(key)
        if isinstance(target, str):
            placeholder = f"{_PLACEHOLDER}{uuid.uuid4().hex[:12]}"
            targets[placeholder] = target
            holder[key] = placeholder

    point(state, "Next")
    point(state, "Default")
    for rule in state.get("Choices") or []:
        if isinstance(rule, dict):
            point(rule, "Next")
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict):
            point(catcher, "Next")
    return state, targets


def _machine(name: str, state: dict[str, Any], variables: Any, extra: dict[str, Any]) -> Any:
    """A StateMachine running ``state`` (after an Assign of ``variables``)."""
    from sfnstack.asl import StateMachine

    states: dict[str, Any] = {name: state, **extra}
    start = name
    if variables:
        if not isinstance(variables, dict):
            raise SfnError("ValidationException", "variables must be a JSON object")
        states[_VARIABLES_STATE] = {"Type": "Pass", "Assign": variables, "Next": name}
        start = _VARIABLES_STATE
    return StateMachine({"StartAt": start, "States": states}, name="TestState")


def _compile(name: str, state: dict[str, Any], variables: Any, extra: dict[str, Any]) -> Any:
    from sfnstack.asl import DefinitionError

    try:
        return _machine(name, state, variables, extra)
    except DefinitionError as exc:
        raise SfnError(
            "InvalidDefinition",
            f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {exc}'",
        ) from None


def _pass_output(name: str, fields: dict[str, Any], data: Any, variables: Any) -> tuple[bool, Any]:
    """(True, output) of a Pass state with ``fields`` over ``data``; (False, None) if it
    fails (the real run says why)."""
    from sfnstack.asl import DefinitionError

    try:
        machine = _machine(name, {"Type": "Pass", **fields, "End": True}, variables, {})
    except (DefinitionError, SfnError):
        return False, None
    result = machine.execute(data, services=Services(), record_history=False)
    return (True, result.output) if result.status == "SUCCEEDED" else (False, None)


def _inspection(
    name: str, state: dict[str, Any], data: Any, variables: Any, history: list[dict[str, Any]]
) -> dict[str, Any]:
    inspection: dict[str, Any] = {"input": _text(data)}
    result = next(
        (
            json.loads(event[_RESULT_EVENTS[event["type"]]]["output"])
            for event in history
            if event.get("type") in _RESULT_EVENTS
        ),
        None,
    )
    arguments = next(
        (
            e["taskScheduledEventDetails"]["parameters"]
            if e["type"] == "TaskScheduled"
            else e["lambdaFunctionScheduledEventDetails"].get("input")
            for e in history
            if e.get("type") in ("TaskScheduled", "LambdaFunctionScheduled")
        ),
        None,
    )  # what the integration was called with
    if state.get("QueryLanguage") == "JSONata":
        if arguments is not None:
            inspection["afterArguments"] = arguments
        if result is not None:
            inspection["result"] = _text(result)
        return inspection
    steps: list[tuple[str, dict[str, Any]]] = [
        ("afterInputPath", {k: state[k] for k in ("InputPath",) if k in state}),
    ]
    if state.get("Type") in ("Task", "Pass"):  # (a Map's Parameters are per item)
        steps.append(
            ("afterParameters", {k: state[k] for k in ("InputPath", "Parameters") if k in state})
        )
    for key, fields in steps:
        ok, value = _pass_output(name, fields, data, variables)
        if not ok:
            return inspection
        inspection[key] = _text(value)
    if state.get("Type") == "Pass":
        ok, result = _pass_output(
            name, {k: state[k] for k in ("InputPath", "Parameters", "Result") if k in state},
            data, variables,
        )  # fmt: skip
    elif state.get("Type") != "Task" or result is None:
        return inspection
    inspection["result"] = _text(result)
    selected = result
    if "ResultSelector" in state:
        ok, selected = _pass_output(
            name, {"Parameters": state["ResultSelector"]}, result, variables
        )
        if not ok:
            return inspection
        inspection["afterResultSelector"] = _text(selected)
    fields = {
        "Result": selected,
        **({"ResultPath": state["ResultPath"]} if "ResultPath" in state else {}),
    }
    ok, combined = _pass_output(name, fields, data, variables)
    if ok:
        inspection["afterResultPath"] = _text(combined)
    return inspection


def _run(machine: Any, data: Any, services: Services) -> Any:
    stop = threading.Event()
    timer = threading.Timer(TIME_LIMIT_SECONDS, stop.set)
    timer.daemon = True
    timer.start()
    try:
        return machine.execute(data, services=services, stop_event=stop), stop.is_set()
    finally:
        timer.cancel()


def run_test_state(request: dict[str, Any], services: Services) -> dict[str, Any]:
    """The TestState API call; ``services`` are the local runtime's (its functions, S3)."""
    level = request.get("inspectionLevel") or "INFO"
    if level not in LEVELS:
        raise not_in_enum("inspectionLevel", level, LEVELS)
    if request.get("revealSecrets") and level != "TRACE":
        raise SfnError(
            "ValidationException", "revealSecrets can only be used with the TRACE inspection level"
        )
    role = request.get("roleArn")
    if role is not None and not (
        isinstance(role, str) and role.startswith("arn:") and ":iam::" in role
    ):
        raise SfnError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {role}'"
        )
    name, original = _the_state(request)
    text = request.get("input")
    if text is not None and not isinstance(text, str):
        raise SfnError("ValidationException", "input must be a string of JSON")
    data = parse_input("{}" if text is None else text)
    variables = _json_argument(request, "variables")
    state, targets = _placeholders(original)
    retriers = state.pop("Retry", None) or []
    extra = {placeholder: {"Type": "Succeed"} for placeholder in targets}
    machine = _compile(name, state, variables, extra)
    result, timed_out = _run(machine, data, services)
    history = result.history
    entered = [
        (e.get("stateEnteredEventDetails") or {}).get("name")
        for e in history
        if str(e.get("type", "")).endswith("StateEntered")
    ]
    reached = next((targets[n] for n in entered if n in targets), None)
    failure = next(
        (
            next(v for k, v in e.items() if k.endswith("EventDetails"))
            for e in reversed(history)
            if e.get("type") in _FAILURE_EVENTS
        ),
        None,
    )
    body: dict[str, Any] = {}
    if timed_out:
        body.update(status="FAILED", error="States.Timeout",
                    cause=f"TestState ran longer than {TIME_LIMIT_SECONDS:.0f} seconds")  # fmt: skip
    elif result.status == "SUCCEEDED":
        catchers = {c.get("Next") for c in state.get("Catch") or [] if isinstance(c, dict)}
        caught = any(n in catchers for n in entered)
        error = cause = None
        if caught:
            if failure is not None:
                error, cause = failure.get("error"), failure.get("cause")
            else:  # failed before any integration event (a path, an intrinsic): ask again
                bare = {k: v for k, v in state.items() if k != "Catch"}
                again, _ = _run(_compile(name, bare, variables, extra), data, services)
                error, cause = again.error, again.cause
        if caught and _retriable(retriers, error):
            body.update(status="RETRIABLE", error=error, cause=cause)
        else:
            body["status"] = "CAUGHT_ERROR" if caught else "SUCCEEDED"
            body["output"] = _text(result.output)
            if reached is not None:
                body["nextState"] = reached
            if caught:
                body.update(
                    {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
                )
    else:
        retriable = _retriable(retriers, result.error)
        body["status"] = "RETRIABLE" if retriable else "FAILED"
        body.update(
            {k: v for k, v in (("error", result.error), ("cause", result.cause)) if v is not None}
        )
    if level in ("DEBUG", "TRACE"):
        body["inspectionData"] = _inspection(name, original, data, variables, history)
    return body


def _retriable(retriers: list[Any], error: str | None) -> bool:
    from sfnstack.asl.retry import error_matches

    return any(
        isinstance(r, dict)
        and r.get("MaxAttempts", 3) != 0
        and error_matches(list(r.get("ErrorEquals") or []), error)
        for r in retriers
    )
