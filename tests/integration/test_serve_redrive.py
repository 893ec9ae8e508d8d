"""Kill test: ``raincast serve`` SIGKILLed in the middle of a forecast run (the real
template.yaml), restarted on the same data dir: the execution is shown ABORTED, is redriven
with boto3 and ends SUCCEEDED with every city forecast, and the batches finished before
the kill are not run again (their result objects keep their first write)."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sfnstack/tests/fixtures/serve"))

from stack import ServeProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
AUSTRALIA = ROOT / "examples" / "cities-australia.csv"
BATCH = 25  # the Map's MaxItemsPerBatch

pytestmark = pytest.mark.skipif(not TEMPLATE.exists(), reason="the pipeline is not here")


def _serve(data_dir: Path, *args: str) -> ServeProcess:
    paths = [ROOT / "src", ROOT / "layers" / "model" / "python"]
    return ServeProcess(data_dir, TEMPLATE, *args, module="raincast_cli", python_path=paths)


def _city_list(copies: int) -> tuple[bytes, int]:
    rows = list(csv.DictReader(io.StringIO(AUSTRALIA.read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["city", "country"], lineterminator="\n")
    writer.writeheader()
    for _ in range(copies):
        writer.writerows({"city": r["city"], "country": r["country"]} for r in rows)
    return out.getvalue().encode(), copies * len(rows)


def _batch_objects(server: ServeProcess, bucket: str, run_id: str) -> dict[str, Any]:
    """The run's stored batch objects (ResultLayout batch, the default): key -> LastModified."""
    found: dict[str, Any] = {}
    paginator = server.s3().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"runs/{run_id}/batches/"):
        found.update({o["Key"]: o["LastModified"] for o in page.get("Contents", [])})
    return found


def test_serve_killed_mid_run_then_redriven_finishes_without_redoing_done_cities(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    # 960 cities: 40 batches, one at a time (room for the kill to land mid-run on a busy
    # machine: the poll below may be late while batches keep being stored)
    body, total = _city_list(copies=32)
    run_id = f"kill-{uuid.uuid4().hex[:8]}"

    first = _serve(data_dir, "--no-schedule", "--workers", "1").start()
    killed = False
    try:
        buckets = [b["Name"] for b in first.s3().list_buckets()["Buckets"]]
        input_bucket = next(b for b in buckets if "input" in b)
        results_bucket = next(b for b in buckets if "result" in b)
        first.s3().put_object(Bucket=input_bucket, Key="lists/big.csv", Body=body)
        sm_arn = first.state_machine_arn("forecast")
        arn = first.sfn().start_execution(
            stateMachineArn=sm_arn,
            name=run_id,
            input=json.dumps({"bucket": input_bucket, "key": "lists/big.csv"}),
        )["executionArn"]
        wait_until(
            lambda: len(_batch_objects(first, results_bucket, run_id)) >= 3,
            240,
            "three batches to be stored",
            interval=0.05,
        )
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(30)
        killed = True
    finally:
        if not killed:
            first.stop()
    first._log.close()

    second = _serve(data_dir, "--no-schedule", "--workers", "1").start()
    try:
        sfn = second.sfn()
        described = sfn.describe_execution(executionArn=arn)
        assert described["status"] == "ABORTED", described
        assert described["redriveStatus"] == "REDRIVABLE"
        assert "were running when the server stopped" in second.log()
        before = _batch_objects(second, results_bucket, run_id)
        batches = -(-total // BATCH)
        assert 3 <= len(before) < batches, "the kill came too late to test anything"

        sfn.redrive_execution(executionArn=arn)
        done = second.wait_closed(arn, timeout=600)
        assert done["status"] == "SUCCEEDED", f"{done}\n{second.log()[-3000:]}"
        assert done["redriveCount"] == 1

        summary = json.loads(
            second.s3()
            .get_object(Bucket=results_bucket, Key=f"runs/{run_id}/summary.json")["Body"]
            .read()
        )
        assert summary["total"] == total
        assert summary["by_status"] == {"ok": total}, summary
        after = _batch_objects(second, results_bucket, run_id)
        assert len(after) == batches

        # the journal said how many batches were done; those were not run again
        match = re.search(
            rf"execution {run_id} redriven from ForecastCities \((\d+) iter", second.log()
        )
        assert match, second.log()[-3000:]
        done_batches = int(match.group(1))
        assert done_batches >= 2
        untouched = [key for key, modified in before.items() if after[key] == modified]
        assert len(untouched) >= done_batches, (len(untouched), done_batches)
        # and at most the batch in flight at the kill was redone among the ones stored
        assert len(before) - len(untouched) <= 1
    finally:
        second.stop()
