"""``sfnstack serve`` with ``SFN_MOCK_CONFIG``: a test case is chosen by appending
``#TestCase`` to the state machine ARN in StartExecution, as Step Functions Local does;
the plain ARN still runs for real."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "serve"))

from stack import FIXTURE_TEMPLATE, ServeProcess, wait_until

MOCK_CONFIG = {
    "StateMachines": {
        # the template's logical id (the state machine's generated name works too)
        "ForecastStateMachine": {
            "TestCases": {
                "Mocked": {"Echo": "EchoAnswers"},
                "Broken": {"Echo": "EchoThrows"},
            }
        }
    },
    "MockedResponses": {
        "EchoAnswers": {"0": {"Return": {"mocked": True, "counts": {"ok": 7}}}},
        "EchoThrows": {"0": {"Throw": {"Error": "Echo.Broken", "Cause": "mocked failure"}}},
    },
}


class MockedServe(ServeProcess):
    mock_file: Path

    def env(self) -> dict[str, str]:
        env = super().env()
        env["SFN_MOCK_CONFIG"] = str(self.mock_file)
        return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockedServe]:
    root = tmp_path_factory.mktemp("serve-mocks")
    server = MockedServe(root / "data", FIXTURE_TEMPLATE, "--no-schedule")
    server.mock_file = root / "MockConfigFile.json"
    server.mock_file.write_text(json.dumps(MOCK_CONFIG))
    yield server.start()
    server.stop()


def _machine_arn(stack: ServeProcess) -> str:
    machines = stack.sfn().list_state_machines()["stateMachines"]
    assert len(machines) == 1
    return machines[0]["stateMachineArn"]


def _finished(stack: ServeProcess, execution_arn: str) -> dict:
    sfn = stack.sfn()
    return wait_until(
        lambda: (
            (d := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING" and d
        ),
        60,
        "the execution to finish",
    )


def test_test_case_suffix_answers_from_the_mock(stack: MockedServe) -> None:
    arn = _machine_arn(stack)
    started = stack.sfn().start_execution(stateMachineArn=f"{arn}#Mocked", input="{}")
    described = _finished(stack, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert described["stateMachineArn"] == arn  # the suffix chooses, it names nothing
    assert json.loads(described["output"]) == {"mocked": True, "counts": {"ok": 7}}

    started = stack.sfn().start_execution(stateMachineArn=f"{arn}#Broken", input="{}")
    described = _finished(stack, started["executionArn"])
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "Echo.Broken",
        "mocked failure",
    )


def test_plain_arn_runs_for_real_and_unknown_test_case_is_refused(stack: MockedServe) -> None:
    arn = _machine_arn(stack)
    started = stack.sfn().start_execution(
        stateMachineArn=arn, input=json.dumps({"cities": ["Perth"]})
    )
    described = _finished(stack, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert "mocked" not in json.loads(described["output"])

    with pytest.raises(ClientError) as raised:
        stack.sfn().start_execution(stateMachineArn=f"{arn}#Nope", input="{}")
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "no test case 'Nope'" in error["Message"]
