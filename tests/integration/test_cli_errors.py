"""Rough edges of the command line: each gets one line on stderr and exit 2, never a
traceback (subprocesses, as a user runs them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CITIES = ROOT / "examples" / "cities-australia.csv"


def raincast(*args: str, code: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    command = "; ".join(["import sys", *([code] if code else []),
                         "from raincast_cli.cli import main", "sys.exit(main())"])  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", command, *args],
        capture_output=True, text=True, timeout=120, **kwargs,
    )  # fmt: skip


def assert_one_line_exit_2(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0]


def test_a_missing_template(tmp_path: Path) -> None:
    done = raincast("run", str(CITIES), "--template", str(tmp_path / "nope.yaml"))
    assert_one_line_exit_2(done, "--template", "nope.yaml", "No such file")


@pytest.mark.parametrize(
    "body",
    [
        "Resources:\n  Other:\n    Type: AWS::S3::Bucket\n",
        # The state machine is there, the buckets are not.
        "Resources:\n  ForecastStateMachine:\n    Type: AWS::StepFunctions::StateMachine\n"
        "    Properties: {DefinitionString: '{}'}\n",
        "Resources: [not, a, mapping\n",
    ],
)
def test_a_template_without_what_the_run_needs(tmp_path: Path, body: str) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(body)
    done = raincast("run", str(CITIES), "--template", str(template))
    assert_one_line_exit_2(done, "--template")
    if "Other" in body:
        assert "InputBucket" in done.stderr and "ResultsBucket" in done.stderr


def test_output_piped_into_a_reader_that_stops() -> None:
    """``raincast geocode ... | head -0``: the reader is gone before anything is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "raincast_cli", "geocode", "Sydney", "Perth", "Darwin"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    done = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    assert_one_line_exit_2(done, "output closed")


def test_sfnstack_output_piped_into_a_reader_that_stops() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sfnstack", "--help"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    # argparse's --help exits from inside parse_args; what matters is no traceback.
    assert "Traceback" not in stderr


def test_train_without_the_training_extras(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python itself spells "this module is not installed".
    done = raincast("train", "--out", str(tmp_path), code="sys.modules['sklearn'] = None")
    assert_one_line_exit_2(done, "raincast[train]")
    assert not any(tmp_path.iterdir())


def test_version() -> None:
    import raincast as package
    import sfnstack

    done = raincast("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"raincast {package.__version__} (sfnstack ")
    stack = subprocess.run(
        [sys.executable, "-m", "sfnstack", "--version"], capture_output=True, text=True, timeout=60
    )
    assert stack.returncode == 0 and stack.stdout.startswith(f"sfnstack {sfnstack.__version__}")
