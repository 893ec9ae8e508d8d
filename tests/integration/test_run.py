"""End to end: `raincast run` and the ForecastStateMachine through the local runtime, with
the real handlers, the offline GeoNames geocoder, the replayed observations and the trained
model. Nothing is faked."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from raincast.geocoding import get_geocoder
from raincast.weather import get_weather_source
from raincast_cli.commands.run import LOCAL_ENV

ROOT = Path(__file__).resolve().parents[2]
AUSTRALIA = ROOT / "examples" / "cities-australia.csv"
WORLD = ROOT / "examples" / "cities-world.csv"


def raincast_run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "raincast_cli", "run", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def australia_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("aus")
    return raincast_run(AUSTRALIA, "--out", out, "--run-id", "aus-e2e", "--workers", "2"), out


def test_australian_cities_get_probabilities_from_the_model(australia_run) -> None:
    result, out = australia_run
    assert result.returncode == 0, result.stderr
    rows = read_csv(out / "forecast.csv")
    listed = [r["city"] for r in read_csv(AUSTRALIA)]
    assert [r["city"] for r in rows] == listed
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    # The probabilities are the real model's on the replayed observations of the run's date.
    from raincast.model.artifact import RainModel

    geocoder, weather, model = (
        get_geocoder("geonames"),
        get_weather_source("replay"),
        RainModel.load(),
    )
    date = weather.latest_date
    for row in rows:
        assert row["date"] == date.isoformat()
        place = geocoder.geocode(f"{row['city']}, AU").place
        assert place is not None and row["place"] == place.name and row["country"] == "AU"
        observed = weather.observe(place.lat, place.lon, date)
        assert observed.observation is not None
        expected = float(
            model.predict_observations(
                [observed.observation], latitudes=[place.lat], previous=[observed.previous]
            )[0]
        )
        assert float(row["p_rain_tomorrow"]) == pytest.approx(expected, abs=5e-5)
        assert row["rain_tomorrow"] == ("yes" if expected >= 0.5 else "no")
    assert len({r["p_rain_tomorrow"] for r in rows}) > 5  # not one constant answer


def test_australian_run_writes_summary_manifest_and_per_city_json(australia_run) -> None:
    result, out = australia_run
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["total"] == 30
        and summary["by_status"] == {"ok": 30}
        and summary["completed"] is True
    )
    assert summary["run_id"] == "aus-e2e" and summary["trigger"] == "cli"
    manifest = json.loads((out / "manifest.json").read_text())
    city_files = sorted(p.name for p in (out / "cities").glob("*.json"))
    assert city_files == sorted(
        Path(o["key"]).name for o in manifest["objects"] if o["kind"] == "city"
    )
    assert len(city_files) == 30 and city_files[0] == "00000-sydney.json"
    sydney = json.loads((out / "cities" / "00000-sydney.json").read_text())
    assert sydney["place"]["name"] == "Sydney"
    assert sydney["observation"]["source"]["provider"] == "replay"
    assert (
        sydney["forecast_for"]
        == (dt.date.fromisoformat(sydney["date"]) + dt.timedelta(days=1)).isoformat()
    )
    # What the user sees: progress on stderr, the table on stdout.
    assert "forecasting: 30/30 cities" in result.stderr
    assert result.stdout.splitlines()[0].split()[:3] == ["city", "place", "found"]
    assert "30 cities: 30 forecast, 0 errors" in result.stdout


def test_world_cities_say_why_offline_mode_cannot_answer(tmp_path: Path) -> None:
    result = raincast_run(WORLD, "--out", tmp_path, "--run-id", "world-e2e", "--workers", "2")
    assert result.returncode == 0, result.stderr
    rows = {r["city"]: r for r in read_csv(tmp_path / "forecast.csv")}
    for city in (
        "Cape Town",
        "Los Angeles",
        "Hong Kong",
        "London",
        "Tokyo",
        "São Paulo",
        "Auckland",
    ):
        assert rows[city]["status"] == "error"
        assert rows[city]["reason"].startswith("no observations near here: nearest station is "), (
            rows[city]
        )
        assert rows[city]["place"]  # it was found, just not observable offline
    assert rows["Cape Town"]["country"] == "ZA"
    assert rows["Melborne"]["reason"].startswith("not found: ")
    assert rows["Xyzzyville"]["reason"].startswith("not found: ")
    for city in ("Sydney", "Darwin", "Uluru"):
        assert rows[city]["status"] == "ok" and 0 <= float(rows[city]["p_rain_tomorrow"]) <= 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors_by_reason"] == {"no observations near here": 9, "not found": 2}
    assert "error: no observations near here" in result.stdout


def test_a_bad_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "cities.csv"
    bad.write_bytes(b"name,country\nSydney,AU\n")
    result = raincast_run(bad, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "no 'city' column" in result.stderr
    assert not (tmp_path / "out").exists()


# -- the state machine directly, through LocalRuntime ------------------------------------------


@pytest.fixture(scope="module")
def runtime():
    from sfnstack.local import LocalRuntime

    rt = LocalRuntime(ROOT / "template.yaml", workers=2, env_overrides={"*": LOCAL_ENV})
    yield rt
    rt.close()


def run_keys(rt: Any, run_id: str) -> list[str]:
    s3 = rt.s3_client()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=rt.buckets["ResultsBucket"], Prefix=f"runs/{run_id}/"
    )
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_rerunning_a_run_id_overwrites_the_same_keys(runtime) -> None:
    cities = ["Perth", "Hobart", "Atlantis Nowhere", {"city": "Farm", "lat": -34.9, "lon": 138.6}]
    first = runtime.execute("ForecastStateMachine", {"cities": cities, "run_id": "again"})
    assert first.status == "SUCCEEDED", (first.error, first.cause)
    keys = run_keys(runtime, "again")
    second = runtime.execute("ForecastStateMachine", {"cities": cities, "run_id": "again"})
    assert second.status == "SUCCEEDED"
    assert run_keys(runtime, "again") == keys  # same keys, no duplicates
    assert len([k for k in keys if "/cities/" in k]) == 4
    assert first.output["by_status"] == second.output["by_status"] == {"error": 1, "ok": 3}
    # A shorter list under the same run id leaves no stale per-city results behind.
    third = runtime.execute("ForecastStateMachine", {"cities": cities[:2], "run_id": "again"})
    assert third.status == "SUCCEEDED"
    assert [k for k in run_keys(runtime, "again") if "/cities/" in k] == [
        "runs/again/cities/00000-perth.json",
        "runs/again/cities/00001-hobart.json",
    ]


def test_a_bad_list_in_s3_fails_the_execution_clearly(runtime) -> None:
    s3 = runtime.s3_client()
    bucket = runtime.buckets["InputBucket"]
    s3.put_object(
        Bucket=bucket, Key="incoming/photo.csv", Body=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    )
    result = runtime.execute(
        "ForecastStateMachine", {"bucket": bucket, "key": "incoming/photo.csv", "trigger": "s3"}
    )
    assert result.status == "FAILED"
    assert result.error == "InvalidCityList"
    assert "binary" in result.cause
    # Nothing ran: no Map, no results.
    assert not any(e["type"] == "MapRunStarted" for e in result.history)


def test_a_request_naming_a_missing_object_fails_clearly(runtime) -> None:
    result = runtime.execute(
        "ForecastStateMachine",
        {"bucket": runtime.buckets["InputBucket"], "key": "incoming/none.csv"},
    )
    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert "incoming/none.csv" in result.cause and "NoSuchKey" in result.cause
