"""The hostile-input corpus end to end, with the real local runtime, handlers, geocoder,
replay and model, on a representative set of cases (the manifest's ``end_to_end`` ones;
every case goes through the parsing layer and the command's own code in
tests/unit/test_hostile_corpus.py): ``raincast run`` as a subprocess, or its ``execute()``
on one runtime shared by the in-process cases (a runtime's start costs several seconds). Refused: exit 2, one line, no traceback,
nothing written. Accepted: exit 0, every row with its outcome, no formula in the CSV, no
escape sequence on the terminal, nothing written outside --out."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from raincast.cities import parse_city_list, read_city_list
from raincast.sanitize import FORMULA_PREFIXES
from raincast_cli.commands import run as run_command
from raincast_cli.commands.run import LOCAL_ENV

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

import corpus  # noqa: E402 - tests/hostile is not a package


def raincast_run(src: corpus.Source, out: Path, run_id: str) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]
        ),
    }
    command = [sys.executable, "-m", "raincast_cli", "run", src.path, "--out", str(out),
               "--run-id", run_id, "--workers", "2", *src.args]  # fmt: skip
    return subprocess.run(
        command, input=src.stdin, capture_output=True, timeout=180, env=env, cwd=ROOT,
        pass_fds=src.pass_fds,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runtime() -> Iterator[Any]:
    from sfnstack.local import LocalRuntime

    rt = LocalRuntime(ROOT / "template.yaml", workers=2, env_overrides={"*": LOCAL_ENV})
    yield rt
    rt.close()


@pytest.mark.parametrize("case", corpus.cases(end_to_end="subprocess"), ids=str)
def test_raincast_run(case: corpus.Case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = set(tmp_path.parent.iterdir())
    with corpus.source(case, tmp_path) as src:
        result = raincast_run(src, out, f"hostile-{case.name}")
    check(case, result.returncode, result.stdout.decode(), result.stderr.decode(), out)
    assert set(tmp_path.parent.iterdir()) == before


@pytest.mark.parametrize("case", corpus.cases(end_to_end="in-process"), ids=str)
def test_execute(case: corpus.Case, tmp_path: Path, runtime: Any) -> None:
    out = tmp_path / "out"
    before = set(tmp_path.parent.iterdir())
    with corpus.source(case, tmp_path) as src:
        data, name = read_city_list(src.path)
    cities = parse_city_list(data, name)
    request = {"run_id": f"hostile-{case.name}", "weather": "replay", "geocoder": "geonames",
               "trigger": "cli"}  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout):
        code = run_command.execute(
            request, cities, data, run_command.upload_name(name), ROOT / "template.yaml", out,
            2, stream=stderr, runtime=runtime,
        )  # fmt: skip
    check(case, code, stdout.getvalue(), stderr.getvalue(), out)
    assert set(tmp_path.parent.iterdir()) == before


def check(case: corpus.Case, code: int, stdout: str, stderr: str, out: Path) -> None:
    assert "Traceback" not in stderr
    for stream in (stdout, stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    if case.refused:
        assert code == 2, stderr
        assert stderr.count("\n") == 1 and case.refused in stderr, stderr
        assert stdout == "" and not out.exists()
        return
    assert code == 0, stderr
    with (out / "forecast.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(case.rows)
    for row, (_, _, outcome) in zip(rows, case.rows, strict=True):
        if outcome == "ok":
            assert row["status"] == "ok" and 0 <= float(row["p_rain_tomorrow"]) <= 1, row
        else:
            assert row["status"] == "error" and row["reason"].startswith(outcome), row
        for column in ("city", "place", "country", "reason"):
            assert not row[column].startswith(FORMULA_PREFIXES), (column, row[column])
    # Every per-city result is a file in out/cities, named by a slug; nothing else appeared.
    cities = sorted(p.name for p in (out / "cities").iterdir())
    assert len(cities) == len(rows)
    assert all(name.isascii() and "/" not in name and ".." not in name for name in cities)
    written = {p.name for p in out.iterdir()}
    assert {"cities", "forecast.csv", "manifest.json", "summary.json"} <= written
    assert [p for p in out.iterdir() if p.is_dir()] == [out / "cities"]
    assert f"{len(rows)} cities:" in stdout
