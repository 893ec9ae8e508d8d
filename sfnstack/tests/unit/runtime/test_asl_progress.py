"""Starting an execution from recorded progress (the interpreter's side of
RedriveExecution): from the top-level state that did not succeed, with its input, and for a
Map only the iterations that did not succeed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sfnstack.asl import StateMachine
from sfnstack.asl.progress import Progress, Resume
from sfnstack.services import LambdaFunctionError, Services

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


class Recorder(Progress):
    def __init__(self, resume: Resume | None = None) -> None:
        super().__init__(resume)
        self.lock = threading.Lock()
        self.entered_states: list[tuple[str, Any]] = []
        self.done: dict[str, dict[int, Any]] = {}

    def state_entered(self, state: str, data: Any) -> None:
        with self.lock:
            self.entered_states.append((state, data))
            self.done.pop(state, None)

    def iteration_succeeded(self, state: str, index: int, output: Any) -> None:
        with self.lock:
            self.done.setdefault(state, {})[index] = output


def _machine(mode: str) -> StateMachine:
    processor: dict[str, Any] = {
        "StartAt": "Square",
        "States": {
            "Square": {"Type": "Task", "Resource": FN + "square", "End": True},
        },
    }
    if mode == "DISTRIBUTED":
        processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    return StateMachine(
        {
            "StartAt": "Setup",
            "States": {
                "Setup": {"Type": "Pass", "Result": [0, 1, 2, 3, 4, 5], "ResultPath": "$.items",
                          "Next": "Each"},
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": processor,
                    "ResultPath": "$.squares",
                    "Next": "Total",
                },
                "Total": {"Type": "Task", "Resource": FN + "total", "End": True},
            },
        }
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["INLINE", "DISTRIBUTED"])
def test_a_redrive_reruns_only_the_map_iterations_that_did_not_succeed(mode: str) -> None:
    calls: list[Any] = []
    broken = {3}

    def work(function: str, payload: Any) -> Any:
        calls.append(payload if function.endswith("square") else "total")
        if function.endswith("total"):
            return sum(payload["squares"])
        if payload in broken:
            raise LambdaFunctionError("Flaky", {"errorMessage": "down", "errorType": "Flaky"})
        return payload * payload

    machine = _machine(mode)
    first = Recorder()
    result = machine.execute({"run": 1}, services=Services(invoke_lambda=work, progress=first))
    assert result.status == "FAILED"
    assert [name for name, _ in first.entered_states] == ["Setup", "Each"]
    assert first.done["Each"] == {0: 0, 1: 1, 2: 4}
    last_id = result.history[-1]["id"]

    broken.clear()
    calls.clear()
    state, data = first.entered_states[-1]
    resume = Resume(
        state=state,
        input=data,
        redrive_count=1,
        redrive_date=datetime.now(UTC),
        first_event_id=last_id + 1,
        iterations=first.done["Each"],
    )
    second = Recorder(resume)
    redriven = machine.execute({"run": 1}, services=Services(invoke_lambda=work, progress=second))
    assert redriven.status == "SUCCEEDED", redriven.cause
    assert redriven.output == 0 + 1 + 4 + 9 + 16 + 25
    # done iterations are not run again; Setup is not run again
    assert sorted(c for c in calls if c != "total") == [3, 4, 5]
    assert [name for name, _ in second.entered_states] == ["Each", "Total"]
    events = redriven.history
    assert events[0]["type"] == "ExecutionRedriven"
    assert events[0]["id"] == last_id + 1
    assert events[0]["previousEventId"] == last_id
    assert events[0]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert "ExecutionStarted" not in [e["type"] for e in events]


def test_recorded_iterations_apply_to_the_resumed_state_only_once() -> None:
    resume = Resume("Each", [1], 1, datetime.now(UTC), iterations={0: "kept"})
    progress = Progress(resume)
    progress.entered("Each", [1])
    assert progress.recorded_iteration("Each", 0) == (True, "kept")
    assert progress.recorded_iteration("Other", 0) == (False, None)
    progress.entered("Next", {})
    progress.entered("Each", [1])  # a loop back into the Map: a fresh run of it
    assert progress.recorded_iteration("Each", 0) == (False, None)


def test_the_context_object_carries_the_redrive_count() -> None:
    machine = StateMachine(
        {
            "StartAt": "A",
            "States": {
                "A": {
                    "Type": "Pass",
                    "Parameters": {"count.$": "$$.Execution.RedriveCount"},
                    "End": True,
                }
            },
        }
    )
    resume = Resume("A", {}, 2, datetime.now(UTC), first_event_id=7)
    result = machine.execute({}, services=Services(progress=Progress(resume)))
    assert result.output == {"count": 2}
