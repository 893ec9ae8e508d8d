"""``raincast serve`` with the real template.yaml: the forecast pipeline started by each of
the three triggers — the schedule, an upload under incoming/ (aws CLI), the start API
(signed HTTP) — with results read back from the results bucket, across a restart."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sfnstack/tests/fixtures/serve"))

from sfnstack.template import load_template
from stack import ServeProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
AUSTRALIA = ROOT / "examples" / "cities-australia.csv"
WORLD = ROOT / "examples" / "cities-world.csv"

pytestmark = pytest.mark.skipif(
    not TEMPLATE.exists() or not AUSTRALIA.exists(),
    reason="the pipeline (template.yaml) is not here",
)


def _rows(path: Path) -> int:
    """Cities in an example list (CSV with a header; ``#`` lines are comments)."""
    lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return sum(1 for row in csv.DictReader(lines) if (row.get("city") or "").strip())


def _bucket(server: ServeProcess, part: str) -> str:
    names = [b["Name"] for b in server.s3().list_buckets()["Buckets"] if part in b["Name"].lower()]
    assert len(names) == 1, names
    return names[0]


def _summary(server: ServeProcess, results_bucket: str, run_id: str) -> dict[str, Any]:
    body = server.s3().get_object(Bucket=results_bucket, Key=f"runs/{run_id}/summary.json")["Body"]
    return json.loads(body.read())


def _succeeded(server: ServeProcess, arn: str, timeout: float = 240) -> dict[str, Any]:
    described = server.wait_closed(arn, timeout)
    assert described["status"] == "SUCCEEDED", f"{described}\n{server.log()[-3000:]}"
    return described


def _serve(data_dir: Path, *args: str) -> ServeProcess:
    """``raincast serve`` (the forecaster's CLI around sfnstack's) on the real template."""
    paths = [ROOT / "src", ROOT / "layers" / "model" / "python"]
    return ServeProcess(data_dir, TEMPLATE, *args, module="raincast_cli", python_path=paths)


def test_pipeline_through_schedule_upload_and_api_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    scheduled_key = load_template(TEMPLATE).parameters["ScheduledCityListKey"]

    # 1. the schedule, fired every few seconds (a local extension of rate())
    first = _serve(
        data_dir, "--schedule-expression", "rate(5 seconds)", "--grace-seconds", "0"
    ).start()
    try:
        input_bucket, results_bucket = _bucket(first, "input"), _bucket(first, "result")
        first.s3().upload_file(str(AUSTRALIA), input_bucket, scheduled_key)
        sm_arn = first.state_machine_arn("forecast")

        def scheduled() -> str | None:
            for execution in first.executions(sm_arn):
                described = first.sfn().describe_execution(executionArn=execution["executionArn"])
                if json.loads(described["input"]).get("trigger") == "schedule":
                    return execution["executionArn"]
            return None

        scheduled_arn = wait_until(scheduled, 60, "a scheduled execution")
        described = _succeeded(first, scheduled_arn)
        assert json.loads(described["input"]) == {
            "bucket": input_bucket, "key": scheduled_key, "trigger": "schedule"
        }  # fmt: skip
        scheduled_summary = _summary(first, results_bucket, described["name"])
    finally:
        first.stop()
    assert scheduled_summary["completed"] is True
    assert scheduled_summary["total"] == _rows(AUSTRALIA)
    assert scheduled_summary["by_status"].get("ok", 0) >= 1, scheduled_summary
    assert "started by schedule ForecastSchedule" in first.log()

    # 2. restarted without the schedule: the earlier run is still there
    second = _serve(data_dir, "--no-schedule").start()
    try:
        assert second.sfn().describe_execution(executionArn=scheduled_arn)["status"] == "SUCCEEDED"
        assert _summary(second, results_bucket, described["name"]) == scheduled_summary

        # 3. an upload under incoming/, with the aws CLI
        key = "incoming/world.csv"
        second.aws("s3", "cp", str(WORLD), f"s3://{input_bucket}/{key}")

        def uploaded() -> str | None:
            for execution in second.executions(sm_arn):
                described = second.sfn().describe_execution(executionArn=execution["executionArn"])
                if json.loads(described["input"]).get("key") == key:
                    return execution["executionArn"]
            return None

        upload_arn = wait_until(uploaded, 30, "the upload's execution")
        upload_run = _succeeded(second, upload_arn)["name"]
        upload_summary = _summary(second, results_bucket, upload_run)
        assert upload_summary["total"] == _rows(WORLD)
        assert upload_summary["trigger"] == "s3"
        assert f"runs/{upload_run}/forecast.csv" in {
            o["Key"] for o in second.s3().list_objects_v2(Bucket=results_bucket, Prefix=f"runs/{upload_run}/")["Contents"]
        }  # fmt: skip

        # 4. the start API, signed; a bad body is refused before anything runs
        response = second.post_signed("/forecasts", json.dumps({"cities": ["Sydney", "Atlantis"]}))
        assert response.status_code == 200, response.text
        api_run = _succeeded(second, response.json()["executionArn"])["name"]
        api_summary = _summary(second, results_bucket, api_run)
        assert api_summary["total"] == 2
        assert api_summary["trigger"] == "api"
        assert api_summary["by_status"].get("error", 0) >= 1  # Atlantis
        refused = second.post_signed("/forecasts", json.dumps({"cities": ["Perth"], "bogus": 1}))
        assert refused.status_code == 400
        assert refused.json()["message"] == "Invalid request body"
    finally:
        second.stop()
    assert "started by api POST /forecasts" in second.log()
