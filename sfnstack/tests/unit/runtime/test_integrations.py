"""Task states beyond Lambda (sfnstack.integrations): the AWS SDK integrations and the
optimized S3, DynamoDB, SQS, SNS and EventBridge ones against moto in process, the errors
AWS names and Retry / Catch seeing them, what cannot run here, task tokens, nested
executions and the other partitions. Each test asserts on moto's own state."""

from __future__ import annotations

import json
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sfnstack.asl import StateMachine
from sfnstack.integrations import aws
from sfnstack.integrations.tokens import TaskTokenError, TaskTokens
from sfnstack.lambdas import function_from_callable
from sfnstack.local import LocalRuntime
from sfnstack.services import Services

from sfnstack import arns

REGION = "us-east-1"
QUEUE_PREFIX = f"https://sqs.{REGION}.amazonaws.com/123456789012/"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def task(resource: str, parameters: Any = None, **fields: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, **fields}
    if parameters is not None:
        state["Parameters"] = parameters
    if "Next" not in fields:
        state["End"] = True
    return state


def machine(*states: tuple[str, dict[str, Any]], region: str = REGION) -> StateMachine:
    definition = {"StartAt": states[0][0], "States": dict(states)}
    return StateMachine(definition, arn=arns.state_machine_arn("M", region))


def execute(sm: StateMachine, data: Any = None, services: Services | None = None) -> Any:
    return sm.execute({} if data is None else data, services=services or Services())


def table(name: str, region: str = REGION) -> str:
    aws.CLIENTS.client("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def queue(name: str) -> str:
    return str(aws.CLIENTS.client("sqs", REGION).create_queue(QueueName=name)["QueueUrl"])


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.CLIENTS.client("sqs", REGION)
    return list(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []))


# -- DynamoDB ---------------------------------------------------------------------------


def test_dynamodb_optimized_put_update_get_delete_change_the_table() -> None:
    name = table(unique("items"))
    key = {"id": {"S.$": "$.id"}}
    sm = machine(
        ("Put", task("arn:aws:states:::dynamodb:putItem",
                     {"TableName": name, "Item": {"id": {"S.$": "$.id"}, "n": {"N": "1"}}},
                     ResultPath=None, Next="Update")),
        ("Update", task("arn:aws:states:::dynamodb:updateItem",
                        {"TableName": name, "Key": key, "UpdateExpression": "SET n = n + :one",
                         "ExpressionAttributeValues": {":one": {"N": "41"}},
                         "ReturnValues": "ALL_NEW"},
                        ResultPath="$.updated", Next="Get")),
        ("Get", task("arn:aws:states:::dynamodb:getItem", {"TableName": name, "Key": key},
                     ResultPath="$.got")),
    )  # fmt: skip
    result = execute(sm, {"id": "a"})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # the documented shapes: attribute-value form, and the SDK's HTTP metadata
    assert result.output["updated"]["Attributes"] == {"id": {"S": "a"}, "n": {"N": "42"}}
    assert result.output["got"]["Item"] == {"id": {"S": "a"}, "n": {"N": "42"}}
    assert result.output["got"]["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert result.output["got"]["SdkResponseMetadata"]["RequestId"]
    dynamodb = aws.CLIENTS.client("dynamodb", REGION)
    assert dynamodb.get_item(TableName=name, Key={"id": {"S": "a"}})["Item"]["n"] == {"N": "42"}

    delete = machine(
        ("Delete", task("arn:aws:states:::dynamodb:deleteItem", {"TableName": name, "Key": key}))
    )
    assert execute(delete, {"id": "a"}).status == "SUCCEEDED"
    assert "Item" not in dynamodb.get_item(TableName=name, Key={"id": {"S": "a"}})


def test_dynamodb_errors_are_named_as_aws_names_them_and_catch_sees_them() -> None:
    name = table(unique("items"))
    conditional = task(
        "arn:aws:states:::dynamodb:putItem",
        {"TableName": name, "Item": {"id": {"S": "x"}}, "ConditionExpression": "attribute_exists(id)"},
        Catch=[{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                "ResultPath": "$.optimized", "Next": "Sdk"}],
    )  # fmt: skip
    sdk = task(
        "arn:aws:states:::aws-sdk:dynamodb:getItem",
        {"TableName": unique("missing"), "Key": {"id": {"S": "x"}}},
        Catch=[{"ErrorEquals": ["DynamoDb.ResourceNotFoundException"], "ResultPath": "$.sdk",
                "Next": "Done"}],
    )  # fmt: skip
    sm = machine(("Put", conditional), ("Sdk", sdk), ("Done", {"Type": "Succeed"}))
    result = execute(sm)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["optimized"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert "Service: AmazonDynamoDBv2; Status Code: 400" in result.output["optimized"]["Cause"]
    assert result.output["sdk"]["Error"] == "DynamoDb.ResourceNotFoundException"
    assert "(Service: DynamoDb, Status Code: 400, Request ID: " in result.output["sdk"]["Cause"]
    failed = [e for e in result.history if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["resourceType"] for e in failed] == [
        "dynamodb",
        "aws-sdk:dynamodb",
    ]


# -- S3 ---------------------------------------------------------------------------------


def test_s3_sdk_and_optimized_calls_and_the_no_such_key_error() -> None:
    bucket = unique("bucket")
    sm = machine(
        ("Create", task("arn:aws:states:::aws-sdk:s3:createBucket", {"Bucket": bucket},
                        ResultPath=None, Next="Put")),
        ("Put", task("arn:aws:states:::s3:putObject",
                     {"Bucket": bucket, "Key": "in/a.json", "Body.$": "States.JsonToString($.doc)"},
                     ResultPath="$.put", Next="Get")),
        ("Get", task("arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": bucket, "Key": "in/a.json"},
                     ResultSelector={"doc.$": "States.StringToJson($.Body)",
                                     "length.$": "$.ContentLength", "type.$": "$.ContentType"},
                     ResultPath="$.got", Next="Missing")),
        ("Missing", task("arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": bucket, "Key": "nope"},
                         Retry=[{"ErrorEquals": ["S3.NoSuchKeyException"], "MaxAttempts": 1,
                                 "IntervalSeconds": 1}],
                         Catch=[{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.caught",
                                 "Next": "Done"}])),
        ("Done", {"Type": "Succeed"}),
    )  # fmt: skip
    delays: list[float] = []
    result = execute(sm, {"doc": {"city": "Hobart"}}, Services(sleep=delays.append))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    body = aws.CLIENTS.client("s3", REGION).get_object(Bucket=bucket, Key="in/a.json")["Body"]
    assert json.loads(body.read()) == {"city": "Hobart"}  # really in the bucket
    assert result.output["put"]["ETag"].startswith('"')
    assert result.output["got"] == {
        "doc": {"city": "Hobart"},
        "length": 17,
        "type": "binary/octet-stream",
    }
    assert result.output["caught"]["Error"] == "S3.NoSuchKeyException"
    assert delays == [1.0]  # the Retry saw the error too


