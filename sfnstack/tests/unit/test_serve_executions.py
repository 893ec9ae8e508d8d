"""The Step Functions API over Executions: AWS request/response shapes and errors,
persistence across restarts, shutdown."""

import io
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sfnstack.serve.executions import Executions
from sfnstack.serve.stepfunctions import StepFunctionsApi
from sfnstack.serve.store import DataDir

SM_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Machine"


@dataclass
class Machine:
    logical_id: str = "Machine"
    name: str = "Machine"
    arn: str = SM_ARN
    definition: dict = field(
        default_factory=lambda: {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )


@dataclass
class Result:
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list
    start_date: datetime
    stop_date: datetime


class Handle:
    """An execution that echoes its input; ``{"block": true}`` waits until released/stopped."""

    def __init__(self, name: str, payload: Any) -> None:
        self.name = name
        self.arn = f"arn:aws:states:us-east-1:123456789012:execution:Machine:{name}"
        self.start_date = datetime.now(UTC)
        self.history = [{"timestamp": self.start_date, "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
                         "executionStartedEventDetails": {"input": json.dumps(payload)}}]  # fmt: skip
        self.release = threading.Event()
        self.stopped: tuple | None = None
        self.payload = payload
        if not (isinstance(payload, dict) and payload.get("block")):
            self.release.set()

    def wait(self, timeout: float | None = None) -> Result:
        if not self.release.wait(timeout):
            raise TimeoutError(f"execution {self.name} still running after {timeout} s")
        now = datetime.now(UTC)
        if self.stopped:
            kind, status = "ExecutionAborted", "ABORTED"
            details = {
                "executionAbortedEventDetails": {"error": self.stopped[0], "cause": self.stopped[1]}
            }
        else:
            kind, status = "ExecutionSucceeded", "SUCCEEDED"
            details = {"executionSucceededEventDetails": {"output": json.dumps(self.payload)}}
        history = [
            *self.history,
            {"timestamp": now, "type": kind, "id": 2, "previousEventId": 1, **details},
        ]
        output = None if self.stopped else self.payload
        error, cause = self.stopped or (None, None)
        return Result(status, output, error, cause, history, self.start_date, now)

    def stop(self, error: str | None, cause: str | None) -> None:
        self.stopped = (error, cause)
        self.release.set()


class Runtime:
    def __init__(self) -> None:
        self.buckets: dict[str, str] = {}
        self.state_machines = {"Machine": Machine()}
        self.handles: list[Handle] = []

    def start_execution(
        self,
        state_machine: str,
        input: Any = None,
        *,
        name: str | None = None,
        listener: Any = None,
        progress: Any = None,
        test_case: Any = None,
    ) -> Handle:
        assert state_machine in self.state_machines
        handle = Handle(name or "generated", input)
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        pass


def call(api: StepFunctionsApi, operation: str, request: dict) -> tuple[int, dict]:
    body = json.dumps(request).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "HTTP_X_AMZ_TARGET": f"AWSStepFunctions.{operation}",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    seen: list[tuple[str, list]] = []
    payload = b"".join(api(environ, lambda status, headers: seen.append((status, headers))))
    status, headers = seen[0]
    assert ("Content-Type", "application/x-amz-json-1.0") in headers
    return int(status.split()[0]), json.loads(payload)


def wait_status(api: StepFunctionsApi, arn: str, status: str) -> dict:
    for _ in range(200):
        _, described = call(api, "DescribeExecution", {"executionArn": arn})
        if described["status"] == status:
            return described
        threading.Event().wait(0.01)
    raise AssertionError(f"{arn} never reached {status}: {described}")


@pytest.fixture
def api(tmp_path: Path) -> StepFunctionsApi:
    return StepFunctionsApi(Executions(Runtime(), DataDir(tmp_path)))


def test_start_describe_list_history(api: StepFunctionsApi) -> None:
    status, started = call(
        api, "StartExecution", {"stateMachineArn": SM_ARN, "name": "one", "input": '{"a": 1}'}
    )
    assert status == 200 and set(started) == {"executionArn", "startDate"}
    assert isinstance(started["startDate"], float)
    described = wait_status(api, started["executionArn"], "SUCCEEDED")
    assert described["input"] == '{"a": 1}' and json.loads(described["output"]) == {"a": 1}
    assert described["stateMachineArn"] == SM_ARN and described["name"] == "one"
    assert described["stopDate"] >= described["startDate"]

    _, history = call(api, "GetExecutionHistory", {"executionArn": started["executionArn"]})
    assert [e["type"] for e in history["events"]] == ["ExecutionStarted", "ExecutionSucceeded"]
    assert all(isinstance(e["timestamp"], float) for e in history["events"])
    _, reverse = call(
        api,
        "GetExecutionHistory",
        {"executionArn": started["executionArn"], "reverseOrder": True, "maxResults": 1},
    )
    assert reverse["events"][0]["type"] == "ExecutionSucceeded" and "nextToken" in reverse
    _, rest = call(
        api,
        "GetExecutionHistory",
        {
            "executionArn": started["executionArn"],
            "reverseOrder": True,
            "nextToken": reverse["nextToken"],
        },
    )
    assert [e["type"] for e in rest["events"]] == ["ExecutionStarted"] and "nextToken" not in rest
    _, bare = call(
        api,
        "GetExecutionHistory",
        {"executionArn": started["executionArn"], "includeExecutionData": False},
    )
    assert "input" not in bare["events"][0]["executionStartedEventDetails"]

    for name in ("two", "three"):
        call(api, "StartExecution", {"stateMachineArn": SM_ARN, "name": name})
    _, page = call(api, "ListExecutions", {"stateMachineArn": SM_ARN, "maxResults": 2})
    assert len(page["executions"]) == 2 and "nextToken" in page
    _, rest = call(
        api, "ListExecutions", {"stateMachineArn": SM_ARN, "nextToken": page["nextToken"]}
    )
    names = [e["name"] for e in page["executions"] + rest["executions"]]
    assert sorted(names) == ["one", "three", "two"]
    assert names[-1] == "one"  # newest first

    _, machines = call(api, "ListStateMachines", {})
    assert machines["stateMachines"][0]["stateMachineArn"] == SM_ARN
    _, machine = call(api, "DescribeStateMachine", {"stateMachineArn": SM_ARN})
    assert json.loads(machine["definition"])["StartAt"] == "P" and machine["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("operation", "request_body", "code"),
    [
        ("StartExecution", {"stateMachineArn": "nonsense"}, "InvalidArn"),
        ("StartExecution", {"stateMachineArn": SM_ARN + "2"}, "StateMachineDoesNotExist"),
        ("StartExecution", {"stateMachineArn": SM_ARN, "input": "[1,"}, "InvalidExecutionInput"),
        (
            "StartExecution",
            {"stateMachineArn": SM_ARN, "input": json.dumps("x" * 300_000)},
            "InvalidExecutionInput",
        ),
        ("StartExecution", {"stateMachineArn": SM_ARN, "name": "has space"}, "InvalidName"),
        ("StartExecution", {"stateMachineArn": SM_ARN, "name": "x" * 81}, "InvalidName"),
        ("StartExecution", {}, "ValidationException"),
        ("DescribeExecution", {"executionArn": SM_ARN}, "InvalidArn"),
        (
            "DescribeExecution",
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:Machine:nope"},
            "ExecutionDoesNotExist",
        ),
        (
            "ListExecutions",
            {"stateMachineArn": SM_ARN, "statusFilter": "DONE"},
            "ValidationException",
        ),
        ("DescribeStateMachine", {"stateMachineArn": SM_ARN + "2"}, "StateMachineDoesNotExist"),
        ("CreateActivity", {}, "UnknownOperationException"),
    ],
)
def test_errors_in_aws_shape(
    api: StepFunctionsApi, operation: str, request_body: dict, code: str
) -> None:
    status, body = call(api, operation, request_body)
    assert status == 400
    assert body["__type"] == code and body["message"]


def test_names_are_idempotent_only_while_running_with_the_same_input(api: StepFunctionsApi) -> None:
    start = {"stateMachineArn": SM_ARN, "name": "n", "input": '{"block": true}'}
    _, first = call(api, "StartExecution", start)
    _, again = call(api, "StartExecution", start)
    assert again == first
    status, body = call(api, "StartExecution", {**start, "input": '{"block": true, "x": 1}'})
    assert (status, body["__type"]) == (400, "ExecutionAlreadyExists")
    _, stopped = call(
        api, "StopExecution", {"executionArn": first["executionArn"], "error": "E", "cause": "C"}
    )
    assert isinstance(stopped["stopDate"], float)
    described = wait_status(api, first["executionArn"], "ABORTED")
    assert (described["error"], described["cause"]) == ("E", "C")
    status, body = call(api, "StartExecution", start)  # closed: the name is taken
    assert (status, body["__type"]) == (400, "ExecutionAlreadyExists")


def test_restart_keeps_executions_and_aborts_the_running_ones(tmp_path: Path) -> None:
    runtime = Runtime()
    api = StepFunctionsApi(Executions(runtime, DataDir(tmp_path)))
    _, done = call(
        api, "StartExecution", {"stateMachineArn": SM_ARN, "name": "done", "input": '{"v": 2}'}
    )
    wait_status(api, done["executionArn"], "SUCCEEDED")
    _, running = call(
        api,
        "StartExecution",
        {"stateMachineArn": SM_ARN, "name": "running", "input": '{"block": true}'},
    )
    # the process dies here: nothing more is written for "running"

    executions = Executions(Runtime(), DataDir(tmp_path))
    assert executions.restore() == (2, 1)
    api2 = StepFunctionsApi(executions)
    _, described = call(api2, "DescribeExecution", {"executionArn": done["executionArn"]})
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"v": 2}
    _, history = call(api2, "GetExecutionHistory", {"executionArn": done["executionArn"]})
    assert history["events"][-1]["type"] == "ExecutionSucceeded"
    _, aborted = call(api2, "DescribeExecution", {"executionArn": running["executionArn"]})
    assert aborted["status"] == "ABORTED" and aborted["error"] == "States.Aborted"
    _, history = call(api2, "GetExecutionHistory", {"executionArn": running["executionArn"]})
    assert [e["type"] for e in history["events"]] == ["ExecutionStarted", "ExecutionAborted"]
    status, body = call(api2, "StartExecution", {"stateMachineArn": SM_ARN, "name": "done"})
    assert (status, body["__type"]) == (400, "ExecutionAlreadyExists")
    runtime.handles[-1].release.set()


