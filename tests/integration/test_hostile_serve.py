"""The hostile-input corpus through ``raincast serve``'s upload trigger: each case that is a
file is uploaded under incoming/ of the input bucket, as users do, and the execution it
starts is checked. Refused cases: the execution fails with InvalidCityList and the cause
says what is wrong, before any city runs. Accepted ones: it succeeds and the results
bucket's forecast.csv gives each row its outcome, with no cell that starts a formula.

The manifest's ``serve`` surface is every refused file case (they stop in the Prepare step,
so they are cheap) and a representative subset of the accepted ones (each runs the whole
pipeline); devices, pipes and stdin cannot be uploaded and are checked by the CLI tests."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from raincast.sanitize import FORMULA_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sfnstack/tests/fixtures/serve"))
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

import corpus  # noqa: E402 - tests/hostile is not a package
from stack import ServeProcess, wait_until  # noqa: E402

CASES = corpus.cases("serve")


def _bucket(server: ServeProcess, part: str) -> str:
    names = [b["Name"] for b in server.s3().list_buckets()["Buckets"] if part in b["Name"].lower()]
    assert len(names) == 1, names
    return names[0]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Uploads every case, waits for every execution; case name -> what happened."""
    data_dir = tmp_path_factory.mktemp("hostile-serve") / "data"
    paths = [ROOT / "src", ROOT / "layers" / "model" / "python"]
    server = ServeProcess(
        data_dir, ROOT / "template.yaml", "--no-schedule", module="raincast_cli", python_path=paths
    ).start()
    try:
        s3 = server.s3()
        input_bucket, results_bucket = _bucket(server, "input"), _bucket(server, "result")
        sm_arn = server.state_machine_arn("forecast")
        keys = {}
        for case in CASES:
            body = corpus.content(case)
            assert body is not None, case
            key = f"incoming/{case.name}/{corpus.upload_name(case)}"
            s3.put_object(Bucket=input_bucket, Key=key, Body=body)
            keys[key] = case.name

        def started() -> dict[str, str] | None:
            found = {}
            for execution in server.executions(sm_arn):
                described = server.sfn().describe_execution(executionArn=execution["executionArn"])
                key = json.loads(described["input"]).get("key")
                if key in keys:
                    found[keys[key]] = execution["executionArn"]
            return found if len(found) == len(keys) else None

        arns = wait_until(started, 120, "an execution for every upload")
        results: dict[str, dict[str, Any]] = {}
        for name, arn in arns.items():
            described = server.wait_closed(arn, 300)
            result: dict[str, Any] = {"described": described}
            history = server.sfn().get_execution_history(executionArn=arn, maxResults=1000)
            result["map_ran"] = any(e["type"] == "MapRunStarted" for e in history["events"])
            if described["status"] == "SUCCEEDED":
                body = s3.get_object(
                    Bucket=results_bucket, Key=f"runs/{described['name']}/forecast.csv"
                )["Body"].read()
                result["rows"] = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
            results[name] = result
        return results
    finally:
        server.stop()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_upload(case: corpus.Case, outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes[case.name]
    described = outcome["described"]
    if case.refused:
        assert described["status"] == "FAILED", described
        assert described["error"] == "InvalidCityList"
        assert case.refused in described["cause"], described["cause"]
        assert not outcome["map_ran"]  # refused before any city ran
        return
    assert described["status"] == "SUCCEEDED", described
    rows = outcome["rows"]
    assert len(rows) == len(case.rows)
    for row, (_, _, expected) in zip(rows, case.rows, strict=True):
        if expected == "ok":
            assert row["status"] == "ok" and 0 <= float(row["p_rain_tomorrow"]) <= 1, row
        else:
            assert row["status"] == "error" and row["reason"].startswith(expected), row
        for column in ("city", "place", "country", "reason"):
            assert not row[column].startswith(FORMULA_PREFIXES), (column, row[column])