def test_s3_calls_share_the_runtime_s3_with_handlers_and_item_reader(tmp_path: Path) -> None:
    (tmp_path / "readers.py").write_text(
        textwrap.dedent(
            """
            import json, boto3

            def read(event, context):
                body = boto3.client("s3").get_object(Bucket=event["bucket"], Key=event["key"])
                return json.loads(body["Body"].read())
            """
        )
    )
    bucket = unique("shared")
    with LocalRuntime(
        None,
        workers=1,
        functions={"read": function_from_callable("read", "readers:read", code_dir=tmp_path)},
    ) as runtime:
        runtime.add_state_machine(
            {
                "StartAt": "Create",
                "States": {
                    "Create": task("arn:aws:states:::aws-sdk:s3:createBucket", {"Bucket": bucket},
                                   ResultPath=None, Next="Put"),
                    "Put": task("arn:aws:states:::s3:putObject",
                                {"Bucket": bucket, "Key": "items.json", "Body": [{"n": 1}, {"n": 2}]},
                                ResultPath=None, Next="Handler"),
                    "Handler": task(arns.function_arn("read"), {"bucket": bucket, "key": "items.json"},
                                    ResultPath="$.read", Next="Map"),
                    "Map": {
                        "Type": "Map",
                        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                                       "ReaderConfig": {"InputType": "JSON"},
                                       "Parameters": {"Bucket": bucket, "Key": "items.json"}},
                        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                              "ExecutionType": "STANDARD"},
                                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                        "ResultPath": "$.mapped",
                        "End": True,
                    },
                },
            },
            name="Shared",
        )  # fmt: skip
        result = runtime.execute("Shared", {}, timeout=60)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        assert result.output["read"] == [{"n": 1}, {"n": 2}]  # the handler read it
        assert result.output["mapped"] == [{"n": 1}, {"n": 2}]  # so did ItemReader
        body = runtime.s3_client().get_object(Bucket=bucket, Key="items.json")["Body"].read()
        assert json.loads(body) == [{"n": 1}, {"n": 2}]


