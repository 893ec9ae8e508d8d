"""AWS's hard quota of 25,000 history events per execution: a loop that never ends fails as
on AWS ("Avoid reaching the history quota": event 25,000 may only be ExecutionSucceeded,
otherwise it is ExecutionFailed), instead of running forever."""

from __future__ import annotations

from typing import Any

import pytest
from sfnstack.asl import StateMachine

LIMIT_CAUSE = "The execution reached the maximum number of history events (25000)."

# A polling loop whose condition never comes true: 4 events per round. (TimeoutSeconds
# only bounds the test should the quota be missed; the quota ends it within a second.)
POLL_FOREVER: dict[str, Any] = {
    "TimeoutSeconds": 30,
    "StartAt": "Poll",
    "States": {
        "Poll": {
            "Type": "Pass",
            "Result": {"done": False},
            "ResultPath": "$.status",
            "Next": "Done?",
        },
        "Done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.status.done", "BooleanEquals": True, "Next": "Finished"}],
            "Default": "Poll",
        },
        "Finished": {"Type": "Succeed"},
    },
}


@pytest.mark.parametrize("record_history", [True, False])
def test_a_loop_that_never_ends_fails_at_event_25000(record_history: bool) -> None:
    result = StateMachine(POLL_FOREVER).execute({}, record_history=record_history)
    assert (result.status, result.error, result.cause) == ("FAILED", "States.Runtime", LIMIT_CAUSE)
    if record_history:
        events = result.history
        assert len(events) == 25_000
        assert [e["id"] for e in events] == list(range(1, 25_001))
        assert events[-1]["type"] == "ExecutionFailed"
        assert events[-1]["executionFailedEventDetails"] == {
            "error": "States.Runtime",
            "cause": LIMIT_CAUSE,
        }


def test_the_listener_sees_the_same_25000_events() -> None:
    seen: list[dict[str, Any]] = []
    result = StateMachine(POLL_FOREVER).execute({}, listener=seen.append, record_history=False)
    assert result.status == "FAILED" and result.cause == LIMIT_CAUSE
    assert len(seen) == 25_000 and seen[-1]["id"] == 25_000
    assert seen[-1]["type"] == "ExecutionFailed"


def test_no_catch_handles_the_quota_in_a_map() -> None:
    """Map iterations in flight stop; neither the iteration's Catch nor the Map's sees it."""
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Pass", "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    # 4 events per item (iteration started, Pass entered/exited, iteration succeeded)
    result = StateMachine(definition).execute({"items": list(range(7_000))})
    assert (result.status, result.cause) == ("FAILED", LIMIT_CAUSE)
    assert len(result.history) == 25_000
    small = StateMachine(definition).execute({"items": list(range(100))})
    assert small.status == "SUCCEEDED"
    # Express workflows have no history quota
    express = StateMachine(definition, workflow_type="EXPRESS")
    result = express.execute({"items": list(range(7_000))})
    assert result.status == "SUCCEEDED" and len(result.history) == 4 + 7_000 * 4 + 2


def test_an_execution_ending_within_the_quota_succeeds() -> None:
    """A loop that ends after ~24,000 events is unaffected."""
    definition = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                "Next": "Enough?",
            },
            "Enough?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 6_000, "Next": "Done"}],
                "Default": "Count",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    result = StateMachine(definition).execute({"n": 0})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"n": 6_000}
    assert len(result.history) == 2 + 6_000 * 4 + 2  # started, loop, Done, succeeded
