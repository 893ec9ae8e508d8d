"""The Step Functions API calls people script against, from the aws CLI and boto3 against
``sfnstack serve`` (a separate process on tests/fixtures/api): ValidateStateMachineDefinition,
Create/Update/Delete/ListStateMachines, StartSyncExecution (with its ``sync-`` host prefix),
DescribeMapRun/ListMapRuns, TestState."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "serve"))

from stack import ServeProcess, wait_until

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "template.yaml"
ROLE = "arn:aws:iam::123456789012:role/local"
ADD_ARN = "arn:aws:lambda:us-east-1:123456789012:function:local-AddFunction"
ADD_DEFINITION = json.dumps(
    {"StartAt": "Add", "States": {"Add": {"Type": "Task", "Resource": ADD_ARN, "End": True}}}
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data_dir = tmp_path_factory.mktemp("serve-api") / "data"
    server = ServeProcess(data_dir, FIXTURE, "--no-schedule").start()
    yield server
    server.stop()


def sync_client(stack: ServeProcess, **config: Any) -> Any:
    """boto3's Step Functions client without the ``sync-`` host prefix."""
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        "stepfunctions",
        endpoint_url=stack.endpoint,
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, **config),
    )


def arn_of(stack: ServeProcess, logical_id: str) -> str:
    return stack.state_machine_arn(f"local-{logical_id}")


# ---------------------------------------------------------------- validation
def test_validate_from_the_cli_and_boto3(stack: ServeProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}}))
    body = stack.aws_json(
        "stepfunctions", "validate-state-machine-definition", "--definition", f"file://{bad}"
    )
    assert body["result"] == "FAIL"
    [diagnostic] = body["diagnostics"]
    assert diagnostic["code"] == "SCHEMA_VALIDATION_FAILED"
    assert diagnostic["location"] == "/States/A/Next"
    assert (
        stack.sfn().validate_state_machine_definition(definition=ADD_DEFINITION)["result"] == "OK"
    )