# -- SQS, SNS, EventBridge --------------------------------------------------------------


def test_sqs_send_message_puts_the_message_in_the_queue() -> None:
    url = queue(unique("q"))
    sm = machine(
        ("Send", task("arn:aws:states:::sqs:sendMessage",
                      {"QueueUrl": url, "MessageBody.$": "$",
                       "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}}})),
    )  # fmt: skip
    result = execute(sm, {"city": "Perth"})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    [message] = received(url)
    assert json.loads(message["Body"]) == {"city": "Perth"}
    assert message["MessageId"] == result.output["MessageId"]

    missing = machine(
        ("Send", task("arn:aws:states:::sqs:sendMessage",
                      {"QueueUrl": QUEUE_PREFIX + unique("none"), "MessageBody": "x"}))
    )  # fmt: skip
    result = execute(missing)
    assert (result.status, result.error) == ("FAILED", "SQS.QueueDoesNotExistException")


def test_sns_publish_reaches_a_subscribed_queue_and_events_put_events() -> None:
    sns = aws.CLIENTS.client("sns", REGION)
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    url = queue(unique("sub"))
    queue_arn = aws.CLIENTS.client("sqs", REGION).get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    sm = machine(
        ("Publish", task("arn:aws:states:::sns:publish", {"TopicArn": topic, "Message.$": "$"},
                         ResultPath="$.published", Next="Events")),
        ("Events", task("arn:aws:states:::events:putEvents",
                        {"Entries": [{"Source": "raincast.test", "DetailType": "t",
                                      "Detail": {"a": 1}}]}, ResultPath="$.events")),
    )  # fmt: skip
    result = execute(sm, {"note": "hi"})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    [message] = received(url)
    assert json.loads(message["Body"]) == {"note": "hi"}
    assert result.output["published"]["MessageId"]
    assert result.output["events"]["FailedEntryCount"] == 0
    assert result.output["events"]["Entries"][0]["EventId"]


# -- the SDK integrations' names and casing ---------------------------------------------


def test_sdk_integration_takes_and_returns_pascal_case_members() -> None:
    # Step Functions' own API is camelCase in botocore; the state machine speaks PascalCase.
    name = unique("secret")
    sm = machine(
        ("Create", task("arn:aws:states:::aws-sdk:secretsmanager:createSecret",
                        {"Name": name, "SecretString": "s3cr3t"}, ResultPath="$.created",
                         Next="List")),
        ("List", task("arn:aws:states:::aws-sdk:sfn:listStateMachines", {"MaxResults": 5},
                      ResultPath="$.machines")),
    )  # fmt: skip
    result = execute(sm)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["created"]["Name"] == name
    assert "StateMachines" in result.output["machines"]
    secrets = aws.CLIENTS.client("secretsmanager", REGION)
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == "s3cr3t"


@pytest.mark.parametrize(
    ("resource", "parameters", "says"),
    [
        ("arn:aws:states:::aws-sdk:workmail:listOrganizations", {}, "cannot run locally"),
        ("arn:aws:states:::aws-sdk:nosuchservice:doThing", {}, "no service 'nosuchservice'"),
        ("arn:aws:states:::aws-sdk:s3:doesNotExist", {}, "no action 'doesNotExist'"),
        ("arn:aws:states:::aws-sdk:s3:listBuckets", {"Nope": 1}, 'Unknown parameter in input: "Nope"'),
        ("arn:aws:states:::sqs:receiveMessage", {}, "is not supported by the local runtime"),
        ("arn:aws:states:::batch:submitJob.sync", {}, "is not supported by the local runtime"),
        ("arn:aws:states:us-east-1:123456789012:activity:a", {}, "is not supported"),
    ],
)  # fmt: skip
def test_what_cannot_run_here_fails_naming_the_resource(
    resource: str, parameters: Any, says: str
) -> None:
    sm = machine(("T", task(resource, parameters,
                            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}])),
                 ("Caught", {"Type": "Succeed"}))  # fmt: skip
    result = execute(sm)
    # States.Runtime: no Catch handles it, the execution fails with the resource named
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert resource in result.cause and says in result.cause


# -- task tokens ------------------------------------------------------------------------


def _run_in_thread(
    sm: StateMachine, data: Any, services: Services
) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(execute(sm, data, services)))
    thread.start()
    return thread, box


