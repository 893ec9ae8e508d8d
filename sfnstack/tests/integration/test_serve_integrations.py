"""``sfnstack serve`` running Task states beyond Lambda: a ``.waitForTaskToken`` task answered
with SendTaskHeartbeat / SendTaskSuccess / SendTaskFailure from boto3 and the aws CLI, a
function that sends its own token back, DynamoDB and S3 calls against the template's
resources, and a nested ``startExecution.sync:2`` whose child serve records."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "serve"))

from stack import ServeProcess, wait_until

TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "integrations" / "template.yaml"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("serve-integrations")
    server = ServeProcess(root / "data", TEMPLATE, "--no-schedule")
    yield server.start()
    server.stop()


def _arn(stack: ServeProcess, logical_id: str) -> str:
    machines = stack.sfn().list_state_machines()["stateMachines"]
    return next(m["stateMachineArn"] for m in machines if logical_id in m["name"])


def _finished(stack: ServeProcess, execution_arn: str) -> dict[str, Any]:
    sfn = stack.sfn()
    return wait_until(
        lambda: (
            (d := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING" and d
        ),
        60,
        "the execution to finish",
    )


def _token(stack: ServeProcess, execution_arn: str) -> str:
    """The task token of the waiting Queue state, from the message its TaskScheduled sent."""

    def scheduled() -> str | None:
        events = stack.sfn().get_execution_history(executionArn=execution_arn)["events"]
        for event in events:
            if event["type"] == "TaskScheduled":
                parameters = json.loads(event["taskScheduledEventDetails"]["parameters"])
                return str(parameters["MessageBody"]["token"])
        return None

    return wait_until(scheduled, 30, "the callback task to be scheduled")


def test_callback_task_answered_through_the_api(stack: ServeProcess) -> None:
    sfn = stack.sfn()
    started = sfn.start_execution(
        stateMachineArn=_arn(stack, "CallbackStateMachine"), input='{"city": "Hobart"}'
    )
    token = _token(stack, started["executionArn"])
    sfn.send_task_heartbeat(taskToken=token)
    assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output=json.dumps({"answer": 42}))
    described = _finished(stack, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["worker"] == {"answer": 42}
    # the function sent its own token back (boto3 in the worker, AWS_ENDPOINT_URL = serve)
    assert output["callback"] == {"called_back_for": "Hobart"}
    # dynamodb:putItem then aws-sdk:dynamodb:getItem against the template's table
    assert output["saved"] == {"item": {"id": {"S": "Hobart"}, "answer": {"N": "42"}}}
    # s3:putObject into the template's bucket, which serve serves (and persists)
    bucket = next(
        b["Name"] for b in stack.s3().list_buckets()["Buckets"] if "databucket" in b["Name"]
    )
    body = stack.s3().get_object(Bucket=bucket, Key="results/Hobart.json")["Body"].read()
    assert json.loads(body)["worker"] == {"answer": 42}

    # the task is over: a late answer is TaskTimedOut, a made-up token InvalidToken
    with pytest.raises(ClientError) as late:
        sfn.send_task_success(taskToken=token, output="{}")
    assert late.value.response["Error"]["Code"] == "TaskTimedOut"
    with pytest.raises(ClientError) as invalid:
        sfn.send_task_heartbeat(taskToken="made-up")
    assert invalid.value.response["Error"]["Code"] == "InvalidToken"


def test_send_task_failure_from_the_aws_cli_is_caught(stack: ServeProcess) -> None:
    sfn = stack.sfn()
    started = sfn.start_execution(
        stateMachineArn=_arn(stack, "CallbackStateMachine"), input='{"city": "Perth"}'
    )
    token = _token(stack, started["executionArn"])
    with pytest.raises(ClientError) as bad:
        sfn.send_task_success(taskToken=token, output="not json")
    assert bad.value.response["Error"]["Code"] == "InvalidOutput"
    stack.aws(
        "stepfunctions", "send-task-failure", "--task-token", token,
        "--error", "Worker.Refused", "--cause", "no capacity",
    )  # fmt: skip
    described = _finished(stack, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["refused"] == {
        "Error": "Worker.Refused",
        "Cause": "no capacity",
    }
    history = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert failed == [
        {
            "resourceType": "sqs",
            "resource": "sendMessage.waitForTaskToken",
            "error": "Worker.Refused",
            "cause": "no capacity",
        }
    ]


def test_nested_sync2_child_is_recorded_by_serve(stack: ServeProcess) -> None:
    sfn = stack.sfn()
    started = sfn.start_execution(
        stateMachineArn=_arn(stack, "ParentStateMachine"), input='{"name": "Ada"}'
    )
    described = _finished(stack, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"greeting": "hello Ada"}
    children = sfn.list_executions(stateMachineArn=_arn(stack, "ChildStateMachine"))
    [child] = children["executions"]
    assert child["status"] == "SUCCEEDED"
    child_output = sfn.describe_execution(executionArn=child["executionArn"])["output"]
    assert json.loads(child_output) == {"greeting": "hello Ada"}
