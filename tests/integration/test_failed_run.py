"""A failed run loses nothing: when Store fails for enough batches that the Map fails, or
the Summarize step itself fails, ``raincast run`` still writes every city it forecast, the
CSV and the summary to ``--out``, and exits 1 with a clear message. The faults are injected
by replacing one function of the real template with a fixture (tests/fixtures/flaky_store)
that fails the way a broken function would; everything else is the real pipeline."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from raincast.cities import parse_city_list
from raincast_cli.commands import run as run_command
from raincast_cli.commands.run import LOCAL_ENV

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FAULTS = ROOT / "tests" / "fixtures" / "flaky_store"
CITIES = 125  # 5 batches of 25
# Rows with coordinates skip geocoding; all are near Sydney's station.
DATA = ("city,country,lat,lon\n" + "".join(
    f"Farm {i},AU,-33.8{i % 10},151.2{i % 7}\n" for i in range(CITIES)
)).encode()  # fmt: skip


@pytest.fixture
def runtime() -> Iterator[Any]:
    from sfnstack.local import LocalRuntime

    rt = LocalRuntime(TEMPLATE, workers=2, env_overrides={"*": LOCAL_ENV})
    yield rt
    rt.close()


def inject(rt: Any, logical_id: str, handler: str, **env: str) -> None:
    function = rt.functions[logical_id]
    rt.add_function(
        replace(
            function,
            code_dir=FAULTS,
            handler=handler,
            environment={
                **function.environment,
                "REAL_STORE_HANDLER": str(function.code_dir / "app.py"),
                **env,
            },
        )
    )


def run(rt: Any, out: Path, run_id: str) -> tuple[int, str, str]:
    cities = parse_city_list(DATA, "farms.csv")
    request = {"run_id": run_id, "weather": "replay", "geocoder": "geonames", "trigger": "cli"}
    err = io.StringIO()
    stdout = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(stdout):
        code = run_command.execute(
            request, cities, DATA, "farms.csv", TEMPLATE, out, 2, stream=err, runtime=rt
        )
    return code, stdout.getvalue(), err.getvalue()


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "forecast.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_store_failing_for_two_batches_of_five_keeps_the_other_75_cities(
    runtime: Any, tmp_path: Path
) -> None:
    inject(runtime, "StoreFunction", "flaky_store.lambda_handler", FAIL_FROM_INDEX="75")
    code, stdout, err = run(runtime, tmp_path, "store-fails")
    assert code == 1
    assert "raincast: run store-fails FAILED: States.ExceedToleratedFailureThreshold" in err
    assert f"what the run had is in {tmp_path}/" in err
    written = rows(tmp_path)
    assert [int(r["index"]) for r in written] == list(range(CITIES))  # every row, once
    assert all(r["status"] == "ok" and r["p_rain_tomorrow"] for r in written[:75]), written[:3]
    assert all(r["status"] == "error" for r in written[75:])
    assert all(r["reason"].startswith("not processed: ") for r in written[75:])
    assert len(list((tmp_path / "cities").glob("*.json"))) == 75
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["completed"] is False and summary["by_status"] == {"error": 50, "ok": 75}
    assert "States.ExceedToleratedFailureThreshold" in summary["error"]
    assert (tmp_path / "manifest.json").exists()
    assert f"{CITIES} cities: 75 forecast, 50 errors" in stdout


def test_a_failing_summarize_step_is_summarized_by_the_cli(runtime: Any, tmp_path: Path) -> None:
    inject(runtime, "SummarizeFunction", "always_fails.lambda_handler")
    code, stdout, err = run(runtime, tmp_path, "summary-fails")
    assert code == 1
    assert "InjectedFailure" in err
    written = rows(tmp_path)
    assert len(written) == CITIES and all(r["status"] == "ok" for r in written)
    assert len(list((tmp_path / "cities").glob("*.json"))) == CITIES
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["completed"] is False and summary["by_status"] == {"ok": CITIES}
    assert f"{CITIES} cities: {CITIES} forecast, 0 errors" in stdout