def _wait_for_message(url: str, timeout: float = 20) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        messages = received(url)
        if messages:
            return messages[0]
        time.sleep(0.05)
    raise AssertionError("no message arrived")


def test_wait_for_task_token_success_failure_and_late_answers() -> None:
    url = queue(unique("tokens"))
    sm = machine(
        ("Wait", task("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                      {"QueueUrl": url, "MessageBody": {"token.$": "$$.Task.Token", "n.$": "$.n"}},
                      Catch=[{"ErrorEquals": ["Worker.Failed"], "ResultPath": "$.failed",
                              "Next": "Done"}])),
        ("Done", {"Type": "Succeed"}),
    )  # fmt: skip
    tokens = TaskTokens()
    thread, box = _run_in_thread(sm, {"n": 7}, Services(task_tokens=tokens))
    body = json.loads(_wait_for_message(url)["Body"])
    assert body["n"] == 7
    assert [(t, s) for t, _, s in tokens.waiting()] == [(body["token"], "Wait")]
    tokens.heartbeat(body["token"])
    tokens.succeed(body["token"], json.dumps({"answer": 42}))
    thread.join(20)
    [result] = box
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {"answer": 42}
    kinds = [e["type"] for e in result.history]
    assert kinds.index("TaskSubmitted") < kinds.index("TaskSucceeded")
    # TaskSubmitted shows the call's own answer (SQS's), not what the token brought later
    [submitted] = [e for e in result.history if e["type"] == "TaskSubmitted"]
    submitted_output = json.loads(submitted["taskSubmittedEventDetails"]["output"])
    assert "MessageId" in submitted_output and "answer" not in submitted_output
    with pytest.raises(TaskTokenError) as late:  # the task is over
        tokens.succeed(body["token"], "{}")
    assert late.value.code == "TaskTimedOut"
    with pytest.raises(TaskTokenError) as invalid:
        tokens.succeed("not-a-token", "{}")
    assert invalid.value.code == "InvalidToken"

    thread, box = _run_in_thread(sm, {"n": 8}, Services(task_tokens=tokens))
    body = json.loads(_wait_for_message(url)["Body"])
    with pytest.raises(TaskTokenError) as bad_output:
        tokens.succeed(body["token"], "not json")
    assert bad_output.value.code == "InvalidOutput"
    tokens.fail(body["token"], "Worker.Failed", "it broke")
    thread.join(20)
    [result] = box
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["failed"] == {"Error": "Worker.Failed", "Cause": "it broke"}


def test_wait_for_task_token_heartbeat_and_timeout() -> None:
    url = queue(unique("beats"))
    params = {"QueueUrl": url, "MessageBody.$": "$$.Task.Token"}
    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    beats = machine(("Wait", task(resource, params, HeartbeatSeconds=1, TimeoutSeconds=30)))
    tokens = TaskTokens()
    started = time.monotonic()
    thread, box = _run_in_thread(beats, {}, Services(task_tokens=tokens))
    token = _wait_for_message(url)["Body"]
    for _ in range(4):  # heartbeats keep it alive past HeartbeatSeconds
        time.sleep(0.4)
        tokens.heartbeat(token)
    assert not box
    thread.join(20)  # then none: States.HeartbeatTimeout
    [result] = box
    assert (result.status, result.error) == ("FAILED", "States.HeartbeatTimeout")
    assert time.monotonic() - started >= 2.5
    assert [e["type"] for e in result.history if e["type"].startswith("Task")][-1] == "TaskTimedOut"

    timeout = machine(("Wait", task(resource, params, TimeoutSeconds=1)))
    result = execute(timeout, {}, Services(task_tokens=tokens))
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert tokens.waiting() == []


# -- nested executions ------------------------------------------------------------------


def _nested_runtime() -> LocalRuntime:
    runtime = LocalRuntime(None, workers=1)
    runtime.add_state_machine(
        {"StartAt": "Double", "States": {"Double": {
            "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}},
        name="Child",
    )  # fmt: skip
    runtime.add_state_machine(
        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Child.Broke",
                                                "Cause": "on purpose"}}},
        name="Failing",
    )  # fmt: skip
    return runtime


