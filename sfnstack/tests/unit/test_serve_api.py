"""Step Functions API calls beyond executions, over the real local runtime and the API's
WSGI app (the same code paths ``sfnstack serve`` uses): ValidateStateMachineDefinition,
Create/Update/Delete/List/DescribeStateMachine, StartSyncExecution, map runs, TestState.
The fixture stack is tests/fixtures/api (an Express and a Standard machine, a Distributed
Map, functions that add, fail and greet)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfnstack.local import LocalRuntime
from sfnstack.serve.executions import Executions
from sfnstack.serve.stepfunctions import StepFunctionsApi
from sfnstack.serve.store import DataDir

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "api" / "template.yaml"
ROLE = "arn:aws:iam::123456789012:role/local"
ADD_ARN = "arn:aws:lambda:us-east-1:123456789012:function:local-AddFunction"


class Api:
    """The API as a client sees it: a JSON 1.0 request in, (status, body) out."""

    def __init__(self, data_dir: Path) -> None:
        # no S3 in these functions: an endpoint that is never called
        self.runtime = LocalRuntime(FIXTURE, workers=2, s3_endpoint_url="http://127.0.0.1:9")
        self.executions = Executions(self.runtime, DataDir(data_dir))
        self.app = StepFunctionsApi(self.executions)
        self.app.machines.restore()
        self.executions.restore()

    def call(self, operation: str, **request: Any) -> tuple[int, dict[str, Any]]:
        body = json.dumps(request).encode()
        environ = {
            "HTTP_X_AMZ_TARGET": f"AWSStepFunctions.{operation}",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        status: list[str] = []
        payload = b"".join(self.app(environ, lambda s, headers: status.append(s)))
        return int(status[0].split()[0]), json.loads(payload)

    def ok(self, operation: str, **request: Any) -> dict[str, Any]:
        status, body = self.call(operation, **request)
        assert status == 200, body
        return body

    def error(self, operation: str, **request: Any) -> tuple[str, str]:
        status, body = self.call(operation, **request)
        assert status == 400, body
        return body["__type"], body["message"]

    def close(self) -> None:
        self.executions.shutdown(5)
        self.runtime.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    client = Api(tmp_path / "data")
    yield client
    client.close()


def machine_arn(api: Api, logical_id: str) -> str:
    return api.runtime.state_machines[logical_id].arn


def wait_closed(api: Api, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = api.ok("DescribeExecution", executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.1)


ADD_DEFINITION = json.dumps(
    {"StartAt": "Add", "States": {"Add": {"Type": "Task", "Resource": ADD_ARN, "End": True}}}
)


# ---------------------------------------------------------------- Express type (template)
def test_the_templates_express_type_reaches_the_interpreter_and_the_api(api: Api) -> None:
    assert api.runtime.compiled("ExpressMachine").workflow_type == "EXPRESS"
    assert api.runtime.compiled("StandardMachine").workflow_type == "STANDARD"
    listed = {m["name"]: m["type"] for m in api.ok("ListStateMachines")["stateMachines"]}
    assert listed == {
        "local-ExpressMachine": "EXPRESS",
        "local-StandardMachine": "STANDARD",
        "local-MapMachine": "STANDARD",
    }
    described = api.ok("DescribeStateMachine", stateMachineArn=machine_arn(api, "ExpressMachine"))
    assert described["type"] == "EXPRESS"


# ---------------------------------------------------------------- ValidateStateMachineDefinition
def test_validate_a_valid_definition_is_ok_without_diagnostics(api: Api) -> None:
    assert api.ok("ValidateStateMachineDefinition", definition=ADD_DEFINITION) == {
        "result": "OK",
        "diagnostics": [],
        "truncated": False,
    }


def test_validate_names_the_code_and_location_of_the_problem(api: Api) -> None:
    nested = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Inner",
                    "States": {"Inner": {"Type": "Tusk", "End": True}},
                },
                "End": True,
            }
        },
    }
    body = api.ok("ValidateStateMachineDefinition", definition=json.dumps(nested))
    assert body["result"] == "FAIL"
    assert body["truncated"] is False
    [diagnostic] = body["diagnostics"]
    assert diagnostic["severity"] == "ERROR"
    assert diagnostic["code"] == "SCHEMA_VALIDATION_FAILED"
    assert diagnostic["location"] == "/States/Fan/ItemProcessor/States/Inner/Type"
    assert "Tusk" in diagnostic["message"]


@pytest.mark.parametrize(
    ("definition", "code"),
    [
        ('{"StartAt": ', "INVALID_JSON_DESCRIPTION"),
        ("   ", "MISSING_DESCRIPTION"),
        ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}', "SCHEMA_VALIDATION_FAILED"),
    ],
)  # fmt: skip
def test_validate_codes(api: Api, definition: str, code: str) -> None:
    body = api.ok("ValidateStateMachineDefinition", definition=definition)
    assert body["result"] == "FAIL"
    assert [d["code"] for d in body["diagnostics"]] == [code]


def test_validate_refuses_a_bad_type_and_a_missing_definition(api: Api) -> None:
    code, message = api.error("ValidateStateMachineDefinition", definition="{}", type="FAST")
    assert code == "ValidationException" and "'type'" in message
    code, message = api.error("ValidateStateMachineDefinition")
    assert code == "ValidationException" and "'definition'" in message


# ---------------------------------------------------------------- Create / Update / Delete
def test_a_created_machine_runs_its_task_against_the_templates_function(api: Api) -> None:
    created = api.ok("CreateStateMachine", name="Adder", definition=ADD_DEFINITION, roleArn=ROLE)
    assert created["stateMachineArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:Adder"
    started = api.ok(
        "StartExecution", stateMachineArn=created["stateMachineArn"], input='{"a": 1, "b": 2}'
    )
    described = wait_closed(api, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"sum": 103}  # OFFSET=100 from the template
    listed = {m["name"]: m for m in api.ok("ListStateMachines")["stateMachines"]}
    assert listed["Adder"]["type"] == "STANDARD"
    assert listed["Adder"]["creationDate"] == created["creationDate"]
    described = api.ok("DescribeStateMachine", stateMachineArn=created["stateMachineArn"])
    assert described["definition"] == ADD_DEFINITION
    assert described["roleArn"] == ROLE
    assert described["status"] == "ACTIVE"
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}


def test_create_is_idempotent_but_a_different_machine_of_that_name_exists(api: Api) -> None:
    first = api.ok("CreateStateMachine", name="Twice", definition=ADD_DEFINITION, roleArn=ROLE)
    again = api.ok("CreateStateMachine", name="Twice", definition=ADD_DEFINITION, roleArn=ROLE)
    assert again == first
    other = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    code, message = api.error("CreateStateMachine", name="Twice", definition=other, roleArn=ROLE)
    assert code == "StateMachineAlreadyExists" and first["stateMachineArn"] in message
    code, _ = api.error(
        "CreateStateMachine",
        name="local-StandardMachine",
        definition=ADD_DEFINITION,
        roleArn=ROLE,
    )
    assert code == "StateMachineAlreadyExists"


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"name": "Bad", "definition": '{"StartAt": "X", "States": {}}'}, "InvalidDefinition"),
        ({"name": "Bad", "definition": "not json"}, "InvalidDefinition"),
        ({"name": "bad name", "definition": ADD_DEFINITION}, "InvalidName"),
        ({"name": "x" * 81, "definition": ADD_DEFINITION}, "InvalidName"),
        ({"name": "Bad", "definition": ADD_DEFINITION, "roleArn": "role"}, "InvalidArn"),
        ({"name": "Bad", "definition": ADD_DEFINITION, "type": "FAST"}, "ValidationException"),
        ({"definition": ADD_DEFINITION}, "ValidationException"),
    ],
)
def test_create_refuses_bad_requests(api: Api, request_fields: dict[str, Any], code: str) -> None:
    fields = {"roleArn": ROLE, **request_fields}
    got, message = api.error("CreateStateMachine", **fields)
    assert got == code, message
    assert "Bad" not in {m["name"] for m in api.ok("ListStateMachines")["stateMachines"]}


def test_invalid_definition_message_is_worded_as_aws_words_it(api: Api) -> None:
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}})
    _, message = api.error("CreateStateMachine", name="M", definition=definition, roleArn=ROLE)
    assert message.startswith("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: ")
    assert message.endswith(" at /States/A/Next'")


def test_update_changes_what_new_executions_run(api: Api) -> None:
    arn = api.ok("CreateStateMachine", name="Upd", definition=ADD_DEFINITION, roleArn=ROLE)[
        "stateMachineArn"
    ]
    passing = json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "new", "End": True}}}
    )
    updated = api.ok("UpdateStateMachine", stateMachineArn=arn, definition=passing)
    assert set(updated) == {"updateDate", "revisionId"}
    started = api.ok("StartExecution", stateMachineArn=arn)
    assert json.loads(wait_closed(api, started["executionArn"])["output"]) == "new"
    assert api.ok("DescribeStateMachine", stateMachineArn=arn)["definition"] == passing
    code, _ = api.error("UpdateStateMachine", stateMachineArn=arn, definition="{}")
    assert code == "InvalidDefinition"
    code, _ = api.error("UpdateStateMachine", stateMachineArn=arn)
    assert code == "MissingRequiredParameter"


def test_template_machines_cannot_be_updated_or_deleted(api: Api) -> None:
    arn = machine_arn(api, "StandardMachine")
    for operation, extra in (
        ("UpdateStateMachine", {"definition": ADD_DEFINITION}),
        ("DeleteStateMachine", {}),
    ):
        code, message = api.error(operation, stateMachineArn=arn, **extra)
        assert code == "ValidationException"
        assert "defined in the template" in message and str(FIXTURE) in message
    assert arn in {m["stateMachineArn"] for m in api.ok("ListStateMachines")["stateMachines"]}


def test_delete_removes_the_machine_and_deleting_again_succeeds(api: Api) -> None:
    arn = api.ok("CreateStateMachine", name="Gone", definition=ADD_DEFINITION, roleArn=ROLE)[
        "stateMachineArn"
    ]
    assert api.ok("DeleteStateMachine", stateMachineArn=arn) == {}
    code, _ = api.error("DescribeStateMachine", stateMachineArn=arn)
    assert code == "StateMachineDoesNotExist"
    code, _ = api.error("StartExecution", stateMachineArn=arn)
    assert code == "StateMachineDoesNotExist"
    assert api.ok("DeleteStateMachine", stateMachineArn=arn) == {}
    code, _ = api.error("DeleteStateMachine", stateMachineArn="arn:aws:states:nowhere")
    assert code == "InvalidArn"


def test_created_machines_and_their_executions_survive_a_restart(tmp_path: Path) -> None:
    first = Api(tmp_path / "data")
    try:
        arn = first.ok(
            "CreateStateMachine",
            name="Kept",
            definition=ADD_DEFINITION,
            roleArn=ROLE,
            type="EXPRESS",
        )["stateMachineArn"]
        gone = first.ok(
            "CreateStateMachine", name="Dropped", definition=ADD_DEFINITION, roleArn=ROLE
        )["stateMachineArn"]
        first.ok("DeleteStateMachine", stateMachineArn=gone)
        execution = first.ok("StartExecution", stateMachineArn=arn, input='{"a": 5}')
        wait_closed(first, execution["executionArn"])
    finally:
        first.close()
    second = Api(tmp_path / "data")
    try:
        names = {m["name"]: m["type"] for m in second.ok("ListStateMachines")["stateMachines"]}
        assert names["Kept"] == "EXPRESS" and "Dropped" not in names
        [listed] = second.ok("ListExecutions", stateMachineArn=arn)["executions"]
        assert listed["status"] == "SUCCEEDED"
        again = second.ok("StartExecution", stateMachineArn=arn, input='{"a": 1, "b": 1}')
        assert json.loads(wait_closed(second, again["executionArn"])["output"]) == {"sum": 102}
    finally:
        second.close()


# ---------------------------------------------------------------- StartSyncExecution
def test_start_sync_execution_runs_an_express_machine_to_its_end(api: Api) -> None:
    arn = machine_arn(api, "ExpressMachine")
    body = api.ok("StartSyncExecution", stateMachineArn=arn, input='{"a": 1, "b": 2}', name="s1")
    assert body["status"] == "SUCCEEDED", body
    assert json.loads(body["output"]) == {"sum": 103}
    assert body["executionArn"].startswith(
        "arn:aws:states:us-east-1:123456789012:express:local-ExpressMachine:s1:"
    )
    assert body["stateMachineArn"] == arn and body["name"] == "s1"
    assert body["input"] == '{"a": 1, "b": 2}'
    assert body["stopDate"] >= body["startDate"]
    assert body["billingDetails"]["billedDurationInMilliseconds"] >= 100
    # the same name again is fine (Express executions are not kept), and not listed
    assert api.ok("StartSyncExecution", stateMachineArn=arn, name="s1")["status"] == "SUCCEEDED"
    assert api.ok("ListExecutions", stateMachineArn=arn)["executions"] == []


def test_start_sync_execution_reports_a_failure_with_error_and_cause(api: Api) -> None:
    arn = machine_arn(api, "ExpressMachine")
    body = api.ok("StartSyncExecution", stateMachineArn=arn, input='{"a": -1}')
    assert body["status"] == "FAILED"
    assert body["error"] == "ValueError"
    assert "negative a: -1" in body["cause"]
    assert "output" not in body


def test_start_sync_execution_refuses_standard_machines_and_bad_input(api: Api) -> None:
    code, message = api.error(
        "StartSyncExecution", stateMachineArn=machine_arn(api, "StandardMachine")
    )
    assert code == "StateMachineTypeNotSupported", message
    code, _ = api.error(
        "StartSyncExecution", stateMachineArn=machine_arn(api, "ExpressMachine"), input="{x"
    )
    assert code == "InvalidExecutionInput"


def test_start_sync_execution_of_a_created_express_machine(api: Api) -> None:
    arn = api.ok(
        "CreateStateMachine", name="Quick", definition=ADD_DEFINITION, roleArn=ROLE, type="EXPRESS"
    )["stateMachineArn"]
    body = api.ok("StartSyncExecution", stateMachineArn=arn, input='{"b": 1}')
    assert json.loads(body["output"]) == {"sum": 101}


# ---------------------------------------------------------------- DescribeMapRun / ListMapRuns
def distributed(processor_state: dict[str, Any], **map_fields: Any) -> str:
    return json.dumps(
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "Label": "Fanned",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "Work",
                        "States": {"Work": {**processor_state, "End": True}},
                    },
                    "End": True,
                    **map_fields,
                }
            },
        }
    )


def run_to_end(api: Api, sm_arn: str, document: Any) -> dict[str, Any]:
    started = api.ok("StartExecution", stateMachineArn=sm_arn, input=json.dumps(document))
    return wait_closed(api, started["executionArn"])


def test_a_map_runs_counts_with_tolerated_failures(api: Api) -> None:
    sm_arn = machine_arn(api, "MapMachine")
    described = run_to_end(api, sm_arn, {"items": [{"a": 1}, {"a": 2}, {"a": -1}]})
    assert described["status"] == "SUCCEEDED", described
    [listed] = api.ok("ListMapRuns", executionArn=described["executionArn"])["mapRuns"]
    assert listed["executionArn"] == described["executionArn"]
    assert listed["stateMachineArn"] == f"{sm_arn}/Sums"
    prefix = "arn:aws:states:us-east-1:123456789012:mapRun:local-MapMachine/Sums:"
    assert listed["mapRunArn"].startswith(prefix)
    assert listed["stopDate"] >= listed["startDate"]
    run = api.ok("DescribeMapRun", mapRunArn=listed["mapRunArn"])
    assert run["status"] == "SUCCEEDED"
    assert run["executionArn"] == described["executionArn"]
    assert run["maxConcurrency"] == 4
    assert run["toleratedFailureCount"] == 5
    assert run["toleratedFailurePercentage"] == 0.0
    expected = {"pending": 0, "running": 0, "succeeded": 2, "failed": 1, "timedOut": 0,
                "aborted": 0, "total": 3, "resultsWritten": 0, "failuresNotRedrivable": 0,
                "pendingRedrive": 0}  # fmt: skip
    assert run["executionCounts"] == expected
    assert run["itemCounts"] == expected
    assert run["redriveCount"] == 0


def test_a_batched_map_run_counts_items_and_child_executions_apart(api: Api) -> None:
    definition = distributed(
        {"Type": "Pass"}, ItemBatcher={"MaxItemsPerBatch": 2}, ToleratedFailurePercentage=50
    )
    sm_arn = api.ok("CreateStateMachine", name="Batched", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]
    described = run_to_end(api, sm_arn, {"items": [1, 2, 3, 4, 5]})
    assert described["status"] == "SUCCEEDED", described
    [listed] = api.ok("ListMapRuns", executionArn=described["executionArn"])["mapRuns"]
    run = api.ok("DescribeMapRun", mapRunArn=listed["mapRunArn"])
    assert run["executionCounts"]["total"] == 3 and run["executionCounts"]["succeeded"] == 3
    assert run["itemCounts"]["total"] == 5 and run["itemCounts"]["succeeded"] == 5
    assert run["toleratedFailurePercentage"] == 50.0
    assert run["maxConcurrency"] == 0


def test_a_map_run_over_its_tolerated_failures_failed_with_pending_items(api: Api) -> None:
    definition = distributed({"Type": "Task", "Resource": ADD_ARN}, MaxConcurrency=1)
    sm_arn = api.ok("CreateStateMachine", name="Strict", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]
    described = run_to_end(api, sm_arn, {"items": [{"a": -1}, {"a": 1}, {"a": 2}]})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.ExceedToleratedFailureThreshold"
    [listed] = api.ok("ListMapRuns", executionArn=described["executionArn"])["mapRuns"]
    run = api.ok("DescribeMapRun", mapRunArn=listed["mapRunArn"])
    assert run["status"] == "FAILED"
    counts = run["executionCounts"]
    assert (counts["failed"], counts["pending"], counts["succeeded"]) == (1, 2, 0)
    assert run["maxConcurrency"] == 1


def test_map_runs_answer_after_a_restart_and_errors_are_awss(tmp_path: Path) -> None:
    first = Api(tmp_path / "data")
    try:
        described = run_to_end(first, machine_arn(first, "MapMachine"), {"items": [{"a": 1}]})
        [listed] = first.ok("ListMapRuns", executionArn=described["executionArn"])["mapRuns"]
    finally:
        first.close()
    second = Api(tmp_path / "data")
    try:
        run = second.ok("DescribeMapRun", mapRunArn=listed["mapRunArn"])
        assert run["status"] == "SUCCEEDED" and run["itemCounts"]["succeeded"] == 1
        missing = listed["mapRunArn"][:-4] + "0000"
        assert second.error("DescribeMapRun", mapRunArn=missing)[0] == "ResourceNotFound"
        assert second.error("DescribeMapRun", mapRunArn="arn:aws:states:x")[0] == "InvalidArn"
        no_map = run_to_end(second, machine_arn(second, "StandardMachine"), {"a": 1})
        assert second.ok("ListMapRuns", executionArn=no_map["executionArn"])["mapRuns"] == []
    finally:
        second.close()


# ---------------------------------------------------------------- TestState
def try_state(api: Api, state: dict[str, Any], data: Any = None, **request: Any) -> dict[str, Any]:
    fields = {"definition": json.dumps(state), "roleArn": ROLE, **request}
    if data is not None:
        fields["input"] = json.dumps(data)
    return api.ok("TestState", **fields)


def test_test_state_runs_a_lambda_task_for_real_and_shows_its_data_flow(api: Api) -> None:
    state = {
        "Type": "Task",
        "Resource": ADD_ARN,
        "InputPath": "$.numbers",
        "Parameters": {"a.$": "$.x", "b.$": "$.y"},
        "ResultSelector": {"total.$": "$.sum"},
        "ResultPath": "$.added",
        "OutputPath": "$.added",
        "Next": "Report",
    }
    body = try_state(api, state, {"numbers": {"x": 1, "y": 2}}, inspectionLevel="DEBUG")
    assert body["status"] == "SUCCEEDED", body
    assert body["nextState"] == "Report"
    assert json.loads(body["output"]) == {"total": 103}  # OFFSET=100: the template's function
    inspection = {k: json.loads(v) for k, v in body["inspectionData"].items()}
    assert inspection == {
        "input": {"numbers": {"x": 1, "y": 2}},
        "afterInputPath": {"x": 1, "y": 2},
        "afterParameters": {"a": 1, "b": 2},
        "result": {"sum": 103},
        "afterResultSelector": {"total": 103},
        "afterResultPath": {"numbers": {"x": 1, "y": 2}, "added": {"total": 103}},
    }


def test_test_state_at_info_level_has_no_inspection_data(api: Api) -> None:
    body = try_state(api, {"Type": "Pass", "Result": {"x": 1}, "End": True})
    assert body == {"status": "SUCCEEDED", "output": '{"x":1}'}


def test_test_state_failed_retriable_and_caught(api: Api) -> None:
    task = {"Type": "Task", "Resource": ADD_ARN, "End": True}
    failed = try_state(api, task, {"a": -1})
    assert failed["status"] == "FAILED"
    assert failed["error"] == "ValueError" and "negative a: -1" in failed["cause"]
    assert "output" not in failed and "nextState" not in failed

    retried = {**task, "Retry": [{"ErrorEquals": ["ValueError"], "MaxAttempts": 2}]}
    assert try_state(api, retried, {"a": -1})["status"] == "RETRIABLE"
    other = {**task, "Retry": [{"ErrorEquals": ["KeyError"]}]}
    assert try_state(api, other, {"a": -1})["status"] == "FAILED"

    caught = {
        **task,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fix"}],
    }
    body = try_state(api, caught, {"a": -1})
    assert body["status"] == "CAUGHT_ERROR"
    assert body["nextState"] == "Fix"
    assert body["error"] == "ValueError"
    output = json.loads(body["output"])
    assert output["a"] == -1 and output["error"]["Error"] == "ValueError"


def test_test_state_choice_names_the_next_state_and_variables_are_assigned(api: Api) -> None:
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
        "Default": "Small",
    }
    assert try_state(api, choice, {"n": 11})["nextState"] == "Big"
    assert try_state(api, choice, {"n": 1})["nextState"] == "Small"
    uses_variable = {"Type": "Pass", "Parameters": {"limit.$": "$limit"}, "End": True}
    body = try_state(api, uses_variable, {}, variables=json.dumps({"limit": 7}))
    assert json.loads(body["output"]) == {"limit": 7}


def test_test_state_of_a_state_in_a_whole_definition_and_a_fail_state(api: Api) -> None:
    machine = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Fail", "Error": "Boom", "Cause": "why"},
        },
    }
    body = api.ok("TestState", definition=json.dumps(machine), stateName="B", input="{}")
    assert (body["status"], body["error"], body["cause"]) == ("FAILED", "Boom", "why")
    body = api.ok("TestState", definition=json.dumps(machine), stateName="A", input='{"k": 1}')
    assert body["nextState"] == "B" and json.loads(body["output"]) == {"k": 1}


def test_test_state_refuses_bad_requests(api: Api) -> None:
    assert api.error("TestState", definition='{"Type": "Tusk"}')[0] == "InvalidDefinition"
    assert api.error("TestState", definition="{not json")[0] == "InvalidDefinition"
    assert api.error("TestState")[0] == "ValidationException"
    pass_state = json.dumps({"Type": "Pass", "End": True})
    assert (
        api.error("TestState", definition=pass_state, inspectionLevel="ALL")[0]
        == "ValidationException"
    )
    assert (
        api.error("TestState", definition=pass_state, revealSecrets=True)[0]
        == "ValidationException"
    )
    assert api.error("TestState", definition=pass_state, input="{x")[0] == "InvalidExecutionInput"
    assert api.error("TestState", definition=pass_state, roleArn="nope")[0] == "InvalidArn"
    assert (
        api.ok("TestState", definition=pass_state, inspectionLevel="TRACE", revealSecrets=True)[
            "status"
        ]
        == "SUCCEEDED"
    )


def test_test_state_of_a_jsonata_task_shows_its_arguments_and_result(api: Api) -> None:
    state = {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": ADD_ARN,
        "Arguments": {"a": "{% $states.input.x * 2 %}", "b": 1},
        "Output": "{% $states.result.sum %}",
        "End": True,
    }
    body = try_state(api, state, {"x": 4}, inspectionLevel="DEBUG")
    assert body["status"] == "SUCCEEDED", body
    assert json.loads(body["output"]) == 109
    inspection = {k: json.loads(v) for k, v in body["inspectionData"].items()}
    assert inspection == {
        "input": {"x": 4},
        "afterArguments": {"a": 8, "b": 1},
        "result": {"sum": 109},
    }


def test_test_state_inspection_of_a_choice_shows_only_what_applies(api: Api) -> None:
    choice = {
        "Type": "Choice",
        "InputPath": "$.inner",
        "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}],
        "Default": "Other",
    }
    body = try_state(api, choice, {"inner": {"n": 1}}, inspectionLevel="DEBUG")
    assert body["nextState"] == "One"
    assert {k: json.loads(v) for k, v in body["inspectionData"].items()} == {
        "input": {"inner": {"n": 1}},
        "afterInputPath": {"n": 1},
    }
