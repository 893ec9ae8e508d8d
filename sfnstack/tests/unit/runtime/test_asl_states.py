"""States, Choice rules, errors, Retry/Catch, timeouts, abort, validation and history."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sfnstack.asl import DefinitionError, StateMachine
from sfnstack.services import (
    LambdaFunctionError,
    LambdaNotFoundError,
    LambdaTimeoutError,
    Services,
)

from sfnstack import cooperative

FN = "arn:aws:lambda:us-east-1:000000000000:function:"


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> StateMachine:
    return StateMachine({"StartAt": start or next(iter(states)), "States": states, **top})


def choice_machine(rule: dict[str, Any]) -> StateMachine:
    return machine(
        {
            "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": True},
            "No": {"Type": "Pass", "Result": "no", "End": True},
        }
    )


def decide(rule: dict[str, Any], data: Any) -> str:
    result = choice_machine(rule).execute(data)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"Variable": "$.s", "StringMatches": "log-*.txt"}, {"s": "log-2024.txt"}, "yes"),
        ({"Variable": "$.s", "StringMatches": "log-*.txt"}, {"s": "log-2024.csv"}, "no"),
        ({"Variable": "$.s", "StringMatches": "a\\*b"}, {"s": "a*b"}, "yes"),
        ({"Variable": "$.s", "StringMatches": "a\\*b"}, {"s": "axxb"}, "no"),
        ({"Variable": "$.s", "StringMatches": "*\\\\"}, {"s": "ends\\"}, "yes"),
        ({"Variable": "$.t", "IsTimestamp": True}, {"t": "2024-02-29T10:00:00Z"}, "yes"),
        ({"Variable": "$.t", "IsTimestamp": True}, {"t": "2024-02-29T10:00:00.123+02:00"}, "yes"),
        ({"Variable": "$.t", "IsTimestamp": True}, {"t": "2023-02-29T10:00:00Z"}, "no"),
        ({"Variable": "$.t", "IsTimestamp": True}, {"t": "2024-02-01 10:00:00Z"}, "no"),
        ({"Variable": "$.t", "IsTimestamp": False}, {"t": 5}, "yes"),
        ({"Variable": "$.t", "IsTimestamp": True}, {}, "no"),
        (
            {"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:00Z"},
            {"t": "2023-12-31T23:00:00-01:30"},
            "no",
        ),
        (
            {"Variable": "$.t", "TimestampLessThanPath": "$.u"},
            {"t": "2023-12-31T23:00:00Z", "u": "2024-01-01T00:00:00Z"},
            "yes",
        ),
        ({"Variable": "$.n", "NumericEquals": 1}, {"n": 1.0}, "yes"),
        ({"Variable": "$.n", "NumericEquals": 1}, {"n": True}, "no"),
        ({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.m"}, {"n": 2, "m": 2}, "yes"),
        ({"Variable": "$.s", "StringEquals": "1"}, {"s": 1}, "no"),
        ({"Variable": "$.b", "BooleanEquals": False}, {"b": False}, "yes"),
        ({"Not": {"Variable": "$.x", "IsPresent": True}}, {}, "yes"),
        (
            {
                "And": [
                    {"Variable": "$.n", "IsNumeric": True},
                    {"Variable": "$.n", "NumericLessThan": 3},
                ]
            },
            {"n": 2},
            "yes",
        ),
        (
            {"Or": [{"Variable": "$.n", "IsNull": True}, {"Variable": "$.n", "IsString": True}]},
            {"n": 2},
            "no",
        ),
        ({"Variable": "$$.Execution.Input.n", "NumericEquals": 7}, {"n": 7}, "yes"),
    ],
)
def test_choice_rules(rule: dict[str, Any], data: Any, expected: str) -> None:
    assert decide(rule, data) == expected


def test_no_choice_matched_without_default() -> None:
    sm = machine(
        {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "E"}],
            },
            "E": {"Type": "Succeed"},
        }
    )
    result = sm.execute({"n": 2})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_choice_on_missing_variable_is_states_runtime() -> None:
    result = choice_machine({"Variable": "$.missing", "StringEquals": "x"}).execute({})
    assert result.status == "FAILED" and result.error == "States.Runtime"
    assert "Invalid path '$.missing'" in result.cause


def test_retry_backoff_uses_services_sleep() -> None:
    calls: list[Any] = []
    delays: list[float] = []

    def flaky(function: str, payload: Any) -> Any:
        calls.append(payload)
        if len(calls) < 5:
            raise LambdaFunctionError("Flaky", {"errorMessage": "again", "errorType": "Flaky"})
        return {"ok": True}

    sm = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": FN + "flaky",
                "Retry": [
                    {"ErrorEquals": ["Other"], "MaxAttempts": 9},
                    {
                        "ErrorEquals": ["States.TaskFailed"],
                        "IntervalSeconds": 2,
                        "BackoffRate": 3,
                        "MaxDelaySeconds": 10,
                        "MaxAttempts": 4,
                    },
                ],
                "Parameters": {"try.$": "$$.State.RetryCount"},
                "End": True,
            }
        }
    )
    result = sm.execute({}, services=Services(invoke_lambda=flaky, sleep=delays.append))
    assert result.status == "SUCCEEDED" and result.output == {"ok": True}
    assert delays == [2, 6, 10, 10]
    assert [c["try"] for c in calls] == [0, 1, 2, 3, 4]


def test_full_jitter_stays_below_the_backoff() -> None:
    delays: list[float] = []
    sm = machine(
        {
            "F": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Fail", "Error": "E"}}}],
                "Retry": [
                    {
                        "ErrorEquals": ["E"],
                        "IntervalSeconds": 4,
                        "MaxAttempts": 3,
                        "JitterStrategy": "FULL",
                    }
                ],
                "End": True,
            }
        }
    )
    result = sm.execute({}, services=Services(sleep=delays.append))
    assert result.status == "FAILED" and result.error == "E"
    assert len(delays) == 3 and all(0 <= d <= m for d, m in zip(delays, [4, 8, 16], strict=True))


def test_catch_result_path_and_lambda_error_shapes() -> None:
    def boom(function: str, payload: Any) -> Any:
        raise LambdaFunctionError("ValueError", {"errorMessage": "bad", "errorType": "ValueError"})

    states = {
        "T": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "f", "Payload.$": "$"},
            "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.err", "Next": "Done"}],
            "End": True,
        },
        "Done": {"Type": "Succeed"},
    }
    result = machine(states).execute({"in": 1}, services=Services(invoke_lambda=boom))
    assert result.output == {
        "in": 1,
        "err": {"Error": "ValueError", "Cause": '{"errorMessage":"bad","errorType":"ValueError"}'},
    }
    types = [e["type"] for e in result.history]
    assert types == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    failed = result.history[4]["taskFailedEventDetails"]
    assert failed["error"] == "ValueError" and failed["resourceType"] == "lambda"


def test_states_runtime_is_never_caught() -> None:
    states = {
        "P": {"Type": "Pass", "InputPath": "$.nope", "Catch": [], "End": True},
    }
    with pytest.raises(DefinitionError, match="Catch"):
        machine(states)
    states = {
        "T": {
            "Type": "Task",
            "Resource": FN + "f",
            "OutputPath": "$.nope",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}],
            "End": True,
        },
        "C": {"Type": "Succeed"},
    }
    result = machine(states).execute({}, services=Services(invoke_lambda=lambda f, p: {}))
    assert result.status == "FAILED" and result.error == "States.Runtime"


def test_lambda_not_found_and_lambda_timeout() -> None:
    def missing(function: str, payload: Any) -> Any:
        raise LambdaNotFoundError(function)

    sm = machine({"T": {"Type": "Task", "Resource": FN + "ghost", "End": True}})
    result = sm.execute({}, services=Services(invoke_lambda=missing))
    assert result.error == "Lambda.ResourceNotFoundException"
    assert result.cause.startswith(f"Function not found: {FN}ghost:$LATEST (Service: AWSLambda;")

    calls: list[str] = []

    def slow(function: str, payload: Any) -> Any:
        calls.append(function)
        raise LambdaTimeoutError("slow", 3)

    sm = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": FN + "slow",
                "Retry": [{"ErrorEquals": ["States.TaskFailed"]}],
                "End": True,
            }
        }
    )
    result = sm.execute({}, services=Services(invoke_lambda=slow, sleep=lambda s: None))
    assert result.error == "States.Timeout"
    assert len(calls) == 1  # not retried: States.TaskFailed does not match States.Timeout
    assert [e["type"] for e in result.history][-2:] == ["LambdaFunctionTimedOut", "ExecutionFailed"]


def test_task_timeout_gives_up_without_waiting_for_the_call() -> None:
    def hang(function: str, payload: Any) -> Any:
        cooperative.sleep(30)  # waits through the execution's hub, as the Lambda pool does
        return payload

    sm = machine({"T": {"Type": "Task", "Resource": FN + "hang", "TimeoutSeconds": 1, "End": True}})
    start = time.monotonic()
    result = sm.execute({}, services=Services(invoke_lambda=hang))
    assert result.error == "States.Timeout"
    assert time.monotonic() - start < 10


def test_a_blocking_call_that_returns_too_late_has_timed_out() -> None:
    # An invoker that holds the thread cannot be given up on; it still times out as on AWS.
    def block(function: str, payload: Any) -> Any:
        time.sleep(1.3)
        return payload

    sm = machine(
        {"T": {"Type": "Task", "Resource": FN + "block", "TimeoutSeconds": 1, "End": True}}
    )
    result = sm.execute({}, services=Services(invoke_lambda=block))
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    types = [e["type"] for e in result.history]
    assert types[-2:] == ["LambdaFunctionTimedOut", "ExecutionFailed"]


def test_iterations_and_timed_calls_run_on_the_execution_thread() -> None:
    # One concurrency model: Map iterations and calls under a TimeoutSeconds are greenlets
    # of the execution's hub, not threads (they were "asl-*" and "task-*" threads).
    seen: list[threading.Thread] = []

    def call(function: str, payload: Any) -> Any:
        seen.append(threading.current_thread())
        cooperative.sleep(0.1)
        return payload

    task = {"Type": "Task", "Resource": FN + "f", "TimeoutSeconds": 5, "End": True}
    sm = machine(
        {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "T", "States": {"T": task}},
                "End": True,
            }
        }
    )
    started = time.monotonic()
    result = sm.execute(list(range(8)), services=Services(invoke_lambda=call, map_workers=8))
    assert result.status == "SUCCEEDED" and result.output == list(range(8))
    assert seen == [threading.current_thread()] * 8
    assert time.monotonic() - started < 0.5  # side by side: 8 x 0.1 s one after another is 0.8 s


def test_heartbeat_timeout() -> None:
    sm = machine(
        {"T": {"Type": "Task", "Resource": FN + "hang", "HeartbeatSeconds": 1, "End": True}}
    )
    result = sm.execute({}, services=Services(invoke_lambda=lambda f, p: cooperative.sleep(30)))
    assert result.error == "States.HeartbeatTimeout"


def test_stop_event_aborts_a_running_task() -> None:
    services = Services(invoke_lambda=lambda f, p: cooperative.sleep(30), map_workers=4)
    sm = machine(
        {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": FN + "hang",
                            "TimeoutSeconds": 100,
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        }
    )
    threading.Timer(0.3, services.stop_event.set).start()
    start = time.monotonic()
    result = sm.execute([1, 2, 3], services=services)
    assert result.status == "ABORTED" and result.output is None
    types = [e["type"] for e in result.history]
    assert types[-2:] == ["MapStateAborted", "ExecutionAborted"]
    assert "TaskStateAborted" in types and "MapIterationAborted" in types
    assert time.monotonic() - start < 10


def test_a_broken_invoker_fails_the_task_not_the_interpreter() -> None:
    def broken(function: str, payload: Any) -> Any:
        raise ConnectionError("worker pipe closed")

    sm = machine({"T": {"Type": "Task", "Resource": FN + "f", "End": True}})
    result = sm.execute({}, services=Services(invoke_lambda=broken))
    assert (result.error, result.cause) == (
        "Lambda.ServiceException",
        "ConnectionError: worker pipe closed",
    )


def test_per_execution_stop_event_leaves_other_executions_running() -> None:
    sm = machine({"W": {"Type": "Wait", "Seconds": 1, "End": True}})
    services = Services()
    stop = threading.Event()
    stop.set()
    assert sm.execute({}, services=services, stop_event=stop).status == "ABORTED"
    assert not services.stop_event.is_set()
    assert sm.execute({}, services=Services(sleep=lambda s: None)).status == "SUCCEEDED"


def test_wait_states_use_services_sleep() -> None:
    slept: list[float] = []
    sm = machine(
        {
            "W1": {"Type": "Wait", "Seconds": 5, "Next": "W2"},
            "W2": {"Type": "Wait", "SecondsPath": "$.s", "Next": "W3"},
            "W3": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": True},
        }
    )
    result = sm.execute({"s": 7}, services=Services(sleep=slept.append))
    assert result.status == "SUCCEEDED" and slept == [5.0, 7.0]


def test_execution_timeout() -> None:
    sm = machine({"W": {"Type": "Wait", "Seconds": 30, "End": True}}, TimeoutSeconds=1)
    result = sm.execute({})
    assert result.status == "TIMED_OUT" and result.error == "States.Timeout"
    assert result.history[-1]["type"] == "ExecutionTimedOut"


def test_data_limit_exceeded() -> None:
    sm = machine(
        {"P": {"Type": "Pass", "Parameters": {"big.$": "$.s"}, "ResultPath": "$.copy", "End": True}}
    )
    result = sm.execute({"s": "x" * 140_000})
    assert result.error == "States.DataLimitExceeded"
    assert "'P'" in result.cause


def test_parallel_branches_and_failure() -> None:
    sm = machine(
        {
            "Par": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "End": True}}},
                    {
                        "StartAt": "B",
                        "States": {"B": {"Type": "Pass", "InputPath": "$.x", "End": True}},
                    },
                ],
                "ResultSelector": {"first.$": "$[0]", "second.$": "$[1]"},
                "End": True,
            }
        }
    )
    result = sm.execute({"x": "two"})
    assert result.output == {"first": 1, "second": "two"}
    types = [e["type"] for e in result.history]
    assert "ParallelStateStarted" in types and "ParallelStateSucceeded" in types


def test_fail_state_and_history_shape() -> None:
    sm = machine({"F": {"Type": "Fail", "Error": "Bad", "Cause": "because"}})
    events: list[dict[str, Any]] = []
    result = sm.execute({"a": 1}, listener=events.append)
    assert (result.status, result.error, result.cause) == ("FAILED", "Bad", "because")
    assert events == result.history
    started, entered, failed = result.history
    assert started["executionStartedEventDetails"]["input"] == '{"a":1}'
    assert entered["type"] == "FailStateEntered" and entered["previousEventId"] == 1
    assert entered["stateEnteredEventDetails"] == {
        "name": "F",
        "input": '{"a":1}',
        "inputDetails": {"truncated": False},
    }
    assert failed["executionFailedEventDetails"] == {"error": "Bad", "cause": "because"}
    assert [e["id"] for e in result.history] == [1, 2, 3]
    assert result.start_date <= failed["timestamp"] <= result.stop_date


def test_history_can_be_switched_off() -> None:
    sm = machine({"P": {"Type": "Pass", "End": True}})
    result = sm.execute({}, record_history=False)
    assert result.status == "SUCCEEDED" and result.history == []


def test_recorded_history_built_when_read_matches_the_history_seen_live() -> None:
    # Without a listener the events are built only when read, after the run: they must
    # still show each state's data as it was then (ResultPath/Parameters make new objects).
    def double(function: str, payload: Any) -> Any:
        return {"v": payload["v"] * 2}

    sm = machine(
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": FN + "double",
                            "Parameters": {"v.$": "$.n"},
                            "ResultPath": "$.doubled",
                            "Next": "P",
                        },
                        "P": {"Type": "Pass", "Parameters": {"out.$": "$.doubled.v"}, "End": True},
                    },
                },
                "End": True,
            }
        }
    )
    data = {"items": [{"n": 1}, {"n": 2}]}
    live: list[dict[str, Any]] = []
    seen = sm.execute(data, services=Services(invoke_lambda=double), listener=live.append)
    recorded = sm.execute(data, services=Services(invoke_lambda=double))

    def without_times(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]

    assert recorded.output == [{"out": 2}, {"out": 4}]
    assert without_times(recorded.history) == without_times(seen.history)
    entered = [e for e in recorded.history if e["type"] == "TaskStateEntered"]
    assert [e["stateEnteredEventDetails"]["input"] for e in entered] == ['{"n":1}', '{"n":2}']
    exited = [e for e in recorded.history if e["type"] == "TaskStateExited"]
    assert exited[1]["stateExitedEventDetails"]["output"] == '{"n":2,"doubled":{"v":4}}'
    times = [e["timestamp"] for e in recorded.history]
    assert times == sorted(times) and recorded.start_date <= times[0]


def test_an_invoker_that_speaks_json_gets_the_event_as_json_text() -> None:
    calls: list[tuple[str, bytes]] = []

    def invoke_json(function: str, body: bytes) -> bytes:
        calls.append((function, body))
        return b'{"echo": ' + body + b', "note": "caf\\u00e9"}'

    sm = machine({"T": {"Type": "Task", "Resource": FN + "j", "ResultPath": "$.r", "End": True}})
    result = sm.execute({"a": [1, "x"]}, services=Services(invoke_lambda_json=invoke_json))
    assert calls == [(FN + "j", b'{"a": [1, "x"]}')]
    assert result.output == {"a": [1, "x"], "r": {"echo": {"a": [1, "x"]}, "note": "caf\u00e9"}}

    big = b'"' + b"x" * 262_144 + b'"'
    result = sm.execute({}, services=Services(invoke_lambda_json=lambda f, body: big))
    assert result.error == "States.DataLimitExceeded"


def test_a_task_result_passed_on_whole_is_sent_as_the_text_it_came_as() -> None:
    # Geocode -> Weather -> ...: each step's payload is the previous step's result. Its
    # JSON text (here in a spacing json.dumps never writes) is sent again as it came,
    # not decoded and encoded anew; a payload built from it is encoded.
    calls: list[tuple[str, bytes]] = []
    replies = {
        "a": b'{"n" :1,  "list":[1.5, "caf\\u00e9"]}',
        "b": b'{"n":2}',
        "c": b'{"n":3}',
    }

    def invoke_json(function: str, body: bytes) -> bytes:
        calls.append((function.rsplit(":", 1)[1], body))
        return replies[function.rsplit(":", 1)[1]]

    def task(name: str, **fields: Any) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": FN + name, **fields},
            "OutputPath": "$.Payload",
        }

    sm = machine(
        {
            "A": {**task("a", **{"Payload.$": "$"}), "Next": "B"},
            "B": {**task("b", **{"Payload.$": "$"}), "Next": "C"},
            "C": {**task("c", **{"Payload": {"previous.$": "$"}}), "End": True},
        }
    )
    result = sm.execute({"start": True}, services=Services(invoke_lambda_json=invoke_json))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {"n": 3}
    assert calls == [
        ("a", b'{"start": true}'),
        ("b", replies["a"]),  # the reply's own text
        ("c", b'{"previous": {"n": 2}}'),  # a new object: encoded
    ]


def test_assign_variables() -> None:
    sm = machine(
        {
            "A": {"Type": "Pass", "Assign": {"n.$": "$.n", "k": "const"}, "Next": "B"},
            "B": {
                "Type": "Pass",
                "Parameters": {"sum.$": "States.MathAdd($n, 1)", "k.$": "$k"},
                "End": True,
            },
        }
    )
    assert sm.execute({"n": 4}).output == {"sum": 5, "k": "const"}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"States": {"A": {"Type": "Pass", "End": True}}}, "StartAt"),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}},
            "state 'A' field 'Next'",
        ),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "state 'A' field 'Next'"),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "End": True}, "B": {"Type": "Succeed"}},
            },
            "state 'B'",
        ),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "Resultt": 1}}}, "Resultt"),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Task", "Resource": "${FnArn}", "End": True}},
            },
            "${FnArn}",
        ),
        ({"StartAt": "A", "States": {"A": {"Type": "Pasta", "End": True}}}, "Pasta"),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "ResultPath": "$.a[0]", "End": True}},
            },
            "ResultPath",
        ),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "A"}]}},
            },
            "operator",
        ),
        ({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": True}}}, "Seconds"),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Map",
                        "ItemProcessor": {
                            "StartAt": "X",
                            "States": {"X": {"Type": "Pass", "Next": "Y"}},
                        },
                        "End": True,
                    }
                },
            },
            "Y",
        ),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "nope"}, "End": True}},
            },
            "field 'Parameters'",
        ),
        ({"StartAt": "A", "Extra": 1, "States": {"A": {"Type": "Pass", "End": True}}}, "Extra"),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Parallel",
                        "End": True,
                        "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}],
                    }
                },
            },
            "duplicate state name",
        ),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": FN + "f",
                        "End": True,
                        "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
                    }
                },
            },
            "last Retry",
        ),
    ],
)
def test_validation_errors_name_the_state_and_problem(
    definition: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        StateMachine(definition)
    assert message in str(caught.value)


def test_substitution_error_names_the_state() -> None:
    with pytest.raises(DefinitionError) as caught:
        StateMachine(
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${FnArn}", "End": True}}}
        )
    assert caught.value.state == "A" and caught.value.field == "Resource"


def test_concurrent_executions_are_isolated() -> None:
    sm = machine(
        {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": FN + "double", "End": True}},
                },
                "End": True,
            }
        }
    )

    def double(function: str, payload: Any) -> Any:
        time.sleep(0.001)
        return payload * 2

    services = Services(invoke_lambda=double, map_workers=4)
    results: dict[int, Any] = {}

    def run(i: int) -> None:
        results[i] = sm.execute(list(range(i, i + 30)), services=services).output

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [2 * x for x in range(i, i + 30)] for i in range(4)}


def test_in_process_functions_cannot_alter_execution_data() -> None:
    kept: list[Any] = []

    def meddle(function: str, payload: Any) -> Any:
        payload["items"].append("injected")
        kept.append(payload)
        return payload

    sm = machine(
        {
            "T": {"Type": "Task", "Resource": FN + "m", "ResultPath": "$.r", "Next": "Later"},
            "Later": {"Type": "Pass", "End": True},
        }
    )
    result = sm.execute({"items": [1]}, services=Services(invoke_lambda=meddle))
    kept[0]["items"].append("after the fact")
    assert result.output == {"items": [1], "r": {"items": [1, "injected"]}}


def test_unserializable_result_is_a_marshal_error() -> None:
    sm = machine({"T": {"Type": "Task", "Resource": FN + "f", "End": True}})
    result = sm.execute({}, services=Services(invoke_lambda=lambda f, p: {1, 2}))
    assert result.error == "Runtime.MarshalError"
    assert "Unable to marshal response" in result.cause


def test_jsonata_states() -> None:
    def boom(function: str, payload: Any) -> Any:
        if payload.get("fail"):
            raise LambdaFunctionError(
                "ValueError", {"errorMessage": "no", "errorType": "ValueError"}
            )
        return {"sum": sum(payload["values"])}

    sm = StateMachine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Prep",
            "States": {
                "Prep": {
                    "Type": "Pass",
                    "Assign": {"n": "{% $count($states.input.values) %}"},
                    "Output": {
                        "values": "{% $states.input.values %}",
                        "fail": "{% $states.input.fail %}",
                    },
                    "Next": "Call",
                },
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "adder", "Payload": "{% $states.input %}"},
                    "Output": "{% {'sum': $states.result.Payload.sum, 'n': $n} %}",
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Output": "{% $states.errorOutput.Error %}",
                            "Next": "Done",
                        }
                    ],
                    "Next": "Check",
                },
                "Check": {
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $states.input.sum > 5 %}", "Next": "Done"}],
                    "Default": "Small",
                },
                "Small": {"Type": "Fail", "Error": "{% 'TooSmall' & $string($n) %}"},
                "Done": {"Type": "Succeed"},
            },
        }
    )
    services = Services(invoke_lambda=boom)
    assert sm.execute({"values": [1, 2, 3], "fail": False}, services=services).output == {
        "sum": 6,
        "n": 3,
    }
    assert sm.execute({"values": [1, 2], "fail": False}, services=services).error == "TooSmall2"
    assert sm.execute({"values": [1], "fail": True}, services=services).output == "ValueError"
    undefined = sm.execute({"values": [1]}, services=services)
    assert (
        undefined.error == "States.QueryEvaluationError"
        and "returned nothing (undefined)" in undefined.cause
    )


def test_jsonata_state_rejects_jsonpath_fields() -> None:
    with pytest.raises(DefinitionError, match="InputPath"):
        StateMachine(
            {
                "QueryLanguage": "JSONata",
                "StartAt": "P",
                "States": {"P": {"Type": "Pass", "InputPath": "$.x", "End": True}},
            }
        )


def test_variables_assigned_in_branches_do_not_leak() -> None:
    sm = machine(
        {
            "Init": {"Type": "Pass", "Assign": {}, "Next": "Par"},
            "Par": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "A",
                        "States": {
                            "A": {"Type": "Pass", "Assign": {"x": "a"}, "Next": "A2"},
                            "A2": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": True},
                        },
                    },
                    {
                        "StartAt": "B",
                        "States": {
                            "B": {"Type": "Pass", "Assign": {"x": "b"}, "Next": "B2"},
                            "B2": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": True},
                        },
                    },
                ],
                "Next": "After",
            },
            "After": {
                "Type": "Choice",
                "Choices": [{"Variable": "$x", "IsPresent": True, "Next": "Leaked"}],
                "Default": "Clean",
            },
            "Leaked": {"Type": "Fail", "Error": "Leaked"},
            "Clean": {"Type": "Succeed"},
        }
    )
    result = sm.execute({})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == [{"x": "a"}, {"x": "b"}]