def test_shutdown_lets_executions_finish_within_grace_then_aborts(tmp_path: Path) -> None:
    runtime = Runtime()
    executions = Executions(runtime, DataDir(tmp_path))
    quick = executions.start(SM_ARN, '{"block": true}', "quick", "test")
    slow = executions.start(SM_ARN, '{"block": true}', "slow", "test")
    threading.Timer(0.1, runtime.handles[0].release.set).start()
    executions.shutdown(grace_seconds=1.0)
    assert quick.status == "SUCCEEDED"
    assert slow.status == "ABORTED"
    saved = {doc["name"]: doc["status"] for doc in DataDir(tmp_path).executions_saved()}
    assert saved == {"quick": "SUCCEEDED", "slow": "ABORTED"}
    with pytest.raises(Exception, match="shutting down"):
        executions.start(SM_ARN, "{}", "late", "test")


def test_one_s3_change_delivered_twice_starts_one_execution(tmp_path: Path) -> None:
    from sfnstack.serve.eventbridge import TargetInput, s3_object_created_event
    from sfnstack.serve.template_triggers import RuleTrigger
    from sfnstack.serve.triggers import EventBus

    started: list[str] = []
    rule = RuleTrigger("Upload", {"source": ["aws.s3"]}, "Machine", TargetInput(constant="{}"))
    bus = EventBus([rule], DataDir(tmp_path), lambda sm, text, why: started.append(why))

    def event(sequencer: str, version: str | None) -> dict:
        return s3_object_created_event(
            bucket="in", key="incoming/a.csv", size=1, etag="e1", sequencer=sequencer,
            reason="PutObject", region="us-east-1", account="123456789012", request_id="r",
            source_ip="127.0.0.1", version_id=version,
        )  # fmt: skip

    assert bus.put_event(event("01", None)) == 1
    assert bus.put_event(event("01", None)) == 0  # the same change, delivered again
    assert bus.put_event(event("02", None)) == 1  # same content, a new change
    assert bus.put_event(event("03", "v1")) == 1
    assert bus.put_event(event("04", "v1")) == 0  # the same version
    restarted = EventBus([rule], DataDir(tmp_path), lambda sm, text, why: started.append(why))
    assert restarted.put_event(event("02", None)) == 0
    assert len(started) == 3