# ---------------------------------------------------------------- create / update / delete
def test_create_run_update_delete_from_the_cli(stack: ServeProcess, tmp_path: Path) -> None:
    definition = tmp_path / "add.json"
    definition.write_text(ADD_DEFINITION)
    created = stack.aws_json(
        "stepfunctions", "create-state-machine", "--name", "CliAdder",
        "--definition", f"file://{definition}", "--role-arn", ROLE,
    )  # fmt: skip
    arn = created["stateMachineArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:CliAdder"
    listed = stack.aws_json("stepfunctions", "list-state-machines")["stateMachines"]
    assert "CliAdder" in {m["name"] for m in listed}
    started = stack.aws_json(
        "stepfunctions", "start-execution", "--state-machine-arn", arn, "--input", '{"a": 4}'
    )
    described = stack.wait_closed(started["executionArn"])
    assert json.loads(described["output"]) == {"sum": 104}

    again = stack.aws(
        "stepfunctions", "create-state-machine", "--name", "CliAdder",
        "--definition", '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
        "--role-arn", ROLE, check=False,
    )  # fmt: skip
    assert again.returncode != 0 and "StateMachineAlreadyExists" in again.stderr
    invalid = stack.aws(
        "stepfunctions", "create-state-machine", "--name", "Broken",
        "--definition", '{"StartAt": "Nowhere", "States": {}}', "--role-arn", ROLE, check=False,
    )  # fmt: skip
    assert invalid.returncode != 0 and "InvalidDefinition" in invalid.stderr

    stack.aws(
        "stepfunctions", "update-state-machine", "--state-machine-arn", arn, "--definition",
        '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 7, "End": true}}}',
    )  # fmt: skip
    started = stack.sfn().start_execution(stateMachineArn=arn)
    assert stack.wait_closed(started["executionArn"])["output"] == "7"
    stack.aws("stepfunctions", "delete-state-machine", "--state-machine-arn", arn)
    with pytest.raises(ClientError) as caught:
        stack.sfn().describe_state_machine(stateMachineArn=arn)
    assert caught.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_template_machines_refuse_delete_from_boto3(stack: ServeProcess) -> None:
    with pytest.raises(ClientError) as caught:
        stack.sfn().delete_state_machine(stateMachineArn=arn_of(stack, "StandardMachine"))
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "defined in the template" in caught.value.response["Error"]["Message"]


def test_created_machines_survive_a_restart_of_serve(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServeProcess(data_dir, FIXTURE, "--no-schedule").start()
    try:
        arn = server.sfn().create_state_machine(
            name="Survivor", definition=ADD_DEFINITION, roleArn=ROLE, type="EXPRESS"
        )["stateMachineArn"]
    finally:
        server.stop()
    server = ServeProcess(data_dir, FIXTURE, "--no-schedule").start()
    try:
        described = server.sfn().describe_state_machine(stateMachineArn=arn)
        assert described["type"] == "EXPRESS" and described["definition"] == ADD_DEFINITION
        body = sync_client(server).start_sync_execution(stateMachineArn=arn, input='{"a": 1}')
        assert json.loads(body["output"]) == {"sum": 101}
    finally:
        server.stop()


# ---------------------------------------------------------------- StartSyncExecution
def test_start_sync_execution_with_boto3_without_the_host_prefix(stack: ServeProcess) -> None:
    body = sync_client(stack).start_sync_execution(
        stateMachineArn=arn_of(stack, "ExpressMachine"), input='{"a": 1, "b": 1}'
    )
    assert body["status"] == "SUCCEEDED"
    assert json.loads(body["output"]) == {"sum": 102}
    assert ":express:local-ExpressMachine:" in body["executionArn"]


def test_start_sync_execution_from_the_cli_with_host_prefix_injection_disabled(
    stack: ServeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_prefix = {"AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    body = stack.aws_json(
        "stepfunctions", "start-sync-execution",
        "--state-machine-arn", arn_of(stack, "ExpressMachine"), "--input", '{"a": 2}',
        env_extra=no_prefix,
    )  # fmt: skip
    assert body["status"] == "SUCCEEDED" and json.loads(body["output"]) == {"sum": 102}
    # boto3 reads the same variable
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("stepfunctions", endpoint_url=stack.endpoint)
    assert (
        client.start_sync_execution(stateMachineArn=arn_of(stack, "ExpressMachine"))["status"]
        == "SUCCEEDED"
    )


def test_start_sync_execution_with_the_prefix_when_sync_localhost_resolves(
    stack: ServeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``127.0.0.1 sync-localhost`` in /etc/hosts (simulated here for this process),
    AWS_ENDPOINT_URL=http://localhost:PORT works with the SDKs' default host prefix."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "sync-localhost" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    seen: list[str] = []
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client(
        "stepfunctions",
        endpoint_url=f"http://localhost:{stack.port}",
        config=Config(retries={"max_attempts": 1}),
    )
    client.meta.events.register("before-send", lambda request, **_: seen.append(request.url))
    body = client.start_sync_execution(stateMachineArn=arn_of(stack, "ExpressMachine"))
    assert body["status"] == "SUCCEEDED"
    assert seen == [f"http://sync-localhost:{stack.port}/"]


def test_serve_answers_a_sync_prefixed_host_header(stack: ServeProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    body = json.dumps({"stateMachineArn": arn_of(stack, "StandardMachine")})
    connection.request(
        "POST", "/", body=body,
        headers={"Host": f"sync-127.0.0.1:{stack.port}",
                 "X-Amz-Target": "AWSStepFunctions.StartSyncExecution",
                 "Content-Type": "application/x-amz-json-1.0"},
    )  # fmt: skip
    response = connection.getresponse()
    document = json.loads(response.read())
    assert response.status == 400
    assert document["__type"] == "StateMachineTypeNotSupported"


def test_standard_machines_get_awss_error_for_start_sync_execution(stack: ServeProcess) -> None:
    with pytest.raises(ClientError) as caught:
        sync_client(stack).start_sync_execution(stateMachineArn=arn_of(stack, "StandardMachine"))
    assert caught.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


# ---------------------------------------------------------------- map runs
def test_list_and_describe_map_runs_from_the_cli_and_boto3(stack: ServeProcess) -> None:
    items = {"items": [{"a": 1}, {"a": -1}, {"a": 3}]}
    started = stack.sfn().start_execution(
        stateMachineArn=arn_of(stack, "MapMachine"), input=json.dumps(items)
    )
    assert stack.wait_closed(started["executionArn"])["status"] == "SUCCEEDED"
    listed = stack.aws_json(
        "stepfunctions", "list-map-runs", "--execution-arn", started["executionArn"]
    )["mapRuns"]
    assert len(listed) == 1 and ":mapRun:local-MapMachine/Sums:" in listed[0]["mapRunArn"]
    described = stack.aws_json(
        "stepfunctions", "describe-map-run", "--map-run-arn", listed[0]["mapRunArn"]
    )
    assert described["status"] == "SUCCEEDED"
    assert described["executionCounts"]["succeeded"] == 2
    assert described["executionCounts"]["failed"] == 1
    assert described["itemCounts"]["total"] == 3
    run = stack.sfn().describe_map_run(mapRunArn=listed[0]["mapRunArn"])
    assert run["toleratedFailureCount"] == 5 and run["maxConcurrency"] == 4


# ---------------------------------------------------------------- TestState
def test_test_state_from_the_cli_and_boto3(stack: ServeProcess) -> None:
    state = json.dumps({"Type": "Task", "Resource": ADD_ARN, "ResultPath": "$.r", "Next": "After"})
    body = stack.aws_json(
        "stepfunctions", "test-state", "--definition", state, "--role-arn", ROLE,
        "--input", '{"a": 1, "b": 1}', "--inspection-level", "DEBUG",
        env_extra={"AWS_DISABLE_HOST_PREFIX_INJECTION": "true"},
    )  # fmt: skip
    assert body["status"] == "SUCCEEDED" and body["nextState"] == "After"
    assert json.loads(body["output"]) == {"a": 1, "b": 1, "r": {"sum": 102}}
    assert json.loads(body["inspectionData"]["result"]) == {"sum": 102}
    failing = json.dumps({"Type": "Task", "Resource": ADD_ARN.replace("Add", "Fail"), "End": True})
    body = sync_client(stack).test_state(definition=failing, roleArn=ROLE, input="{}")
    assert body["status"] == "FAILED" and body["error"] == "CalculationError"


# ---------------------------------------------------------------- hot reload
def test_serve_runs_changed_handler_code_without_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    shutil.copytree(FIXTURE.parent, root)
    server = ServeProcess(tmp_path / "data", root / "template.yaml", "--no-schedule").start()
    try:
        greet = "arn:aws:lambda:us-east-1:123456789012:function:local-GreetFunction"
        definition = {
            "StartAt": "G",
            "States": {"G": {"Type": "Task", "Resource": greet, "End": True}},
        }
        arn = server.sfn().create_state_machine(
            name="Greeter", definition=json.dumps(definition), roleArn=ROLE, type="EXPRESS"
        )["stateMachineArn"]
        client = sync_client(server)

        def run() -> dict[str, Any]:
            return json.loads(client.start_sync_execution(stateMachineArn=arn)["output"])

        assert run() == {"greeting": "hello", "version": 1, "event": {}}
        layer_file = root / "layers" / "greeting" / "python" / "greeting.py"
        layer_file.write_text('GREETING = "g\'day"\n', encoding="utf-8")
        later = layer_file.stat().st_mtime_ns + 2_000_000_000
        os.utime(layer_file, ns=(later, later))
        wait_until(lambda: run()["greeting"] == "g'day", 20, "the changed layer to run")
        assert "code changed: AddFunction, FailFunction, GreetFunction" in server.log()
    finally:
        server.stop()
