"""``raincast serve`` on the real template: each upload forecasts the version that fired
its event (two quick uploads to one key are two different forecasts), and a run id
belongs to the first request that used it (the same request again re-runs it, another
request is refused and touches nothing)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sfnstack/tests/fixtures/serve"))

from stack import ServeProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

pytestmark = pytest.mark.skipif(not TEMPLATE.exists(), reason="the pipeline is not here")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    paths = [ROOT / "src", ROOT / "layers" / "model" / "python"]
    data_dir = tmp_path_factory.mktemp("uploads") / "data"
    process = ServeProcess(
        data_dir, TEMPLATE, "--no-schedule", module="raincast_cli", python_path=paths
    ).start()
    yield process
    process.stop()


def _bucket(server: ServeProcess, part: str) -> str:
    return next(b["Name"] for b in server.s3().list_buckets()["Buckets"] if part in b["Name"])


def _summary(server: ServeProcess, run_id: str) -> dict[str, Any]:
    body = server.s3().get_object(
        Bucket=_bucket(server, "result"), Key=f"runs/{run_id}/summary.json"
    )
    return json.loads(body["Body"].read())


def _executions_for(server: ServeProcess, key: str) -> list[dict[str, Any]]:
    sfn = server.sfn()
    found = []
    for execution in server.executions(server.state_machine_arn("forecast")):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described["input"]).get("key") == key:
            found.append(described)
    return found


def test_two_quick_uploads_to_one_key_forecast_each_version(server: ServeProcess) -> None:
    s3 = server.s3()
    input_bucket = _bucket(server, "input")
    key = f"incoming/{uuid.uuid4().hex[:8]}.txt"
    first = s3.put_object(Bucket=input_bucket, Key=key, Body=b"Sydney\nPerth\n")["VersionId"]
    second = s3.put_object(Bucket=input_bucket, Key=key, Body=b"Hobart\nDarwin\nCairns\n")[
        "VersionId"
    ]
    assert first != second
    executions = wait_until(
        lambda: (found := _executions_for(server, key)) and len(found) == 2 and found,
        60,
        "two executions",
    )
    by_version = {json.loads(e["input"])["version_id"]: e for e in executions}
    assert set(by_version) == {first, second}
    totals = {}
    for version, execution in by_version.items():
        closed = server.wait_closed(execution["executionArn"], timeout=240)
        assert closed["status"] == "SUCCEEDED", closed
        summary = _summary(server, closed["name"])
        assert summary["source"] == {"bucket": input_bucket, "key": key, "version_id": version}
        totals[version] = summary["total"]
    assert totals == {first: 2, second: 3}


def test_a_run_id_belongs_to_its_first_request(server: ServeProcess) -> None:
    sfn = server.sfn()
    sm_arn = server.state_machine_arn("forecast")
    run_id = f"shared-{uuid.uuid4().hex[:8]}"
    requests = [
        {"cities": ["Sydney", "Perth", "Hobart"], "run_id": run_id},
        # another caller, at the same time, with other cities under the same run id
        {"cities": ["Darwin"], "run_id": run_id},
    ]
    started = [
        sfn.start_execution(stateMachineArn=sm_arn, input=json.dumps(r))["executionArn"]
        for r in requests
    ]
    closed = [server.wait_closed(arn, timeout=240) for arn in started]
    # whichever Prepare claimed the run id first owns it; the other is refused
    assert sorted(c["status"] for c in closed) == ["FAILED", "SUCCEEDED"], closed
    winner = next(i for i, c in enumerate(closed) if c["status"] == "SUCCEEDED")
    refused = closed[1 - winner]
    assert refused["error"] == "RunIdInUse"
    assert f"run id '{run_id}' already holds the results of a different request" in refused["cause"]
    assert closed[winner]["name"] in refused["cause"]  # it names the owner
    summary = _summary(server, run_id)
    assert summary["total"] == len(requests[winner]["cities"])
    owner_request = requests[winner]

    # the same request again (a retry, a second caller) re-runs it: same results
    again = sfn.start_execution(stateMachineArn=sm_arn, input=json.dumps(owner_request))
    assert server.wait_closed(again["executionArn"], timeout=240)["status"] == "SUCCEEDED"
    assert _summary(server, run_id)["by_status"] == summary["by_status"]
    batches = server.s3().list_objects_v2(
        Bucket=_bucket(server, "result"), Prefix=f"runs/{run_id}/batches/"
    )
    stored = [
        line
        for item in batches["Contents"]
        for line in server.s3()
        .get_object(Bucket=_bucket(server, "result"), Key=item["Key"])["Body"]
        .read()
        .splitlines()
        if line.strip()
    ]
    assert len(stored) == len(owner_request["cities"])  # one document per city, no leftovers


def test_describe_state_machine_reports_the_templates_logging_and_tracing(
    server: ServeProcess,
) -> None:
    described = server.sfn().describe_state_machine(
        stateMachineArn=server.state_machine_arn("forecast")
    )
    assert described["type"] == "STANDARD"
    assert described["tracingConfiguration"] == {"enabled": True}
    logging_ = described["loggingConfiguration"]
    assert (logging_["level"], logging_["includeExecutionData"]) == ("ERROR", False)
    [destination] = logging_["destinations"]
    assert destination["cloudWatchLogsLogGroup"]["logGroupArn"].startswith("arn:aws:logs:")
