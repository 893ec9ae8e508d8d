"""``raincast invoke``: sfnstack's invoke on the forecaster's template.yaml, as a user runs it
from the repository root (the function by logical id, an event from events/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def raincast(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raincast_cli", *args],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip


def test_raincast_invoke_runs_the_geocode_function_with_its_event() -> None:
    done = raincast("invoke", "GeocodeFunction", "--event", "events/geocode.json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    cities = {item["city"]: item for item in result["items"]}
    assert cities["Sydney"]["place"]["country_code"] == "AU"
    assert "REPORT RequestId:" in done.stderr


def test_raincast_invoke_of_an_unknown_function_is_one_line_exit_2() -> None:
    done = raincast("invoke", "NoSuchFunction")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no function 'NoSuchFunction'" in lines[0], done.stderr
