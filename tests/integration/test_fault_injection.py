"""The real pipeline (LocalRuntime on template.yaml, the real handlers in worker processes,
the online providers) against the fake Open-Meteo server (tests/fakes/provider_server.py)
failing on purpose: flaky requests are retried where they fail and every city that exists
is forecast; a Lambda worker SIGKILLed mid-batch is retried and loses nothing."""

from __future__ import annotations

import csv
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.provider_server import FakeProviderServer, FaultProfile

from raincast_cli.commands.run import LOCAL_ENV

ROOT = Path(__file__).resolve().parents[2]
AUSTRALIA = ROOT / "examples" / "cities-australia.csv"
# Short client timeouts (the fake's stalls last longer) keep the suite fast.
FAST_CLIENT = {"RAINCAST_HTTP_CONNECT_TIMEOUT": "0.5", "RAINCAST_HTTP_READ_TIMEOUT": "0.5"}


def cities() -> list[dict[str, Any]]:
    with AUSTRALIA.open(encoding="utf-8") as f:
        listed = [{"city": row["city"], "country": "AU"} for row in csv.DictReader(f)]
    return [*listed, {"city": "Xyzzyville", "country": "AU"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture(scope="module")
def runtime(fake: FakeProviderServer) -> Iterator[Any]:
    from sfnstack.local import LocalRuntime

    env = {**LOCAL_ENV, **fake.env(), **FAST_CLIENT}
    rt = LocalRuntime(ROOT / "template.yaml", workers=2, env_overrides={"*": env})
    yield rt
    rt.close()


def forecast(
    runtime: Any, run_id: str, date: str = "2026-11-20", **settings: str
) -> tuple[Any, dict[str, dict[str, Any]]]:
    # Warm environments keep the answers they got (the providers' cache): a test that needs
    # the weather requests made again asks for another date.
    request = {"cities": cities(), "run_id": run_id, "date": date,
               "weather": "open-meteo", "geocoder": "open-meteo", **settings}  # fmt: skip
    result = runtime.execute("ForecastStateMachine", request)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    s3 = runtime.s3_client()
    body = s3.get_object(Bucket=runtime.buckets["ResultsBucket"], Key=f"runs/{run_id}/forecast.csv")
    rows = list(csv.DictReader(body["Body"].read().decode("utf-8").splitlines()))
    return result, {row["city"]: row for row in rows}


def documents(runtime: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's city documents (the batches' JSON Lines), by city."""
    from raincast.pipeline.records import read_batch_document, run_prefix

    s3, bucket = runtime.s3_client(), runtime.buckets["ResultsBucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=run_prefix(run_id) + "batches/")
    found = {}
    for entry in listed.get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
        found.update({record["city"]: record for record in read_batch_document(body)})
    return found


def assert_every_city_that_exists_is_forecast(rows: dict[str, dict[str, Any]]) -> None:
    assert len(rows) == len(cities())  # nothing lost
    xyzzy = rows.pop("Xyzzyville")
    assert xyzzy["status"] == "error" and xyzzy["reason"].startswith("not found:")
    failed = {city: row["reason"] for city, row in rows.items() if row["status"] != "ok"}
    assert failed == {}
    assert all(0.0 <= float(row["p_rain_tomorrow"]) <= 1.0 for row in rows.values())


def test_flaky_provider_every_city_that_exists_is_forecast(runtime, fake) -> None:
    fake.reset(FaultProfile(error_rate=0.2, timeout_rate=0.05, rate_limit_rate=0.1,
                            retry_after=1.0, stall_seconds=1.5, seed=7))  # fmt: skip
    _, rows = forecast(runtime, "flaky")
    assert_every_city_that_exists_is_forecast(rows)
    # The faults really happened, and were retried where they failed.
    outcomes = fake.stats.outcomes
    assert outcomes["5xx"] >= 5 and outcomes["429"] >= 2 and outcomes["stall"] >= 1, outcomes
    assert fake.stats.requests > 2 * len(cities())
    # Predict asked the places' past year from the archive through the same faults: a 429
    # ends a batch's history requests (the quota is the forecasts' too), and those places
    # keep the model's probability, saying why.
    assert fake.stats.paths["/v1/archive"] >= 1
    recorded = documents(runtime, "flaky")
    recorded.pop("Xyzzyville")
    for city, doc in recorded.items():
        calibration = doc["calibration"]
        if calibration["method"] == "none":
            assert "429" in calibration["reason"], calibration
        else:
            assert calibration["method"] == "history" and calibration["history_days"] >= 180
        assert float(rows[city]["p_rain_tomorrow"]) == doc["p_rain_tomorrow"]


def test_history_requests_are_retried_through_errors_and_stalls(runtime, fake) -> None:
    fake.reset(FaultProfile(error_rate=0.2, timeout_rate=0.05, stall_seconds=1.5, seed=11))
    # a date whose history period ends in October: no other test's offsets are kept for it
    _, rows = forecast(runtime, "flaky-history", date="2026-11-05")
    assert_every_city_that_exists_is_forecast(rows)
    assert fake.stats.outcomes["5xx"] >= 5 and fake.stats.outcomes["stall"] >= 1
    assert fake.stats.paths["/v1/archive"] >= len(cities()) - 1
    recorded = documents(runtime, "flaky-history")
    recorded.pop("Xyzzyville")
    methods = {city: doc["calibration"]["method"] for city, doc in recorded.items()}
    assert set(methods.values()) == {"history"}, methods
    # Kept in the results bucket: the next day's run (its history period ends in the same
    # month) asks the archive nothing, and gets the same offsets.
    s3, bucket = runtime.s3_client(), runtime.buckets["ResultsBucket"]
    cached = s3.list_objects_v2(Bucket=bucket, Prefix="cache/recalibration/open-meteo/")
    assert cached.get("KeyCount", 0) >= len(recorded) - 5  # some cities share a point
    fake.reset(FaultProfile())
    _, rows = forecast(runtime, "next-day", date="2026-11-06")
    assert_every_city_that_exists_is_forecast(rows)
    assert fake.stats.paths["/v1/archive"] == 0 and fake.stats.paths["/v1/forecast"] > 0
    next_day = documents(runtime, "next-day")
    for city, doc in recorded.items():
        assert next_day[city]["calibration"]["offset"] == doc["calibration"]["offset"]


def test_a_run_that_asks_for_no_recalibration_sends_no_history_request(runtime, fake) -> None:
    fake.reset(FaultProfile())
    _, rows = forecast(runtime, "no-history", date="2026-11-18", recalibrate="none")
    assert_every_city_that_exists_is_forecast(rows)
    assert fake.stats.paths["/v1/archive"] == 0 and fake.stats.paths["/v1/forecast"] > 0
    recorded = documents(runtime, "no-history")
    assert all("calibration" not in doc for doc in recorded.values())


def test_retry_after_as_an_http_date_is_honoured(runtime, fake) -> None:
    fake.reset(FaultProfile(rate_limit_rate=0.3, retry_after=1.0, retry_after_as_date=True, seed=3))
    _, rows = forecast(runtime, "dated-retry-after", date="2026-11-19")
    assert_every_city_that_exists_is_forecast(rows)
    assert fake.stats.outcomes["429"] >= 5


def _worker_pids(task_root: str) -> list[int]:
    """Our own Lambda worker processes whose LAMBDA_TASK_ROOT ends with ``task_root``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and any(
            v.startswith(b"LAMBDA_TASK_ROOT=") and v.endswith(task_root.encode()) for v in environ
        ):
            pids.append(int(entry.name))
    return pids


def test_a_worker_killed_mid_batch_is_retried_and_every_city_is_forecast(runtime, fake) -> None:
    fake.reset(FaultProfile(latency=0.2, seed=1))
    killed: list[int] = []
    lock = threading.Lock()

    def kill_a_weather_worker(path: str) -> None:
        with lock:
            if killed or path != "/v1/forecast":
                return
            # Every weather environment: the one whose request this is (mid-batch: the
            # request is in flight) and any idle one, which the pool would simply replace.
            for pid in _worker_pids("functions/weather"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    fake.on_request = kill_a_weather_worker
    try:
        _, rows = forecast(runtime, "killed", date="2026-11-21")
    finally:
        fake.on_request = None
    assert killed, "no weather worker was found to kill"
    assert_every_city_that_exists_is_forecast(rows)
    log = runtime.lambdas.read_log("WeatherFunction")
    assert "Runtime exited with error: signal: killed" in log


def test_raincast_run_reaches_the_providers_named_in_the_environment(fake, tmp_path) -> None:
    """The template leaves the base-URL variables unset by default (AWS::NoValue), so the
    ones set in the user's shell reach the Lambda workers of `raincast run`."""
    import subprocess
    import sys

    fake.reset(FaultProfile(error_rate=0.1, rate_limit_rate=0.1, retry_after=0.5, seed=5))
    listed = tmp_path / "cities.csv"
    listed.write_text("city,country\nHobart,AU\nDarwin,AU\nAtlantis Nowhere,\n", encoding="utf-8")
    env = {**os.environ, **fake.env(), **FAST_CLIENT,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")])}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "raincast_cli", "run", str(listed), "--weather", "open-meteo",
         "--geocoder", "open-meteo", "--date", "2026-11-18", "--workers", "2",
         "--out", str(tmp_path / "out"), "--run-id", "env-urls"],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with (tmp_path / "out" / "forecast.csv").open(encoding="utf-8") as f:
        rows = {row["city"]: row for row in csv.DictReader(f)}
    assert rows["Hobart"]["status"] == rows["Darwin"]["status"] == "ok"
    assert rows["Atlantis Nowhere"]["reason"].startswith("not found")
    assert fake.stats.paths["/v1/search"] >= 3 and fake.stats.paths["/v1/forecast"] >= 2
