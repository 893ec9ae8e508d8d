"""The forecaster's own state machine under a Step Functions Local mock configuration
(tests/fixtures/mocks/forecast.mock.json): its Retry and Catch paths driven by mocked
Lambda errors, every other state running for real (Prepare, Store, Summarize, the Map)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfnstack.mocks import MockConfig

from raincast_cli.commands.run import LOCAL_ENV

ROOT = Path(__file__).resolve().parents[2]
MOCKS = ROOT / "tests" / "fixtures" / "mocks" / "forecast.mock.json"
AWS_EXAMPLE = ROOT / "sfnstack" / "tests" / "fixtures" / "mocks"
CITIES = ["Perth", "Darwin", "Hobart"]


@pytest.fixture(scope="module")
def runtime() -> Iterator[Any]:
    from sfnstack.local import LocalRuntime

    rt = LocalRuntime(ROOT / "template.yaml", workers=2, env_overrides={"*": LOCAL_ENV})
    yield rt
    rt.close()


def run_case(rt: Any, case: str, run_id: str) -> tuple[Any, Any, list[dict[str, str]]]:
    test_case = MockConfig.load(MOCKS).test_case("forecast", case)
    test_case.check_definition(rt.state_machine("ForecastStateMachine").definition)
    execution = rt.start_execution(
        "ForecastStateMachine", {"cities": CITIES, "run_id": run_id}, test_case=test_case
    )
    result = execution.wait(240)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    body = rt.s3_client().get_object(
        Bucket=rt.buckets["ResultsBucket"], Key=result.output["keys"]["csv"]
    )
    rows = list(csv.DictReader(io.StringIO(body["Body"].read().decode("utf-8"))))
    return result, execution.services.mocked, rows


def test_geocode_retried_then_weather_fails_stores_every_city_with_the_failure(runtime) -> None:
    # The mocked Geocode result is a real one captured for run "mock-e2e" (a mock is
    # static: its batch names that run, so this execution uses the same run id).
    result, mocked, rows = run_case(runtime, "GeocodeRetriedWeatherFails", "mock-e2e")
    # Geocode: Lambda.ServiceException twice (retried by its Lambda retrier), then its
    # result; Weather: a ProviderError no retrier names -> Catch -> RecordFailedBatch.
    assert (mocked.attempts("Geocode"), mocked.attempts("Weather")) == (3, 1)
    assert [r["city"] for r in rows] == CITIES
    assert {r["status"] for r in rows} == {"error"}
    assert {r["reason"] for r in rows} == {
        "batch failed: ProviderError: weather: the provider's answer cannot be used"
    }
    assert result.output["by_status"] == {"error": 3}
    s3 = runtime.s3_client()
    bucket = runtime.buckets["ResultsBucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="runs/mock-e2e/batches/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert keys == ["runs/mock-e2e/batches/00000-00002.jsonl"]
    stored = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read().splitlines()
    assert len(stored) == 3  # Store wrote every city's result


def test_geocode_retries_run_out_then_the_catch_stores_the_batch(runtime) -> None:
    _, mocked, rows = run_case(runtime, "GeocodeRetriesRunOut", "mocked-geocode")
    # the first attempt and MaxAttempts 3 retries, then the Catch; Weather never runs
    assert (mocked.attempts("Geocode"), mocked.attempts("Weather")) == (4, 0)
    assert {r["status"] for r in rows} == {"error"}
    (reason,) = {r["reason"] for r in rows}
    assert reason.startswith("batch failed: Lambda.ServiceException: Lambda is unable")


def test_raincast_states_run_takes_a_mock_config() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [
            sys.executable, "-m", "raincast_cli", "states", "run",
            AWS_EXAMPLE / "LambdaSQSIntegration.asl.json", "--input", '{"hello": 1}',
            "--mock-config", AWS_EXAMPLE / "MockConfigFile.json", "--test-case", "HappyPath",
        ],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        json.loads(result.stdout)["output"]["MessageId"] == "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51"
    )
