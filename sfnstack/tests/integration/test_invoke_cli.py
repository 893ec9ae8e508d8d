"""``sfnstack invoke FUNCTION --event FILE``, as a user runs it (a subprocess): like ``sam
local invoke``, the handler's return value as JSON on stdout, its log on stderr, the
template's environment, exit 1 with Lambda's error document when the handler raises, one
line and exit 2 for a bad function name or event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SFNSTACK = Path(__file__).resolve().parents[2]
FIXTURE = SFNSTACK / "tests" / "fixtures" / "api"


def invoke(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SFNSTACK / "src")}
    return subprocess.run(
        [sys.executable, "-m", "sfnstack", "invoke", *args, "--template", str(FIXTURE / "template.yaml")],
        capture_output=True, text=True, timeout=120, input=stdin, env=env, cwd=FIXTURE,
    )  # fmt: skip


def test_the_handlers_return_value_on_stdout_its_log_on_stderr(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"a": 2, "b": 3}), encoding="utf-8")
    done = invoke("AddFunction", "--event", str(event))
    assert done.returncode == 0, done.stderr
    # OFFSET=100 comes from the template's Environment
    assert json.loads(done.stdout) == {"sum": 105}
    assert "adding 2 and 3" in done.stderr and "to stderr" in done.stderr
    assert "REPORT RequestId:" in done.stderr
    assert "adding" not in done.stdout


def test_the_event_from_stdin_and_no_event_is_an_empty_object() -> None:
    done = invoke("GreetFunction", "--event", "-", stdin='{"from": "stdin"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["event"] == {"from": "stdin"}
    done = invoke("GreetFunction")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"greeting": "hello", "version": 1, "event": {}}


def test_env_overrides_and_the_function_by_name() -> None:
    done = invoke("local-AddFunction", "--env", "OFFSET=1", "--event", "events/add.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"sum": 6}


def test_a_raising_handler_exits_1_with_lambdas_error_document() -> None:
    done = invoke("FailFunction")
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)
    assert error["errorType"] == "CalculationError"
    assert error["errorMessage"] == "cannot calculate"
    assert any("raise CalculationError" in line for line in error["stackTrace"])


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("Nope",), None, "no function 'Nope'"),
        (("AddFunction", "--event", "missing.json"), None, "cannot read missing.json"),
        (("AddFunction", "--event", "-"), "{not json", "stdin is not valid JSON"),
    ],
)
def test_bad_function_or_event_is_one_line_and_exit_2(
    args: tuple[str, ...], stdin: str | None, needle: str
) -> None:
    done = invoke(*args, stdin=stdin)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert lines[0].startswith("sfnstack invoke: ")