def test_start_execution_sync_sync2_and_request_response() -> None:
    with _nested_runtime() as runtime:
        child = runtime.state_machine("Child").arn
        runtime.add_state_machine(
            {"StartAt": "Sync", "States": {
                "Sync": task("arn:aws:states:::states:startExecution.sync",
                             {"StateMachineArn": child, "Input": {"n": 2}},
                             ResultPath="$.sync", Next="Sync2"),
                "Sync2": task("arn:aws:states:::states:startExecution.sync:2",
                              {"StateMachineArn": child, "Input": {"n": 3}, "Name": "second"},
                              ResultPath="$.sync2", Next="Fire"),
                "Fire": task("arn:aws:states:::states:startExecution",
                             {"StateMachineArn": child, "Input": {"n": 4}}, ResultPath="$.fired"),
            }},
            name="Parent",
        )  # fmt: skip
        result = runtime.execute("Parent", {}, timeout=60)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        sync, sync2, fired = (result.output[k] for k in ("sync", "sync2", "fired"))
        assert sync["Status"] == "SUCCEEDED"
        assert sync["Output"] == '{"doubled":4}'  # .sync: JSON text
        assert sync2["Output"] == {"doubled": 6}  # .sync:2: JSON
        assert sync2["Input"] == {"n": 3}
        assert sync2["ExecutionArn"] == arns.execution_arn("Child", "second")
        assert isinstance(sync2["StartDate"], int) and sync2["StopDate"] >= sync2["StartDate"]
        assert set(fired) == {
            "ExecutionArn",
            "StartDate",
            "SdkHttpMetadata",
            "SdkResponseMetadata",
        }
        children = [e for e in runtime.executions.values() if e.state_machine.name == "Child"]
        assert len(children) == 3
        runtime.execution(fired["ExecutionArn"]).wait(30)
        assert runtime.execution(fired["ExecutionArn"]).output == {"doubled": 8}


def test_failed_child_and_unknown_machine_are_task_failures_catch_sees() -> None:
    with _nested_runtime() as runtime:
        failing = runtime.state_machine("Failing").arn
        runtime.add_state_machine(
            {"StartAt": "Sync", "States": {
                "Sync": task("arn:aws:states:::states:startExecution.sync:2",
                             {"StateMachineArn": failing},
                             Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failed",
                                     "Next": "Unknown"}]),
                "Unknown": task("arn:aws:states:::states:startExecution",
                                {"StateMachineArn": arns.state_machine_arn("Nope")},
                                Catch=[{"ErrorEquals": ["StepFunctions.StateMachineDoesNotExistException"],
                                        "ResultPath": "$.unknown", "Next": "Done"}]),
                "Done": {"Type": "Succeed"},
            }},
            name="Parent",
        )  # fmt: skip
        result = runtime.execute("Parent", {}, timeout=60)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        cause = json.loads(result.output["failed"]["Cause"])
        assert (cause["Status"], cause["Error"], cause["Cause"]) == (
            "FAILED",
            "Child.Broke",
            "on purpose",
        )
        assert "State Machine Does Not Exist" in result.output["unknown"]["Cause"]


# -- partitions and regions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "resource_region"),
    [("cn-north-1", ""), ("us-gov-west-1", ""), (REGION, "us-west-2")],
)
def test_integration_arns_of_other_partitions_and_regions(
    region: str, resource_region: str
) -> None:
    partition = arns.partition_of(region)
    name = table(unique("p"), resource_region or region)
    resource = f"arn:{partition}:states:{resource_region}::dynamodb:putItem"
    sm = machine(("Put", task(resource, {"TableName": name, "Item": {"id": {"S": "k"}}})),
                 region=region)  # fmt: skip
    result = execute(sm)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    dynamodb = aws.CLIENTS.client("dynamodb", resource_region or region)
    assert dynamodb.get_item(TableName=name, Key={"id": {"S": "k"}})["Item"] == {"id": {"S": "k"}}


def test_parse_integration() -> None:
    parsed = arns.parse_integration("arn:aws-cn:states:::states:startExecution.sync:2")
    assert parsed == arns.IntegrationArn("aws-cn", "", "states", "startExecution", "sync:2")
    sdk = arns.parse_integration("arn:aws:states:eu-west-1::aws-sdk:s3:getObject")
    assert sdk == arns.IntegrationArn("aws", "eu-west-1", "aws-sdk:s3", "getObject", "")
    assert arns.parse_integration("arn:aws:states:us-east-1:123456789012:activity:a") is None
    assert arns.parse_integration("arn:aws:states:::sqs:sendMessage.nope") is None
    assert arns.is_function_arn("arn:aws-us-gov:lambda:us-gov-west-1:1:function:f:live")


# -- the template's queues and tables ----------------------------------------------------


TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Results:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: job, Type: String}
  Producer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: producer.handler
      Runtime: python3.12
      Environment:
        Variables:
          QUEUE_URL: !Ref Jobs
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionSubstitutions:
        Producer: !GetAtt Producer.Arn
        QueueUrl: !Ref Jobs
        Table: !Ref Results
      Definition:
        StartAt: Produce
        States:
          Produce:
            Type: Task
            Resource: "${Producer}"
            ResultPath: null
            Next: Receive
          Receive:
            Type: Task
            Resource: arn:aws:states:::aws-sdk:sqs:receiveMessage
            Parameters:
              QueueUrl: "${QueueUrl}"
            ResultSelector:
              body.$: $.Messages[0].Body
            Next: Save
          Save:
            Type: Task
            Resource: arn:aws:states:::dynamodb:putItem
            Parameters:
              TableName: "${Table}"
              Item:
                job:
                  S.$: $.body
            ResultPath: null
            End: true
"""


def test_template_queues_and_tables_exist_for_handlers_and_states(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "producer.py").write_text(
        textwrap.dedent(
            """
            import os, boto3

            def handler(event, context):
                boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody="job-1")
                return {}
            """
        )
    )
    with LocalRuntime(tmp_path / "template.yaml", workers=1) as runtime:
        result = runtime.execute("Flow", {}, timeout=60)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        table_name = runtime.template.resolve({"Ref": "Results"})
        item = aws.CLIENTS.client("dynamodb", REGION).get_item(
            TableName=table_name, Key={"job": {"S": "job-1"}}
        )
        assert item["Item"] == {"job": {"S": "job-1"}}


def test_sdk_sfn_actions_reach_the_runtime_own_executions_and_tokens() -> None:
    url = queue(unique("handoff"))
    waiter = task("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                  {"QueueUrl": url, "MessageBody.$": "$$.Task.Token"}, TimeoutSeconds=30)  # fmt: skip
    sender = {
        "StartAt": "Receive",
        "States": {
            "Receive": task("arn:aws:states:::aws-sdk:sqs:receiveMessage", {"QueueUrl": url},
                            ResultSelector={"token.$": "$.Messages[0].Body"}, Next="Send"),
            "Send": task("arn:aws:states:::aws-sdk:sfn:sendTaskSuccess",
                         {"TaskToken.$": "$.token", "Output": {"handed": "over"}}, Next="Describe"),
            "Describe": task("arn:aws:states:::aws-sdk:sfn:describeExecution",
                             {"ExecutionArn.$": "$$.Execution.Id"},
                             ResultSelector={"status.$": "$.Status", "name.$": "$.Name"}, Next="Bad"),
            "Bad": task("arn:aws:states:::aws-sdk:sfn:sendTaskHeartbeat", {"TaskToken": "made-up"},
                        Catch=[{"ErrorEquals": ["Sfn.InvalidTokenException"], "ResultPath": "$.bad",
                                "Next": "Done"}]),
            "Done": {"Type": "Succeed"},
        },
    }  # fmt: skip
    with LocalRuntime(None, workers=1) as runtime:
        runtime.add_state_machine(
            {"StartAt": "Both", "States": {"Both": {
                "Type": "Parallel", "End": True,
                "Branches": [{"StartAt": "Wait", "States": {"Wait": waiter}}, sender]}}},
            name="Handoff",
        )  # fmt: skip
        result = runtime.execute("Handoff", {}, name="handoff-1", timeout=60)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    waited, sent = result.output
    assert waited == {"handed": "over"}
    assert sent["status"] == "RUNNING" and sent["name"] == "handoff-1"
    assert sent["bad"]["Error"] == "Sfn.InvalidTokenException"


def test_head_object_of_a_missing_key_is_no_such_key() -> None:
    bucket = unique("heads")
    aws.CLIENTS.client("s3", REGION).create_bucket(Bucket=bucket)
    sm = machine(
        ("Head", task("arn:aws:states:::aws-sdk:s3:headObject", {"Bucket": bucket, "Key": "k"}))
    )
    result = execute(sm)
    assert (result.status, result.error) == ("FAILED", "S3.NoSuchKeyException")


def test_moto_keeps_no_copy_of_every_message_sent() -> None:
    # moto tracks every model instance for its dashboard; a long-running runtime must not
    url = queue(unique("many"))
    send = task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": url, "MessageBody": "m"})
    sm = machine(("Send", send))
    for _ in range(5):
        assert execute(sm).status == "SUCCEEDED"
    from moto.core.model_instances import model_data

    assert all(len(model.instances_tracked) == 0 for model in model_data["sqs"].values())
    assert len(received(url)) == 5  # the queue itself still holds them
