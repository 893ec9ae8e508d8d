"""End to end through ``LocalRuntime``: the fixture template's state machines running the
fixture handlers in worker processes against the embedded S3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sfnstack.local import LocalRuntime

FIXTURE = Path(__file__).parents[1] / "fixtures" / "runtime" / "template.yaml"
REGION_ACCOUNT = "us-east-1:123456789012"
BUCKET = "local-data-dev"


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(FIXTURE, workers=2) as rt:
        yield rt


def test_resources_of_the_template(runtime: LocalRuntime) -> None:
    assert runtime.buckets == {"DataBucket": BUCKET, "ScratchBucket": "local-scratchbucket"}
    assert set(runtime.state_machines) == {
        "MapStateMachine",
        "DistributedStateMachine",
        "InlineStateMachine",
    }
    assert "S3CopyFunction" in runtime.functions
    names = {b["Name"] for b in runtime.s3_client().list_buckets()["Buckets"]}
    assert {BUCKET, "local-scratchbucket"} <= names


def test_inline_map_of_lambda_tasks_reading_and_writing_s3(runtime: LocalRuntime) -> None:
    s3 = runtime.s3_client()
    keys = [f"k{i}.json" for i in range(6)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=BUCKET, Key=f"inputs/{key}", Body=json.dumps({"value": i}))
    execution = runtime.start_execution("fixture-map", {"keys": keys}, name="map-run")
    assert execution.arn == f"arn:aws:states:{REGION_ACCOUNT}:execution:fixture-map:map-run"
    result = execution.wait(timeout=120)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["bucket"] == BUCKET
    assert result.output["copied"] == [{"key": k, "value": 2 * i} for i, k in enumerate(keys)]
    # arn:aws:states:::lambda:invoke, shaped like AWS's result (StatusCode 200, Payload)
    assert result.output["doubled"] == {"value": 0, "status": 200}
    for i, key in enumerate(keys):
        body = s3.get_object(Bucket=BUCKET, Key=f"outputs/{key}")["Body"].read()
        assert json.loads(body) == {"key": key, "value": 2 * i}
    types = [event["type"] for event in execution.history]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "TaskSucceeded" in types or "LambdaFunctionSucceeded" in types


def run_distributed(runtime: LocalRuntime, key: str) -> list[dict]:
    """Runs the fixture's Distributed Map over ten items; the batch outputs ResultWriter
    wrote, read back from S3."""
    s3 = runtime.s3_client()
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps([{"value": i} for i in range(10)]))
    result = runtime.execute("DistributedStateMachine", {"itemsKey": key}, timeout=120)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    details = result.output["ResultWriterDetails"]
    assert details["Bucket"] == BUCKET
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=details["Key"])["Body"].read())
    written = manifest["ResultFiles"]["SUCCEEDED"]
    assert written, manifest
    outputs = []
    for entry in written:
        for child in json.loads(s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()):
            outputs.append(json.loads(child["Output"]))
    return outputs


def test_distributed_map_with_item_reader_batcher_and_result_writer(runtime: LocalRuntime) -> None:
    outputs = run_distributed(runtime, "items/ten.json")
    assert sorted(o["count"] for o in outputs) == [1, 3, 3, 3]  # MaxItemsPerBatch 3
    assert sum(o["total"] for o in outputs) == sum(range(10))


def test_batch_input_reaches_the_batch_under_its_own_key(runtime: LocalRuntime) -> None:
    outputs = run_distributed(runtime, "items/ten-again.json")
    assert {o["label"] for o in outputs} == {"L"}


def test_a_function_error_is_caught_by_its_name(runtime: LocalRuntime) -> None:
    result = runtime.execute("InlineStateMachine", {"why": "catch me"}, timeout=60)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    caught = result.output["caught"]
    assert caught["Error"] == "FixtureError"
    cause = json.loads(caught["Cause"])
    assert cause["errorType"] == "FixtureError"
    assert cause["errorMessage"] == "failing on purpose: catch me"


def test_a_lambda_past_its_timeout_fails_the_task_with_a_timeout(runtime: LocalRuntime) -> None:
    arn = runtime.functions["ShortFunction"].arn
    runtime.add_state_machine(
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": arn, "End": True}}},
        name="slow",
    )
    started = time.monotonic()
    result = runtime.execute("slow", {"seconds": 30}, timeout=60)
    assert time.monotonic() - started < 25
    assert result.status == "FAILED"
    assert result.error in ("States.Timeout", "Sandbox.Timedout")


def test_concurrent_executions_and_stop(runtime: LocalRuntime) -> None:
    runtime.add_state_machine(
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}},
        name="waiter",
    )
    first = runtime.start_execution("waiter", {"n": 1})
    second = runtime.start_execution("waiter", {"n": 2})
    assert first.arn != second.arn
    assert first.status == second.status == "RUNNING"
    assert first.input == {"n": 1}
    first.stop(error="Stopped.ByTest", cause="the test stopped it")
    stopped = first.wait(timeout=30)
    assert stopped.status == "ABORTED"
    assert stopped.error == "Stopped.ByTest" and stopped.cause == "the test stopped it"
    assert second.status == "RUNNING"  # the other execution is unaffected
    second.stop()
    assert second.wait(timeout=30).status == "ABORTED"
    assert runtime.execution(first.arn) is first


def test_unknown_state_machine(runtime: LocalRuntime) -> None:
    with pytest.raises(KeyError, match="no state machine 'Nope'"):
        runtime.start_execution("Nope", {})


def test_an_existing_s3_endpoint_parameters_and_env_overrides(tmp_path: Path) -> None:
    """What `sfnstack serve` does: its own S3 endpoint, handed to the runtime by URL."""
    from sfnstack.embedded_s3 import LocalS3

    with LocalS3() as s3:
        with LocalRuntime(
            FIXTURE,
            s3_endpoint_url=s3.endpoint_url,
            workers=1,
            parameter_overrides={"Stage": "prod", "Greeting": "hi"},
            env_overrides={"ToolsFunction": {"EXTRA": "x"}},
            stack_name="other",
            log_dir=tmp_path,
        ) as rt:
            assert rt.s3_endpoint_url == s3.endpoint_url
            names = {b["Name"] for b in s3.client().list_buckets()["Buckets"]}
            assert "other-data-prod" in names  # the runtime created its buckets there
            described = rt.invoke("ToolsFunction", {})
            assert described["env"]["AWS_ENDPOINT_URL"] == s3.endpoint_url
            assert described["env"]["DATA_BUCKET"] == "other-data-prod"
            assert described["env"]["GREETING"] == "hi"
            assert described["env"]["MODE"] == "strict"
            assert described["env"]["EXTRA"] == "x"
            assert described["function_name"] == "other-ToolsFunction"
        assert (tmp_path / "other-ToolsFunction.log").exists()  # a given log dir is kept
