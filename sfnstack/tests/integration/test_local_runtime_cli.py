"""``sfnstack states run`` as a user runs it: a subprocess, one JSON object on stdout, the
exit code saying how it went."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"

HANDLERS = """
import os

def double(event, context):
    return {"value": event["value"] * 2, "name": context.function_name, "env": os.environ.get("CLI_ENV")}

class Nope(Exception):
    pass

def refuse(event, context):
    raise Nope("not today")
"""

DEFINITION = {
    "StartAt": "Double",
    "States": {
        "Double": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:double",
            "Next": "Refuse?",
        },
        "Refuse?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.value", "NumericGreaterThan": 100, "Next": "Refuse"}],
            "Default": "Done",
        },
        "Refuse": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "refuse", "Payload.$": "$"},
            "End": True,
        },
        "Done": {"Type": "Succeed"},
    },
}


def sfnstack(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "sfnstack", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def states_run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return sfnstack(cwd, "states", "run", *args, stdin=stdin)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "cli_handlers.py").write_text(HANDLERS)
    (tmp_path / "machine.asl.json").write_text(json.dumps(DEFINITION))
    (tmp_path / "input.json").write_text('{"value": 21}')
    return tmp_path


FUNCTIONS = ("--function", "double=cli_handlers:double", "--function", "refuse=cli_handlers:refuse")


def test_success_prints_the_output_and_exits_0(workdir: Path) -> None:
    done = states_run(
        workdir, "machine.asl.json", "--input", "input.json", *FUNCTIONS, "--env", "CLI_ENV=set"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "SUCCEEDED",
        "output": {"value": 42, "name": "double", "env": "set"},
    }
    assert done.stdout.count("\n") == 1  # exactly one JSON object


def test_failure_prints_error_and_cause_and_exits_1(workdir: Path) -> None:
    done = states_run(
        workdir, "machine.asl.json", "--input", "-", *FUNCTIONS, "--verbose", stdin='{"value": 60}'
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "FAILED"
    assert result["error"] == "Nope"
    assert json.loads(result["cause"])["errorMessage"] == "not today"
    assert "ExecutionFailed" in done.stderr  # --verbose: the history
    assert "[ERROR] Nope: not today" in done.stderr  # and the function's log


def test_usage_and_definition_errors_exit_2(workdir: Path) -> None:
    (workdir / "bad.asl.json").write_text(
        '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}'
    )
    done = states_run(workdir, "bad.asl.json", "--input", "{}")
    assert done.returncode == 2
    assert "Missing" in done.stderr and done.stdout == ""
    done = states_run(workdir, "machine.asl.json", "--input", "{not json")
    assert done.returncode == 2 and "--input" in done.stderr
    done = states_run(workdir, "machine.asl.json", "--function", "double")
    assert done.returncode == 2 and "KEY=VALUE" in done.stderr
    done = states_run(workdir)
    assert done.returncode == 2 and "DEFINITION" in done.stderr


@pytest.mark.parametrize("command", [("states", "run"), ("run",)])
def test_template_state_machine(workdir: Path, command: tuple[str, ...]) -> None:
    """``--state-machine``: the template's own definition (a Catch of the fixture's
    FixtureError) with the template's functions, from both commands."""
    done = sfnstack(
        workdir, *command, "--template", str(FIXTURE), "--state-machine", "InlineStateMachine",
        "--input", "input.json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["value"] == 21  # the input file, passed through
    assert result["output"]["caught"]["Error"] == "FixtureError"
    assert done.stdout.count("\n") == 1


def test_template_substitutions_for_a_definition_file(workdir: Path) -> None:
    # A definition file that is a template state machine's DefinitionUri gets its
    # DefinitionSubstitutions; an empty key list makes the Map trivial.
    definition = FIXTURE.parent / "statemachine" / "map.asl.json"
    done = states_run(
        workdir, str(definition), "--template", str(FIXTURE), "--input", '{"keys": []}'
    )
    # copied[0] does not exist for an empty Map: the lambda:invoke Payload path fails
    result = json.loads(done.stdout)
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime", result
    assert done.returncode == 1


def sfnstack_run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return sfnstack(cwd, "run", *args)


def test_run_chooses_the_only_state_machine_or_asks(workdir: Path) -> None:
    done = sfnstack_run(workdir, "--template", str(FIXTURE), "--input", "{}")
    assert done.returncode == 2 and done.stdout == ""
    assert "choose one with --state-machine" in done.stderr
    assert "InlineStateMachine" in done.stderr and "Traceback" not in done.stderr
    (workdir / "one.yaml").write_text(
        "Resources:\n"
        "  Only:\n"
        "    Type: AWS::StepFunctions::StateMachine\n"
        "    Properties:\n"
        "      Definition:\n"
        "        StartAt: Echo\n"
        "        States: {Echo: {Type: Pass, Parameters: {got.$: $.n}, End: true}}\n"
    )
    done = sfnstack_run(workdir, "--template", "one.yaml", "--input", '{"n": 7}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "SUCCEEDED", "output": {"got": 7}}
    done = sfnstack_run(workdir, "--input", "{}")  # --template is required
    assert done.returncode == 2 and "--template" in done.stderr
    done = sfnstack_run(workdir, "--template", "missing.yaml", "--input", "{}")
    assert done.returncode == 2 and "cannot read template" in done.stderr


YAML_DEFINITION = """\
Comment: the same shape as a SAM DefinitionUri YAML file
StartAt: Greet
States:
  Greet:
    Type: Pass
    Parameters:
      greeting.$: States.Format('hello {}', $.who)
      date: 2024-01-02
    End: true
"""


def test_validate_tells_valid_from_invalid_json_and_yaml(workdir: Path) -> None:
    (workdir / "machine.asl.yaml").write_text(YAML_DEFINITION)
    for name in ("machine.asl.json", "machine.asl.yaml"):
        done = sfnstack(workdir, "states", "validate", name)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{name}: valid\n" and done.stderr == ""
    (workdir / "bad.asl.yaml").write_text("StartAt: A\nStates:\n  A: {Type: Pass, Next: Missing}\n")
    done = sfnstack(workdir, "states", "validate", "bad.asl.yaml")
    assert done.returncode == 2 and done.stdout == ""
    assert "state 'A' field 'Next': transition to unknown state 'Missing'" in done.stderr
    assert done.stderr.count("\n") == 1
    (workdir / "broken.yaml").write_text("StartAt: [A\n")
    done = sfnstack(workdir, "states", "validate", "broken.yaml")
    assert done.returncode == 2 and "not valid JSON/YAML" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = sfnstack(workdir, "states", "validate", "missing.json")
    assert done.returncode == 2 and "cannot read missing.json" in done.stderr


def test_run_accepts_a_yaml_definition(workdir: Path) -> None:
    (workdir / "machine.asl.yaml").write_text(YAML_DEFINITION)
    done = states_run(workdir, "machine.asl.yaml", "--input", '{"who": "world"}')
    assert done.returncode == 0, done.stderr
    # YAML's implicit dates stay strings, as in SAM templates
    assert json.loads(done.stdout)["output"] == {"greeting": "hello world", "date": "2024-01-02"}


def test_long_inline_input_is_json_not_a_file_name(workdir: Path) -> None:
    long_input = json.dumps({"value": 1, "padding": "x" * 400})  # over NAME_MAX (255)
    done = states_run(workdir, "machine.asl.json", "--input", long_input, *FUNCTIONS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"]["value"] == 2
    # Too long for a path and not JSON either: a usage error that says so
    done = states_run(workdir, "machine.asl.json", "--input", "{" + "x" * 5000, *FUNCTIONS)
    assert done.returncode == 2 and "inline JSON" in done.stderr
    assert "File name too long" not in done.stderr and "Traceback" not in done.stderr


def test_an_internal_error_exits_3_not_1(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A defect of sfnstack (injected here) is exit 3 with one line, never a traceback and
    never confused with an execution that failed (exit 1)."""
    from sfnstack.asl.states import PassState
    from sfnstack.cli import main
    from sfnstack.local import LocalRuntime

    (workdir / "pass.json").write_text(
        '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
    )
    monkeypatch.chdir(workdir)

    def broken_execute(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("injected defect")

    with monkeypatch.context() as patch:  # a defect inside the execution
        patch.setattr(PassState, "execute", broken_execute)
        code = main(["states", "run", "pass.json"])
    out, err = capsys.readouterr()
    assert code == 3
    assert json.loads(out)["error"] == "States.Runtime"  # the result is still printed
    assert err == (
        "sfnstack: internal error (a bug in sfnstack, please report it):"
        " ZeroDivisionError: injected defect\n"
    )
    with monkeypatch.context() as patch:  # a defect outside any execution
        patch.setattr(LocalRuntime, "execute", broken_execute)
        code = main(["states", "run", "pass.json"])
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    assert "internal error" in err and "injected defect" in err and err.count("\n") == 1
    assert main(["states", "run", "pass.json"]) == 0  # and without the defect: fine


def test_preload_forks_the_environments_from_a_process_that_imported_the_library(
    workdir: Path,
) -> None:
    (workdir / "preloaded_for_cli.py").write_text("import os\nIMPORTED_BY = os.getpid()\n")
    (workdir / "cli_preload_handlers.py").write_text(
        "import os, preloaded_for_cli\n"
        "def who(event, context):\n"
        "    return {'environment': os.getpid(), 'library': preloaded_for_cli.IMPORTED_BY}\n"
    )
    definition = {
        "StartAt": "LetTheZygoteImport",
        "States": {
            "LetTheZygoteImport": {"Type": "Wait", "Seconds": 2, "Next": "Who"},
            "Who": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:who",
                "End": True,
            },
        },
    }
    (workdir / "preload.asl.json").write_text(json.dumps(definition))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(workdir)])
    done = subprocess.run(
        [sys.executable, "-m", "sfnstack", "states", "run", "preload.asl.json", "--input", "{}",
         "--function", "who=cli_preload_handlers:who", "--preload", "preloaded_for_cli"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)["output"]
    # imported once, in the zygote, not by the environment that ran the handler
    assert output["library"] != output["environment"]
