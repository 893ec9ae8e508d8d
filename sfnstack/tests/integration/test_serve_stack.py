"""``sfnstack serve`` end to end, as a separate process, driven only by real clients: the aws
CLI, boto3 and signed HTTP requests. Uses the small fixture stack in tests/fixtures/serve
(same triggers as the real template: upload rule, schedule, IAM-authorised start API)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "serve"))

from stack import FIXTURE_TEMPLATE, ServeProcess, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    server = ServeProcess(data_dir, *()).start()
    yield server
    server.stop()


def _bucket(stack: ServeProcess, logical_part: str) -> str:
    names = [b["Name"] for b in stack.s3().list_buckets()["Buckets"]]
    matching = [n for n in names if logical_part in n.lower()]
    assert len(matching) == 1, f"expected one bucket with {logical_part!r}: {names}"
    return matching[0]


def _inputs(stack: ServeProcess, sm_arn: str) -> list[tuple[str, dict[str, Any]]]:
    sfn = stack.sfn()
    found = []
    for execution in stack.executions(sm_arn):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        found.append((execution["executionArn"], json.loads(described["input"])))
    return found


def _executions_for_key(stack: ServeProcess, sm_arn: str, key: str) -> list[str]:
    return [arn for arn, document in _inputs(stack, sm_arn) if document.get("key") == key]


def test_upload_with_aws_cli_starts_one_execution_with_the_rules_input(
    stack: ServeProcess, tmp_path: Path
) -> None:
    input_bucket, results_bucket = _bucket(stack, "input"), _bucket(stack, "result")
    sm_arn = stack.state_machine_arn()
    cities = tmp_path / "cities.txt"
    cities.write_text("Sydney\nPerth\n?Atlantis\n", encoding="utf-8")
    key = f"incoming/{uuid.uuid4().hex}.txt"

    stack.aws("s3", "cp", str(cities), f"s3://{input_bucket}/{key}")

    arns = wait_until(lambda: _executions_for_key(stack, sm_arn, key), 30, "the upload's execution")
    assert len(arns) == 1
    described = stack.wait_closed(arns[0])
    # exactly what the template's InputTransformer makes of an S3 "Object Created" event
    assert json.loads(described["input"]) == {"bucket": input_bucket, "key": key, "trigger": "s3"}
    assert described["status"] == "SUCCEEDED", described
    run_id = described["name"]
    summary = json.loads(
        stack.s3()
        .get_object(Bucket=results_bucket, Key=f"runs/{run_id}/summary.json")["Body"]
        .read()
    )
    assert summary["counts"] == {"ok": 2, "error": 1}
    assert f"started by s3 s3://{input_bucket}/{key}" in stack.log()
    assert "3 cities: ok 2, error 1" in stack.log()


def test_multipart_upload_triggers_once_and_outside_prefix_not_at_all(
    stack: ServeProcess, tmp_path: Path
) -> None:
    input_bucket = _bucket(stack, "input")
    sm_arn = stack.state_machine_arn()
    big = tmp_path / "big.txt"
    # > 8 MB: the aws CLI switches to a multipart upload (CompleteMultipartUpload event)
    big.write_bytes(b"Sydney\n" + b"\n" * (9 * 1024 * 1024))
    key = f"incoming/{uuid.uuid4().hex}-big.txt"
    stack.aws("s3", "cp", str(big), f"s3://{input_bucket}/{key}")
    head = stack.s3().head_object(Bucket=input_bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2"), "expected a multipart ETag"
    assert len(_executions_for_key(stack, sm_arn, key)) == 1

    other = f"archive/{uuid.uuid4().hex}.txt"
    stack.aws("s3", "cp", str(big), f"s3://{input_bucket}/{other}")
    assert _executions_for_key(stack, sm_arn, other) == []
    # the bytes survive the round trip, through the CLI and through a presigned URL
    downloaded = tmp_path / "back.txt"
    stack.aws("s3", "cp", f"s3://{input_bucket}/{key}", str(downloaded))
    assert downloaded.read_bytes() == big.read_bytes()
    url = stack.s3().generate_presigned_url(
        "get_object", Params={"Bucket": input_bucket, "Key": key}, ExpiresIn=300
    )
    assert requests.get(url, timeout=60).content == big.read_bytes()


def test_every_upload_is_a_change_that_starts_an_execution_even_with_the_same_content(
    stack: ServeProcess, tmp_path: Path
) -> None:
    input_bucket = _bucket(stack, "input")
    sm_arn = stack.state_machine_arn()
    cities = tmp_path / "cities.json"
    cities.write_text(json.dumps(["Darwin"]), encoding="utf-8")
    key = f"incoming/{uuid.uuid4().hex}.json"
    s3 = stack.s3()
    s3.upload_file(str(cities), input_bucket, key)
    # the same content again (after a crash, say): a new change of the key, so it runs
    # again, as on AWS, where every PutObject emits its own event
    s3.upload_file(str(cities), input_bucket, key)
    arns = wait_until(
        lambda: (found := _executions_for_key(stack, sm_arn, key)) and len(found) == 2 and found,
        30,
        "two executions",
    )
    assert len(arns) == 2


def test_stepfunctions_cli_start_describe_history_and_errors(stack: ServeProcess) -> None:
    sm_arn = stack.state_machine_arn()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    request = json.dumps({"cities": ["Sydney", "?Nowhere"]})
    started = stack.aws_json(
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        sm_arn,
        "--name",
        name,
        "--input",
        request,
    )
    assert started["executionArn"].endswith(f":{name}")
    assert isinstance(started["startDate"], float)  # epoch seconds, as AWS sends them

    def closed() -> dict[str, Any] | None:
        described = stack.aws_json(
            "stepfunctions", "describe-execution", "--execution-arn", started["executionArn"]
        )
        return None if described["status"] == "RUNNING" else described

    described = wait_until(closed, 60, "describe-execution to report the end")
    assert described["status"] == "SUCCEEDED"
    assert described["input"] == request
    assert json.loads(described["output"])["counts"] == {"ok": 1, "error": 1}

    # a reused name with another input is refused, as on AWS
    refused = stack.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", sm_arn, "--name", name,
        "--input", json.dumps({"cities": ["Perth"]}), check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "ExecutionAlreadyExists" in refused.stderr

    sfn = stack.sfn()
    history = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
    assert history[0]["type"] == "ExecutionStarted"
    assert history[-1]["type"] == "ExecutionSucceeded"
    reverse = sfn.get_execution_history(
        executionArn=started["executionArn"], reverseOrder=True, maxResults=2
    )
    assert reverse["events"][0]["type"] == "ExecutionSucceeded"
    assert "nextToken" in reverse
    paged = []
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=started["executionArn"], PaginationConfig={"PageSize": 1}
    ):
        paged.extend(page["events"])
    assert [e["id"] for e in paged] == [e["id"] for e in history]

    succeeded = sfn.list_executions(stateMachineArn=sm_arn, statusFilter="SUCCEEDED")["executions"]
    assert started["executionArn"] in {e["executionArn"] for e in succeeded}

    for call, code in [
        (lambda: sfn.describe_execution(executionArn=sm_arn.replace(":stateMachine:", ":execution:") + ":nope"), "ExecutionDoesNotExist"),
        (lambda: sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:bogus"), "InvalidArn"),
        (lambda: sfn.start_execution(stateMachineArn=sm_arn + "-missing"), "StateMachineDoesNotExist"),
        (lambda: sfn.start_execution(stateMachineArn=sm_arn, input="{not json"), "InvalidExecutionInput"),
        (lambda: sfn.start_execution(stateMachineArn=sm_arn, name="bad name"), "InvalidName"),
    ]:  # fmt: skip
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    definition = sfn.describe_state_machine(stateMachineArn=sm_arn)
    assert json.loads(definition["definition"])["StartAt"]

    # a service this endpoint does not offer gets a clear answer, not an S3 error
    other = stack.aws("dynamodb", "list-tables", "--endpoint-url", stack.endpoint, check=False)
    assert other.returncode != 0
    assert "offers S3 and Step Functions" in other.stderr


def test_same_name_and_input_while_running_returns_the_same_execution_and_stop_aborts(
    stack: ServeProcess,
) -> None:
    sfn = stack.sfn()
    sm_arn = stack.state_machine_arn()
    name = f"slow-{uuid.uuid4().hex[:8]}"
    request = json.dumps({"cities": ["Sydney"], "sleep": 3})
    first = sfn.start_execution(stateMachineArn=sm_arn, name=name, input=request)
    again = sfn.start_execution(stateMachineArn=sm_arn, name=name, input=request)
    assert again["executionArn"] == first["executionArn"]
    assert again["startDate"] == first["startDate"]
    running = sfn.list_executions(stateMachineArn=sm_arn, statusFilter="RUNNING")["executions"]
    assert first["executionArn"] in {e["executionArn"] for e in running}
    sfn.stop_execution(executionArn=first["executionArn"], error="Manual", cause="test stop")
    described = stack.wait_closed(first["executionArn"])
    assert described["status"] == "ABORTED"


def test_a_stopped_execution_is_redriven_from_the_state_it_stopped_in(
    stack: ServeProcess,
) -> None:
    sfn = stack.sfn()
    sm_arn = stack.state_machine_arn()
    request = json.dumps({"cities": ["Sydney", "?Atlantis"], "sleep": 3})
    run = sfn.start_execution(
        stateMachineArn=sm_arn, name=f"r-{uuid.uuid4().hex[:8]}", input=request
    )
    arn = run["executionArn"]
    wait_until(
        lambda: any(
            e["type"] == "TaskStateEntered"
            for e in sfn.get_execution_history(executionArn=arn)["events"]
        ),
        30,
        "the task to start",
    )
    sfn.stop_execution(executionArn=arn, error="Operator.Stop", cause="stopped by the test")
    stopped = stack.wait_closed(arn)
    assert stopped["status"] == "ABORTED"
    assert (stopped["redriveStatus"], stopped["redriveCount"]) == ("REDRIVABLE", 0)
    aborted = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"][0]
    assert aborted["type"] == "ExecutionAborted"
    assert aborted["executionAbortedEventDetails"] == {
        "error": "Operator.Stop",
        "cause": "stopped by the test",
    }
    last_id = aborted["id"]
    assert arn in {
        e["executionArn"]
        for e in sfn.list_executions(stateMachineArn=sm_arn, redriveFilter="NOT_REDRIVEN")[
            "executions"
        ]
    }

    redriven = stack.aws_json("stepfunctions", "redrive-execution", "--execution-arn", arn)
    assert redriven["redriveDate"]
    done = stack.wait_closed(arn)
    assert done["status"] == "SUCCEEDED", done
    assert done["redriveCount"] == 1 and "redriveDate" in done
    assert done["redriveStatus"] == "NOT_REDRIVABLE"
    assert "SUCCEEDED" in done["redriveStatusReason"]
    assert json.loads(done["output"])["counts"] == {"ok": 1, "error": 1}
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1))
    kinds = [e["type"] for e in events]
    assert kinds[last_id - 1 : last_id + 2] == [
        "ExecutionAborted",
        "ExecutionRedriven",
        "TaskStateEntered",
    ]
    assert kinds.count("ExecutionStarted") == 1 and kinds[-1] == "ExecutionSucceeded"
    assert events[last_id]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    redriven_list = sfn.list_executions(stateMachineArn=sm_arn, redriveFilter="REDRIVEN")
    assert [e["executionArn"] for e in redriven_list["executions"]] == [arn]
    assert redriven_list["executions"][0]["redriveCount"] == 1
    assert arn not in {
        e["executionArn"]
        for e in sfn.list_executions(stateMachineArn=sm_arn, redriveFilter="NOT_REDRIVEN")[
            "executions"
        ]
    }
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=arn)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    with pytest.raises(ClientError) as bad_filter:
        sfn.list_executions(stateMachineArn=sm_arn, redriveFilter="SOMETIMES")
    assert bad_filter.value.response["Error"]["Code"] == "ValidationException"


def test_start_api_validates_and_starts(stack: ServeProcess) -> None:
    response = stack.post_signed("/forecasts", json.dumps({"cities": ["Brisbane", "Cairns"]}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"executionArn", "startDate"}
    described = stack.wait_closed(body["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["input"]) == {"cities": ["Brisbane", "Cairns"]}
    assert "started by api POST /forecasts" in stack.log()

    # the stage-prefixed URL, as on AWS, works too
    staged = stack.post_signed("/v1/forecasts", json.dumps({"cities": ["Hobart"]}))
    assert staged.status_code == 200, staged.text

    bad = stack.post_signed("/forecasts", json.dumps({"cities": []}))
    assert bad.status_code == 400
    assert bad.json()["message"] == "Invalid request body"
    assert any("cities" in problem for problem in bad.json()["errors"])
    assert stack.post_signed("/forecasts", "not json").status_code == 400

    unsigned = requests.post(stack.api + "/forecasts", json={"cities": ["Perth"]}, timeout=30)
    assert unsigned.status_code == 403
    assert unsigned.json() == {"message": "Missing Authentication Token"}


def test_schedule_fires_with_the_targets_input_then_restart_keeps_everything(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = ServeProcess(
        data_dir,
        FIXTURE_TEMPLATE,
        "--schedule-expression",
        "rate(2 seconds)",
        "--grace-seconds",
        "0",
    )
    server.start()
    try:
        s3 = server.s3()
        input_bucket, results_bucket = _bucket(server, "input"), _bucket(server, "result")
        s3.put_object(
            Bucket=input_bucket,
            Key="lists/scheduled.json",
            Body=json.dumps(["Alice Springs"]).encode(),
        )
        sm_arn = server.state_machine_arn()

        def scheduled_success() -> str | None:
            for arn, document in _inputs(server, sm_arn):
                if document.get("trigger") == "schedule":
                    described = server.sfn().describe_execution(executionArn=arn)
                    if described["status"] == "SUCCEEDED":
                        return arn
            return None

        scheduled_arn = wait_until(
            scheduled_success, 60, "a scheduled execution to succeed", interval=0.5
        )
        described = server.sfn().describe_execution(executionArn=scheduled_arn)
        assert json.loads(described["input"]) == {
            "bucket": input_bucket, "key": "lists/scheduled.json", "trigger": "schedule"
        }  # fmt: skip
        assert "started by schedule ForecastSchedule (rate(2 seconds))" in server.log()

        key = "incoming/restart.txt"
        s3.put_object(Bucket=input_bucket, Key=key, Body=b"Melbourne\n")
        upload_arn = wait_until(
            lambda: _executions_for_key(server, sm_arn, key), 30, "upload execution"
        )[0]
        assert server.wait_closed(upload_arn)["status"] == "SUCCEEDED"
        # objects with awkward keys, and deletions (one by one and in bulk), persist too
        odd_key = "archive/a b+c%20ü ?x=1#y.txt"
        s3.put_object(Bucket=input_bucket, Key=odd_key, Body=b"odd", ContentType="text/plain")
        odd_etag = s3.head_object(Bucket=input_bucket, Key=odd_key)["ETag"]
        for name in ("gone-1", "gone-2", "gone-3"):
            s3.put_object(Bucket=input_bucket, Key=f"archive/{name}", Body=b"x")
        server.aws("s3", "rm", f"s3://{input_bucket}/archive/gone-1")
        s3.delete_objects(
            Bucket=input_bucket,
            Delete={"Objects": [{"Key": "archive/gone-2"}, {"Key": "archive/gone-3"}]},
        )
        slow = server.sfn().start_execution(
            stateMachineArn=sm_arn,
            name="slow-at-shutdown",
            input=json.dumps({"cities": ["Perth"], "sleep": 20}),
        )
    finally:
        assert server.stop() == 0
    log = server.log()
    assert "ABORTED (server stopping)" in log

    restarted = ServeProcess(data_dir, FIXTURE_TEMPLATE, "--no-schedule")
    restarted.start()
    try:
        sfn, s3 = restarted.sfn(), restarted.s3()
        assert sfn.describe_execution(executionArn=upload_arn)["status"] == "SUCCEEDED"
        assert sfn.describe_execution(executionArn=scheduled_arn)["status"] == "SUCCEEDED"
        aborted = sfn.describe_execution(executionArn=slow["executionArn"])
        assert aborted["status"] == "ABORTED"
        history = sfn.get_execution_history(executionArn=upload_arn)["events"]
        assert history[-1]["type"] == "ExecutionSucceeded"
        run_id = upload_arn.rsplit(":", 1)[-1]
        summary = json.loads(
            s3.get_object(Bucket=results_bucket, Key=f"runs/{run_id}/summary.json")["Body"].read()
        )
        assert summary["counts"] == {"ok": 1, "error": 0}
        before = len(server_executions := restarted.executions(sm_arn))
        assert before == len({e["executionArn"] for e in server_executions})
        odd = s3.get_object(Bucket=input_bucket, Key=odd_key)
        assert (odd["Body"].read(), odd["ETag"], odd["ContentType"]) == (
            b"odd",
            odd_etag,
            "text/plain",
        )
        archived = s3.list_objects_v2(Bucket=input_bucket, Prefix="archive/")["Contents"]
        assert [o["Key"] for o in archived] == [odd_key]
        # uploading the same content again after the restart is a new change: it runs
        s3.put_object(Bucket=input_bucket, Key=key, Body=b"Melbourne\n")
        wait_until(
            lambda: len(_executions_for_key(restarted, sm_arn, key)) == 2, 30, "the re-upload"
        )
        # and no schedule runs with --no-schedule
        time.sleep(3)
        assert len(restarted.executions(sm_arn)) == before + 1
    finally:
        restarted.stop()


def test_a_second_server_on_the_same_data_dir_is_refused(stack: ServeProcess) -> None:
    import subprocess

    from stack import free_port_pair

    second = subprocess.run(
        [sys.executable, "-m", "sfnstack", "serve", "--template", str(FIXTURE_TEMPLATE),
         "--data-dir", str(stack.data_dir), "--port-base", str(free_port_pair()), "--no-schedule"],
        env=stack.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert second.returncode == 2, second.stderr
    assert "is in use by another sfnstack serve (pid" in second.stderr
    assert "Traceback" not in second.stderr
    stack.sfn().list_state_machines()  # the first one is unharmed


def test_describe_state_machine_without_logging_or_tracing_in_the_template(
    stack: ServeProcess,
) -> None:
    described = stack.sfn().describe_state_machine(stateMachineArn=stack.state_machine_arn())
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert described["tracingConfiguration"] == {"enabled": False}


def test_a_killed_server_restarts_with_every_object_it_acknowledged(tmp_path: Path) -> None:
    """SIGKILL right after the answers (no shutdown, no sync): the next server restores
    every object and deletion it acknowledged, and folds what it read into the object
    files behind its start."""
    import signal

    data_dir = tmp_path / "data"
    server = ServeProcess(data_dir, FIXTURE_TEMPLATE, "--no-schedule").start()
    try:
        s3 = server.s3()
        bucket = _bucket(server, "result")
        for index in range(30):
            s3.put_object(Bucket=bucket, Key=f"runs/{index}.json", Body=b"%d" % index)
        s3.put_object(Bucket=bucket, Key="runs/0.json", Body=b"again", ContentType="text/plain")
        s3.delete_object(Bucket=bucket, Key="runs/1.json")
    finally:
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
    assert list((data_dir / "s3-journal").glob("*.log"))  # not folded: the journal has it

    restarted = ServeProcess(data_dir, FIXTURE_TEMPLATE, "--no-schedule").start()
    try:
        s3 = restarted.s3()
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="runs/")["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted(
            f"runs/{i}.json" for i in range(30) if i != 1
        )
        again = s3.get_object(Bucket=bucket, Key="runs/0.json")
        assert (again["Body"].read(), again["ContentType"]) == (b"again", "text/plain")
        assert s3.get_object(Bucket=bucket, Key="runs/29.json")["Body"].read() == b"29"
        wait_until(
            lambda: not list((data_dir / "s3-journal").glob("000001.log")),
            30,
            "the old segment to be folded",
        )
    finally:
        assert restarted.stop() == 0
    objects = list((data_dir / "s3" / bucket / "objects").glob("*.data"))
    assert len(objects) == 29
