"""Runs shared by the backtest and report tests: each is made once per session through the
real CLI (the state machine on the local runtime, real handlers, offline providers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_cases import BACKTEST_FROM, BACKTEST_TO, REPORT_CITIES

ROOT = Path(__file__).resolve().parents[2]


def raincast(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "raincast_cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture(scope="session")
def report_cities(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lists") / "report-cities.csv"
    path.write_text(REPORT_CITIES, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def forecast_run(
    tmp_path_factory: pytest.TempPathFactory, report_cities: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("run")
    result = raincast("run", report_cities, "--out", out, "--date", "2016-01-05",
                      "--run-id", "report-e2e", "--workers", "2")  # fmt: skip
    return result, out


@pytest.fixture(scope="session")
def backtest_run(
    tmp_path_factory: pytest.TempPathFactory, report_cities: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("backtest")
    result = raincast("backtest", "--from", BACKTEST_FROM, "--to", BACKTEST_TO,
                      "--cities", report_cities, "--out", out, "--workers", "2")  # fmt: skip
    return result, out
