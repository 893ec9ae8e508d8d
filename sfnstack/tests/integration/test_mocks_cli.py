"""``sfnstack states run --mock-config --test-case`` as a user runs it (a subprocess), and
``sfnstack serve`` refusing a bad ``SFN_MOCK_CONFIG``: AWS's documented example, a hybrid
path with a real function, and every configuration error as one line with exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
AWS = ROOT / "tests" / "fixtures" / "mocks"

HANDLERS = """
def double(event, context):
    return {"value": event["value"] * 2}
"""

HYBRID = {
    "StartAt": "Mocked",
    "States": {
        "Mocked": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fetch",
            "Next": "Real",
        },
        "Real": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:double",
            "End": True,
        },
    },
}
HYBRID_MOCKS = {
    "StateMachines": {
        "hybrid": {"TestCases": {"FetchMocked": {"Mocked": "Fetched"}}},
        "renamed": {"TestCases": {"FetchFails": {"Mocked": "NotFetched"}}},
    },
    "MockedResponses": {
        "Fetched": {"0": {"Return": {"value": 21}}},
        "NotFetched": {"0": {"Throw": {"Error": "Fetch.Failed", "Cause": "mocked"}}},
    },
}


def run(cwd: Path, *args: str | Path, env: dict[str, str] | None = None):
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), full_env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "sfnstack", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (tmp_path / "hybrid.asl.json").write_text(json.dumps(HYBRID))
    (tmp_path / "mocks.json").write_text(json.dumps(HYBRID_MOCKS))
    shutil.copy(AWS / "LambdaSQSIntegration.asl.json", tmp_path)
    shutil.copy(AWS / "MockConfigFile.json", tmp_path)
    return tmp_path


def aws_case(workdir: Path, case: str):
    return run(
        workdir, "states", "run", "LambdaSQSIntegration.asl.json", "--input", '{"k": 1}',
        "--mock-config", "MockConfigFile.json", "--test-case", case,
    )  # fmt: skip


def test_aws_happy_path(workdir: Path) -> None:
    result = aws_case(workdir, "HappyPath")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "status": "SUCCEEDED",
        "output": {
            "MD5OfMessageBody": "3bcb6e8e-7h85-4375-b0bc-1a59812c6e51",
            "MessageId": "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51",
        },
    }


def test_aws_hybrid_path_calls_sqs_for_real(workdir: Path) -> None:
    # without the queue: SQS's own error for the unmocked state
    result = aws_case(workdir, "HybridPath")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["error"] == "SQS.QueueDoesNotExistException"
    assert "The specified queue does not exist" in document["cause"]
    # with a template that has the queue: the message is sent (moto, in process)
    (workdir / "queue.yaml").write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        "      QueueName: myQueue\n"
    )
    result = run(
        workdir, "states", "run", "LambdaSQSIntegration.asl.json", "--input", '{"k": 1}',
        "--template", "queue.yaml",
        "--mock-config", "MockConfigFile.json", "--test-case", "HybridPath",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    output = json.loads(result.stdout)["output"]
    body = '{"StatusCode":200,"Payload":{"StatusCode":200,"body":"Hello from Lambda!"}}'
    assert output["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert output["SdkHttpMetadata"]["HttpStatusCode"] == 200


def test_hybrid_path_with_a_real_function(workdir: Path) -> None:
    result = run(
        workdir, "states", "run", "hybrid.asl.json", "--function", "double=handlers:double",
        "--mock-config", "mocks.json", "--test-case", "FetchMocked",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == {"value": 42}


def test_state_machine_name_option(workdir: Path) -> None:
    result = run(
        workdir, "states", "run", "hybrid.asl.json", "--function", "double=handlers:double",
        "--mock-config", "mocks.json", "--test-case", "FetchFails",
        "--state-machine-name", "renamed",
    )  # fmt: skip
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "Fetch.Failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--test-case", "FetchMocked"), "--test-case and --state-machine-name need --mock-config"),
        (("--mock-config", "mocks.json"), "--mock-config needs --test-case NAME"),
        (("--mock-config", "missing.json", "--test-case", "T"), "cannot read missing.json"),
        (("--mock-config", "mocks.json", "--test-case", "Nope"), "has no test case 'Nope'"),
        (
            ("--mock-config", "mocks.json", "--test-case", "T", "--state-machine-name", "x"),
            "has no state machine named 'x'",
        ),
        (("--mock-config", "bad-range.json", "--test-case", "T"), "not a number or an inclusive"),
        (("--mock-config", "no-state.json", "--test-case", "T"), "mocks state 'Elsewhere'"),
    ],
)
def test_configuration_errors_are_one_line_exit_2(workdir: Path, args, message: str) -> None:
    (workdir / "bad-range.json").write_text(
        json.dumps(
            {
                "StateMachines": {"hybrid": {"TestCases": {"T": {"Mocked": "R"}}}},
                "MockedResponses": {"R": {"0-": {"Return": 1}}},
            }
        )
    )
    (workdir / "no-state.json").write_text(
        json.dumps(
            {
                "StateMachines": {"hybrid": {"TestCases": {"T": {"Elsewhere": "R"}}}},
                "MockedResponses": {"R": {"0": {"Return": 1}}},
            }
        )
    )
    result = run(workdir, "states", "run", "hybrid.asl.json", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_bad_sfn_mock_config(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"MockedResponses": {"R": {"x": {"Return": 1}}}}')
    result = run(
        tmp_path, "serve", "--template", ROOT / "tests" / "fixtures" / "serve" / "template.yaml",
        "--data-dir", tmp_path / "data", env={"SFN_MOCK_CONFIG": str(tmp_path / "broken.json")},
    )  # fmt: skip
    assert result.returncode == 2
    assert "SFN_MOCK_CONFIG" in result.stderr and "attempt 'x'" in result.stderr
    assert "Traceback" not in result.stderr