def test_delivery_claims_persist(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    assert data.claim_delivery("b", "incoming/x", '"e1"')
    assert not data.claim_delivery("b", "incoming/x", "e1")
    assert data.claim_delivery("b", "incoming/x", "e2")
    again = DataDir(tmp_path)
    assert not again.claim_delivery("b", "incoming/x", "e1")
    assert not again.claim_delivery("b", "incoming/x", "e2")


def test_a_killed_server_keeps_the_running_executions_history_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sfnstack.serve.executions as executions_module

    monkeypatch.setattr(executions_module, "SNAPSHOT_SECONDS", 0.02)
    runtime = Runtime()
    executions = Executions(runtime, DataDir(tmp_path))
    record = executions.start(SM_ARN, '{"block": true}', "long", "test")
    handle = runtime.handles[0]
    handle.history.append(
        {"timestamp": datetime.now(UTC), "type": "PassStateEntered", "id": 2, "previousEventId": 1,
         "stateEnteredEventDetails": {"name": "P"}}
    )  # fmt: skip

    def snapshot_has_the_pass_state() -> bool:
        return len(DataDir(tmp_path).load_history(record.execution_arn)) == 2

    for _ in range(500):
        if snapshot_has_the_pass_state():
            break
        threading.Event().wait(0.01)
    else:
        raise AssertionError("no snapshot of the running execution was saved")

    # the server dies here (its snapshots stop); a new one restores from disk
    monkeypatch.setattr(executions_module, "SNAPSHOT_SECONDS", 1000.0)
    threading.Event().wait(0.2)
    restored = Executions(Runtime(), DataDir(tmp_path))
    restored.restore()
    history = restored.history(record.execution_arn)
    assert [e["type"] for e in history] == [
        "ExecutionStarted",
        "PassStateEntered",
        "ExecutionAborted",
    ]
    assert history[-1]["previousEventId"] == 2
    handle.release.set()
