"""Mocked service integrations (sfnstack.mocks): AWS's documented example, attempts and
ranges, Retry and Catch, Map and Parallel, hybrid paths, and the configuration errors."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sfnstack.asl import StateMachine
from sfnstack.integrations import aws
from sfnstack.mocks import MockConfig, MockConfigError
from sfnstack.services import Services

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mocks"
AWS_DEFINITION = json.loads((FIXTURES / "LambdaSQSIntegration.asl.json").read_text())
AWS_CONFIG = MockConfig.load(FIXTURES / "MockConfigFile.json")
FN = "arn:aws:lambda:us-east-1:123456789012:function:"


def run_case(
    definition: dict[str, Any],
    config: MockConfig,
    case: str,
    data: Any = None,
    *,
    machine: str = "M",
    invoke: Any = None,
) -> tuple[Any, list[float]]:
    test_case = config.test_case(machine, case)
    test_case.check_definition(definition)
    delays: list[float] = []
    services = Services(invoke_lambda=invoke, sleep=delays.append, mocked=test_case.start())
    return StateMachine(definition).execute(data, services=services), delays


def config(test_case: dict[str, str], responses: dict[str, Any]) -> MockConfig:
    return MockConfig(
        {"StateMachines": {"M": {"TestCases": {"T": test_case}}}, "MockedResponses": responses}
    )


def task(resource: str = "arn:aws:states:::sqs:sendMessage", **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **fields}


# -- AWS's documented example ---------------------------------------------------------


def test_aws_happy_path() -> None:
    result, delays = run_case(
        AWS_DEFINITION, AWS_CONFIG, "HappyPath", {"x": 1}, machine="LambdaSQSIntegration"
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {
        "MD5OfMessageBody": "3bcb6e8e-7h85-4375-b0bc-1a59812c6e51",
        "MessageId": "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51",
    }
    assert delays == []
    kinds = [e["type"] for e in result.history]
    assert kinds.count("TaskSucceeded") == 2
    lambda_done = next(e for e in result.history if e["type"] == "TaskSucceeded")
    details = lambda_done["taskSucceededEventDetails"]
    assert (details["resourceType"], details["resource"]) == ("lambda", "invoke")
    assert json.loads(details["output"])["Payload"]["body"] == "Hello from Lambda!"


def test_aws_retry_path_exhausts_the_retries_before_the_success() -> None:
    result, delays = run_case(
        AWS_DEFINITION, AWS_CONFIG, "RetryPath", machine="LambdaSQSIntegration"
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["MessageId"] == "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51"
    # attempt 0 and the retries 1-2 fail, retry 3 succeeds: the Retry's back-off between
    assert delays == [2.0, 4.0, 8.0]
    failed = [e["taskFailedEventDetails"] for e in result.history if e["type"] == "TaskFailed"]
    assert [(f["error"], f["cause"]) for f in failed] == [
        ("Lambda.ResourceNotReadyException", "Lambda resource is not ready."),
        ("Lambda.TimeoutException", "Lambda timed out."),
        ("Lambda.TimeoutException", "Lambda timed out."),
    ]


def test_aws_hybrid_path_runs_the_unmocked_state_for_real() -> None:
    # LambdaState is mocked; SQSState sends to the queue for real (moto, in process).
    sqs = aws.CLIENTS.client("sqs", "us-east-1")
    queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/myQueue"
    with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
        sqs.delete_queue(QueueUrl=queue_url)
    result, _ = run_case(AWS_DEFINITION, AWS_CONFIG, "HybridPath", machine="LambdaSQSIntegration")
    # no queue yet: SQS's own error, after the mocked Lambda succeeded
    assert result.status == "FAILED"
    assert result.error == "SQS.QueueDoesNotExistException"
    assert "The specified queue does not exist" in result.cause

    sqs.create_queue(QueueName="myQueue")
    result, _ = run_case(AWS_DEFINITION, AWS_CONFIG, "HybridPath", machine="LambdaSQSIntegration")
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    sent = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert [m["MessageId"] for m in sent] == [result.output["MessageId"]]
    # the mocked Lambda response was the message, as JSON text
    assert json.loads(sent[0]["Body"]) == {
        "StatusCode": 200,
        "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"},
    }
    assert result.output["MD5OfMessageBody"] == hashlib.md5(sent[0]["Body"].encode()).hexdigest()
    assert result.output["SdkHttpMetadata"]["HttpStatusCode"] == 200


# -- attempts ---------------------------------------------------------------------------


def test_attempts_run_out_fails_the_execution_even_past_a_catch() -> None:
    definition = {
        "StartAt": "S",
        "States": {
            "S": task(
                Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    cfg = config({"S": "Once"}, {"Once": {"0": {"Throw": {"Error": "E", "Cause": "c"}}}})
    result, _ = run_case(definition, cfg, "T")
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "'Once'" in result.cause and "attempt 1" in result.cause


def test_a_loop_back_into_a_state_counts_on() -> None:
    definition = {
        "StartAt": "S",
        "States": {
            "S": task(ResultPath="$.last", Next="Again?"),
            "Again?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.last", "StringEquals": "again", "Next": "S"}],
                "Default": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
    cfg = config(
        {"S": "Twice"},
        {"Twice": {"0-1": {"Return": "again"}, "2": {"Return": "enough"}}},
    )
    result, _ = run_case(definition, cfg, "T", {})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"last": "enough"}
    assert [e["type"] for e in result.history].count("TaskScheduled") == 3


def test_catch_takes_a_mocked_error() -> None:
    definition = {
        "StartAt": "S",
        "States": {
            "S": task(
                Retry=[{"ErrorEquals": ["Retried"], "MaxAttempts": 2}],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "F"}],
                End=True,
            ),
            "F": {"Type": "Pass", "End": True},
        },
    }
    cfg = config(
        {"S": "RetriedThenFatal"},
        {
            "RetriedThenFatal": {
                "0": {"Throw": {"Error": "Retried", "Cause": "once"}},
                "1": {"Throw": {"Error": "Fatal", "Cause": "for good"}},
            }
        },
    )
    result, delays = run_case(definition, cfg, "T", {"k": 1})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"k": 1, "failure": {"Error": "Fatal", "Cause": "for good"}}
    assert delays == [1.0]


def test_map_iterations_share_the_states_attempts() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": task(End=True)}},
                "End": True,
            }
        },
    }
    cfg = config(
        {"Inner": "Seq"},
        {"Seq": {"0": {"Return": "first"}, "1-2": {"Return": {"n": "later"}}}},
    )
    result, _ = run_case(definition, cfg, "T", [1, 2, 3])
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == ["first", {"n": "later"}, {"n": "later"}]


def test_parallel_branches_and_a_real_lambda_beside_the_mock() -> None:
    calls: list[Any] = []

    def invoke(function: str, payload: Any) -> Any:
        calls.append((function, payload))
        return {"real": payload["v"] * 2}

    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Mocked", "States": {"Mocked": task(FN + "f", End=True)}},
                    {"StartAt": "Real", "States": {"Real": task(FN + "g", End=True)}},
                ],
                "End": True,
            }
        },
    }
    cfg = config({"Mocked": "Fn"}, {"Fn": {"0": {"Return": {"mocked": True}}}})
    result, _ = run_case(definition, cfg, "T", {"v": 21}, invoke=invoke)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [{"mocked": True}, {"real": 42}]
    assert calls == [(FN + "g", {"v": 21})]  # the mocked function was never called
    kinds = [e["type"] for e in result.history]
    assert kinds.count("LambdaFunctionSucceeded") == 2
    assert "TaskScheduled" not in kinds


def test_each_execution_counts_its_own_attempts() -> None:
    definition = {"StartAt": "S", "States": {"S": task(End=True)}}
    cfg = config({"S": "One"}, {"One": {"0": {"Return": 1}}})
    test_case = cfg.test_case("M", "T")
    for _ in range(2):
        result = StateMachine(definition).execute({}, services=Services(mocked=test_case.start()))
        assert (result.status, result.output) == ("SUCCEEDED", 1)


# -- configuration errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({"R": {"1-": {"Return": 1}}}, "attempt '1-' is not a number or an inclusive range"),
        ({"R": {"a": {"Return": 1}}}, "attempt 'a' is not a number"),
        ({"R": {"3-1": {"Return": 1}}}, "attempt range '3-1' ends before it starts"),
        ({"R": {"0-2": {"Return": 1}, "2": {"Return": 2}}}, "attempts overlap"),
        ({"R": {"0": {"Return": 1, "Throw": {"Error": "E"}}}}, "exactly one field"),
        ({"R": {"0": {"Throw": {"Cause": "no error"}}}}, "Error and Cause strings"),
        ({"R": {}}, "non-empty object of attempts"),
    ],
)
def test_malformed_mocked_responses(responses: dict[str, Any], message: str) -> None:
    with pytest.raises(MockConfigError, match=message):
        config({"S": "R"}, responses)


def test_unknown_mocked_response() -> None:
    with pytest.raises(MockConfigError, match="unknown mocked response 'Missing'"):
        config({"S": "Missing"}, {"R": {"0": {"Return": 1}}})


def test_test_case_naming_a_state_the_definition_lacks() -> None:
    cfg = config({"Nowhere": "R"}, {"R": {"0": {"Return": 1}}})
    with pytest.raises(MockConfigError, match="mocks state 'Nowhere', which the state machine"):
        cfg.test_case("M", "T").check_definition(AWS_DEFINITION)


def test_test_case_naming_a_pass_state() -> None:
    cfg = config({"P": "R"}, {"R": {"0": {"Return": 1}}})
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with pytest.raises(MockConfigError, match="a Pass state: only Task states"):
        cfg.test_case("M", "T").check_definition(definition)


def test_unknown_state_machine_and_test_case() -> None:
    with pytest.raises(MockConfigError, match=r"no state machine named 'X' \(it has: L"):
        AWS_CONFIG.test_case("X", "HappyPath")
    with pytest.raises(MockConfigError, match="has no test case 'Sad'"):
        AWS_CONFIG.test_case("LambdaSQSIntegration", "Sad")
