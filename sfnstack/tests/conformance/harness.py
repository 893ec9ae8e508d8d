"""Run a recorded conformance case through the interpreter and compare with AWS's result.

The recorded Lambda functions are emulated from each case's ``lambdas`` description; the
comparison rules are documented in docs/asl-conformance.md.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path
from typing import Any

from sfnstack.asl import DefinitionError, ExecutionResult, StateMachine
from sfnstack.services import LambdaFunctionError, LambdaNotFoundError, Services

from sfnstack import arns, cooperative

DATA = Path(__file__).parent / "data"
# The cases were recorded with LocalStack, whose account is 000000000000 (sfnstack's default
# is moto's 123456789012); their ARNs and error causes name it.
RECORDED_ACCOUNT = "000000000000"


def load_cases(path: Path = DATA / "cases.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _function_name(function: str) -> str:
    if ":function:" in function:
        return function.split(":function:", 1)[1].split(":", 1)[0]
    return function


def _error_payload(error_type: str, message: str, line: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": [f'  File "/var/task/handler.py", line 2, in handler\n    {line}\n'],
    }


def emulated_function(description: str) -> Any:
    """A callable(event) behaving as the case's description says."""
    if description == "identity":
        return lambda event: event
    if description.startswith("raise:"):
        _, error_type, message = description.split(":", 2)
        if "errorMessage is empty" in message or "no message" in message:
            message = ""

        def raise_error(event: Any) -> Any:
            raise LambdaFunctionError(
                error_type, _error_payload(error_type, message, f"raise {error_type}({message!r})")
            )

        return raise_error
    if description.startswith("sleeps 60 seconds"):

        def sleep_then_identity(event: Any) -> Any:
            cooperative.sleep(60)  # ended with the execution once its Task has timed out
            return event

        return sleep_then_identity
    if description.startswith("returns raw bytes:"):
        size = int(re.search(r"(\d+)", description.split(":", 1)[1]).group(1))  # type: ignore[union-attr]
        return lambda event: "a" * size
    match = re.search(r"returns the raw bytes b'(.*)' i\.e\.", description)
    if match:
        value = json.loads(match.group(1))
        return lambda event: value
    match = re.search(r"returns the constant object (\{.*\}) regardless", description)
    if match:
        value = json.loads(match.group(1))
        return lambda event: value
    raise ValueError(f"cannot emulate Lambda behaviour: {description}")


def case_services(case: dict[str, Any]) -> Services:
    functions = {name: emulated_function(d) for name, d in case.get("lambdas", {}).items()}

    def invoke(function: str, payload: Any) -> Any:
        name = _function_name(function)
        if name not in functions:
            raise LambdaNotFoundError(function)
        # Lambda sees a JSON copy of the event, as over the wire.
        return functions[name](json.loads(json.dumps(payload)))

    return Services(invoke_lambda=invoke, sleep=lambda seconds: None)


def run_case(case: dict[str, Any]) -> ExecutionResult:
    try:
        machine = StateMachine(
            case["definition"],
            name="ConformanceMachine",
            arn=arns.state_machine_arn("ConformanceMachine", account=RECORDED_ACCOUNT),
        )
    except DefinitionError as exc:
        return ExecutionResult(status="DEFINITION_ERROR", error="DefinitionError", cause=str(exc))
    return machine.execute(copy.deepcopy(case["input"]), services=case_services(case))


_SEGMENT = re.compile(r"\.([^.\[]+)|\['([^']*)'\]")


def _delete_path(value: Any, path: str) -> None:
    parts = [a or b for a, b in _SEGMENT.findall(path[1:])]
    node = value
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def compare(case: dict[str, Any], result: ExecutionResult) -> list[str]:
    """Differences between the recorded and the actual result (empty: the case passes)."""
    expected = case["expected"]
    problems = []
    if result.status != expected["status"]:
        problems.append(f"status {result.status!r} != expected {expected['status']!r}")
        if result.status == "FAILED":
            problems.append(f"error={result.error!r} cause={result.cause!r}")
        return problems
    if expected["status"] == "SUCCEEDED":
        want = copy.deepcopy(expected.get("output"))
        got = copy.deepcopy(result.output)
        for path in case.get("ignore_paths") or []:
            _delete_path(want, path)
            _delete_path(got, path)
        if json.dumps(want, sort_keys=True) != json.dumps(got, sort_keys=True):
            problems.append(
                f"output differs:\n  expected {json.dumps(want, sort_keys=True)[:2000]}\n"
                f"  actual   {json.dumps(got, sort_keys=True)[:2000]}"
            )
        return problems
    if result.error != expected.get("error"):
        problems.append(f"error {result.error!r} != expected {expected.get('error')!r}")
    if "cause" in expected and result.cause != expected["cause"]:
        problems.append(f"cause {result.cause!r} != expected {expected['cause']!r}")
    regex = case.get("cause_regex")
    if regex and not re.fullmatch(regex, result.cause or "", re.DOTALL):
        problems.append(f"cause {result.cause!r} does not match /{regex}/")
    return problems
