"""Map state: inline concurrency, ItemReader/ItemBatcher/ResultWriter (S3 via moto),
tolerated failures."""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sfnstack.asl import StateMachine
from sfnstack.services import LambdaFunctionError, Services

from sfnstack import cooperative

FN = "arn:aws:lambda:us-east-1:000000000000:function:"
BUCKET = "data"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def distributed(processor_states: dict[str, Any], **fields: Any) -> StateMachine:
    start = next(iter(processor_states))
    return StateMachine(
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": start,
                        "States": processor_states,
                    },
                    "End": True,
                    **fields,
                }
            },
        },
        name="Fanout",
    )


PASS = {"P": {"Type": "Pass", "End": True}}


def test_inline_map_respects_max_concurrency_and_keeps_order() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(function: str, payload: Any) -> Any:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        cooperative.sleep(0.01)  # lets the other iterations run, as a Lambda call does
        with lock:
            active -= 1
        return payload["v"] * 10

    sm = StateMachine(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 3,
                    "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                    "ItemProcessor": {
                        "StartAt": "T",
                        "States": {"T": {"Type": "Task", "Resource": FN + "w", "End": True}},
                    },
                    "ResultPath": "$.out",
                    "End": True,
                }
            },
        }
    )
    result = sm.execute(
        {"items": list(range(12))}, services=Services(invoke_lambda=work, map_workers=8)
    )
    assert result.output["out"] == [i * 10 for i in range(12)]
    assert 1 < peak <= 3
    iteration_events = [e for e in result.history if e["type"] == "MapIterationSucceeded"]
    assert sorted(
        e["mapIterationSucceededEventDetails"]["index"] for e in iteration_events
    ) == list(range(12))


def test_inline_map_failure_fails_the_state_with_the_iteration_error() -> None:
    def work(function: str, payload: Any) -> Any:
        if payload == 3:
            raise LambdaFunctionError("KeyError", {"errorMessage": "'x'", "errorType": "KeyError"})
        return payload

    sm = StateMachine(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "StartAt": "T",
                        "States": {"T": {"Type": "Task", "Resource": FN + "w", "End": True}},
                    },
                    "End": True,
                }
            },
        }
    )
    result = sm.execute(list(range(6)), services=Services(invoke_lambda=work))
    assert (result.status, result.error) == ("FAILED", "KeyError")
    assert "MapStateFailed" in [e["type"] for e in result.history]


def test_item_reader_csv_first_row_and_max_items(s3: Any) -> None:
    s3.put_object(
        Bucket=BUCKET, Key="cities.csv", Body=b"city,country\nPerth,AU\nOslo,NO\nLima,PE\n"
    )
    sm = distributed(
        PASS,
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItems": 2},
            "Parameters": {"Bucket": BUCKET, "Key.$": "$.key"},
        },
    )
    result = sm.execute({"key": "cities.csv"}, services=Services(s3_client=s3))
    assert result.output == [{"city": "Perth", "country": "AU"}, {"city": "Oslo", "country": "NO"}]
    types = [e["type"] for e in result.history]
    assert "MapRunStarted" in types and "MapRunSucceeded" in types
    assert "PassStateEntered" not in types  # child executions keep their own history


def test_item_reader_csv_given_headers_json_and_jsonl(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="rows.csv", Body=b"Perth,AU\nOslo,NO\n")
    s3.put_object(Bucket=BUCKET, Key="items.json", Body=json.dumps([{"a": 1}, {"a": 2}]).encode())
    s3.put_object(Bucket=BUCKET, Key="items.jsonl", Body=b'{"a": 1}\n\n{"a": 2}\n')

    def reader(key: str, config: dict[str, Any]) -> list[Any]:
        sm = distributed(
            PASS,
            ItemReader={
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": config,
                "Parameters": {"Bucket": BUCKET, "Key": key},
            },
        )
        result = sm.execute({}, services=Services(s3_client=s3))
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        return result.output

    assert reader(
        "rows.csv", {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["city", "cc"]}
    ) == [{"city": "Perth", "cc": "AU"}, {"city": "Oslo", "cc": "NO"}]
    assert reader("items.json", {"InputType": "JSON"}) == [{"a": 1}, {"a": 2}]
    assert reader("items.jsonl", {"InputType": "JSONL"}) == [{"a": 1}, {"a": 2}]


def test_item_reader_listing_and_failures(s3: Any) -> None:
    for key in ("in/a.txt", "in/b.txt", "other/c.txt"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"12345")
    sm = distributed(
        PASS,
        ItemReader={
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": BUCKET, "Prefix": "in/"},
        },
    )
    result = sm.execute({}, services=Services(s3_client=s3))
    assert [item["Key"] for item in result.output] == ["in/a.txt", "in/b.txt"]
    assert set(result.output[0]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert result.output[0]["Size"] == 5 and isinstance(result.output[0]["LastModified"], int)

    missing = distributed(
        PASS,
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": BUCKET, "Key": "nope.json"},
        },
    )
    result = missing.execute({}, services=Services(s3_client=s3))
    assert (result.status, result.error) == ("FAILED", "States.ItemReaderFailed")
    result = missing.execute({}, services=Services())
    assert result.error == "States.ItemReaderFailed" and "s3_client" in result.cause


def test_item_batcher() -> None:
    sm = distributed(
        PASS,
        ItemsPath="$.items",
        ItemSelector={"id.$": "$$.Map.Item.Value"},
        ItemBatcher={"MaxItemsPerBatchPath": "$.per", "BatchInput": {"run.$": "$.run"}},
    )
    result = sm.execute({"items": [1, 2, 3, 4, 5], "per": 2, "run": "r1"})
    assert result.output == [
        {"BatchInput": {"run": "r1"}, "Items": [{"id": 1}, {"id": 2}]},
        {"BatchInput": {"run": "r1"}, "Items": [{"id": 3}, {"id": 4}]},
        {"BatchInput": {"run": "r1"}, "Items": [{"id": 5}]},
    ]
    by_bytes = distributed(PASS, ItemBatcher={"MaxInputBytesPerBatch": 30})
    batches = by_bytes.execute(["aaaa", "bbbb", "cccc", "dddd"]).output
    assert [b["Items"] for b in batches] == [["aaaa", "bbbb"], ["cccc", "dddd"]]
    assert all(len(json.dumps(b, separators=(",", ":"))) <= 30 for b in batches)
    # The limit counts the whole child input, BatchInput under its own key included.
    labelled = distributed(
        PASS, ItemBatcher={"MaxInputBytesPerBatch": 50, "BatchInput": {"l": "x"}}
    ).execute(["aaaa", "bbbb", "cccc", "dddd"])
    assert labelled.output == [
        {"BatchInput": {"l": "x"}, "Items": ["aaaa", "bbbb"]},
        {"BatchInput": {"l": "x"}, "Items": ["cccc", "dddd"]},
    ]
    assert all(len(json.dumps(b, separators=(",", ":"))) <= 50 for b in labelled.output)


def _flaky_services(fail_on: set[int], s3: Any = None) -> Services:
    def work(function: str, payload: Any) -> Any:
        if payload["n"] in fail_on:
            raise LambdaFunctionError(
                "ValueError", {"errorMessage": f"bad {payload['n']}", "errorType": "ValueError"}
            )
        return {"n": payload["n"], "ok": True}

    return Services(invoke_lambda=work, s3_client=s3, map_workers=2)


TASK = {"T": {"Type": "Task", "Resource": FN + "work", "End": True}}


def export(prefix: str = "runs", **writer_config: Any) -> dict[str, Any]:
    """A ResultWriter exporting to BUCKET under ``prefix`` (with a WriterConfig if given)."""
    writer: dict[str, Any] = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": BUCKET, "Prefix": prefix},
    }
    return {**writer, "WriterConfig": writer_config} if writer_config else writer


def exported(s3: Any, output: Any, name: str) -> bytes:
    """The bytes of file ``name`` (``SUCCEEDED_0.json``, ...) beside the map run's manifest."""
    base = output["ResultWriterDetails"]["Key"].rsplit("/", 1)[0]
    return s3.get_object(Bucket=BUCKET, Key=f"{base}/{name}")["Body"].read()


def test_tolerated_failures() -> None:
    items = [{"n": i} for i in range(10)]
    within = distributed(TASK, ToleratedFailureCount=2)
    result = within.execute(items, services=_flaky_services({3, 7}))
    assert result.status == "SUCCEEDED"
    assert result.output[3]["Error"] == "ValueError" and result.output[4] == {"n": 4, "ok": True}

    over = distributed(TASK, ToleratedFailurePercentage=10)
    result = over.execute(items, services=_flaky_services({3, 7}))
    assert (result.status, result.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "MapRunFailed" in [e["type"] for e in result.history]

    none_tolerated = distributed(TASK)
    assert none_tolerated.execute(items, services=_flaky_services({9})).error == (
        "States.ExceedToleratedFailureThreshold"
    )


def test_result_writer_layout(s3: Any) -> None:
    sm = distributed(TASK, ToleratedFailureCount=1, ResultWriter=export())
    items = [{"n": i} for i in range(4)]
    result = sm.execute(items, services=_flaky_services({2}, s3))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    map_run_arn = result.output["MapRunArn"]
    run_id = map_run_arn.rsplit(":", 1)[-1]
    assert map_run_arn.startswith("arn:aws:states:us-east-1:123456789012:mapRun:Fanout/Fan:")
    assert result.output["ResultWriterDetails"] == {
        "Bucket": BUCKET,
        "Key": f"runs/{run_id}/manifest.json",
    }

    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/manifest.json")["Body"].read()
    )
    assert manifest["DestinationBucket"] == BUCKET and manifest["MapRunArn"] == map_run_arn
    files = manifest["ResultFiles"]
    assert [f["Key"] for f in files["SUCCEEDED"]] == [f"runs/{run_id}/SUCCEEDED_0.json"]
    assert [f["Key"] for f in files["FAILED"]] == [f"runs/{run_id}/FAILED_0.json"]
    assert files["PENDING"] == []

    succeeded = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/SUCCEEDED_0.json")["Body"].read()
    )
    assert (
        files["SUCCEEDED"][0]["Size"]
        == s3.head_object(Bucket=BUCKET, Key=f"runs/{run_id}/SUCCEEDED_0.json")["ContentLength"]
    )
    assert [json.loads(r["Input"])["n"] for r in succeeded] == [0, 1, 3]
    assert json.loads(succeeded[0]["Output"]) == {"n": 0, "ok": True}
    assert {
        "ExecutionArn",
        "Input",
        "InputDetails",
        "Name",
        "Output",
        "OutputDetails",
        "RedriveCount",
        "RedriveStatus",
        "StartDate",
        "StateMachineArn",
        "Status",
        "StopDate",
    } <= set(succeeded[0])
    assert succeeded[0]["Status"] == "SUCCEEDED"

    failed = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/FAILED_0.json")["Body"].read()
    )
    assert (
        len(failed) == 1 and failed[0]["Status"] == "FAILED" and failed[0]["Error"] == "ValueError"
    )
    assert json.loads(failed[0]["Cause"])["errorMessage"] == "bad 2"


def test_an_exported_map_run_keeps_each_ended_childs_output_as_text(s3: Any) -> None:
    """An output waits for the end of the map run only to be written as a record's
    ``Output`` text, so it is held as that text, not as the decoded objects (about four
    times the size). Each child looks for the earlier children's output objects."""
    still_decoded: list[int] = []

    def work(function: str, payload: Any) -> Any:
        n = payload["n"]
        still_decoded.extend(
            o["marker"]
            for o in gc.get_objects()
            if type(o) is dict and "readings" in o and isinstance(o.get("marker"), int)
        )
        return {"marker": n, "readings": [n, n + 0.5]}

    sm = distributed(TASK, MaxConcurrency=1, ResultWriter=export())
    services = Services(invoke_lambda=work, s3_client=s3, map_workers=1)
    result = sm.execute([{"n": i} for i in range(6)], services=services)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert still_decoded == []
    records = json.loads(exported(s3, result.output, "SUCCEEDED_0.json"))
    assert [r["Output"] for r in records] == [
        json.dumps({"marker": n, "readings": [n, n + 0.5]}, separators=(",", ":")) for n in range(6)
    ]


@pytest.mark.parametrize("transformation", ["COMPACT", "FLATTEN"])
def test_an_exported_transformation_writes_the_outputs_kept_as_text(
    s3: Any, transformation: str
) -> None:
    def work(function: str, payload: Any) -> Any:
        return [payload["n"], {"half": payload["n"] / 2}]

    sm = distributed(TASK, ResultWriter=export(Transformation=transformation))
    services = Services(invoke_lambda=work, s3_client=s3, map_workers=2)
    result = sm.execute([{"n": i} for i in range(3)], services=services)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    written = json.loads(exported(s3, result.output, "SUCCEEDED_0.json"))
    outputs = [[n, {"half": n / 2}] for n in range(3)]
    flattened = [value for output in outputs for value in output]
    assert written == (outputs if transformation == "COMPACT" else flattened)


@pytest.mark.parametrize("output_type", ["JSON", "JSONL"])
def test_an_exported_file_is_encoded_as_the_list_of_its_entries(s3: Any, output_type: str) -> None:
    """An exported file reads as ``json.dumps`` of its entries (JSONL: one compact line
    each), and a status whose children flattened to nothing still gets its (empty) file."""

    def work(function: str, payload: Any) -> Any:
        if payload["n"] == 1:
            raise LambdaFunctionError("ValueError", {"errorMessage": "bad", "errorType": "E"})
        return [] if payload["n"] == 2 else [{"n": payload["n"], "text": 'say "hi"'}]

    flatten = export(Transformation="FLATTEN", OutputType=output_type)
    sm = distributed(TASK, ToleratedFailureCount=5, ResultWriter=flatten)
    services = Services(invoke_lambda=work, s3_client=s3, map_workers=2)
    result = sm.execute([{"n": i} for i in range(4)], services=services)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    ext = output_type.lower()
    succeeded = exported(s3, result.output, f"SUCCEEDED_0.{ext}")
    failed = exported(s3, result.output, f"FAILED_0.{ext}")
    entries = [{"n": 0, "text": 'say "hi"'}, {"n": 3, "text": 'say "hi"'}]
    if output_type == "JSON":
        assert succeeded == json.dumps(entries).encode()
        assert failed == json.dumps(json.loads(failed)).encode()
    else:
        assert succeeded == b"".join(
            json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries
        )
    (failure,) = (
        [json.loads(line) for line in failed.splitlines()] if ext == "jsonl" else json.loads(failed)
    )
    assert failure["Status"] == "FAILED" and json.loads(failure["Input"]) == {"n": 1}

    only_empty = distributed(TASK, ResultWriter=flatten)
    result = only_empty.execute([{"n": 2}], services=services)
    body = exported(s3, result.output, f"SUCCEEDED_0.{ext}")
    assert body == (b"[]" if output_type == "JSON" else b"")


def test_result_writer_failure(s3: Any) -> None:
    sm = distributed(
        PASS,
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "no-such-bucket", "Prefix": "x"},
        },
    )
    result = sm.execute([1], services=Services(s3_client=s3))
    assert (result.status, result.error) == ("FAILED", "States.ResultWriterFailed")


def test_distributed_child_executions_have_their_own_context() -> None:
    sm = distributed(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"input.$": "$$.Execution.Input", "name.$": "$$.Execution.Name"},
                "End": True,
            }
        }
    )
    result = sm.execute(["a", "b"], execution_name="parent")
    assert [r["input"] for r in result.output] == ["a", "b"]
    assert all(r["name"] != "parent" for r in result.output)


def test_distributed_only_fields_need_distributed_mode() -> None:
    from sfnstack.asl import DefinitionError

    with pytest.raises(DefinitionError, match="ItemBatcher"):
        StateMachine(
            {
                "StartAt": "M",
                "States": {
                    "M": {
                        "Type": "Map",
                        "ItemBatcher": {"MaxItemsPerBatch": 2},
                        "ItemProcessor": {"StartAt": "P", "States": PASS},
                        "End": True,
                    }
                },
            }
        )


def test_forecast_like_pipeline_with_progress(s3: Any) -> None:
    """CSV of cities in S3 -> batches of 2 -> a flaky Lambda retried -> results in S3."""
    s3.put_object(
        Bucket=BUCKET, Key="in/cities.csv", Body=b"city\nPerth\nOslo\nLima\nQuito\nNuuk\n"
    )
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def forecast(function: str, event: Any) -> Any:
        first = event["Items"][0]["city"]
        with lock:
            attempts[first] = attempts.get(first, 0) + 1
            if first == "Lima" and attempts[first] == 1:
                raise LambdaFunctionError(
                    "TimeoutError", {"errorMessage": "upstream", "errorType": "TimeoutError"}
                )
        return [
            {
                "city": item["city"],
                "rain": len(item["city"]) % 2 == 0,
                "run": event["BatchInput"]["run"],
            }
            for item in event["Items"]
        ]

    sm = StateMachine(
        {
            "StartAt": "Cities",
            "States": {
                "Cities": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                        "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
                    },
                    "ItemBatcher": {
                        "MaxItemsPerBatch": 2,
                        "BatchInput": {"run.$": "$$.Execution.Name"},
                    },
                    "MaxConcurrency": 2,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "Forecast",
                        "States": {
                            "Forecast": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": "forecast", "Payload.$": "$"},
                                "OutputPath": "$.Payload",
                                "Retry": [
                                    {
                                        "ErrorEquals": ["TimeoutError"],
                                        "IntervalSeconds": 1,
                                        "MaxAttempts": 2,
                                    }
                                ],
                                "End": True,
                            }
                        },
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket.$": "$.bucket", "Prefix": "out"},
                    },
                    "ResultPath": "$.results",
                    "End": True,
                }
            },
        },
        name="Forecast",
    )
    progress: list[dict[str, Any]] = []
    result = sm.execute(
        {"bucket": BUCKET, "key": "in/cities.csv"},
        services=Services(invoke_lambda=forecast, s3_client=s3, sleep=lambda s: None),
        execution_name="run-1",
        listener=lambda e: progress.append(e) if e["type"].startswith("MapIteration") else None,
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert attempts["Lima"] == 2
    assert sorted(
        e["mapIterationSucceededEventDetails"]["index"]
        for e in progress
        if e["type"] == "MapIterationSucceeded"
    ) == [0, 1, 2]
    key = result.output["results"]["ResultWriterDetails"]["Key"]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    records = json.loads(
        s3.get_object(Bucket=BUCKET, Key=manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])[
            "Body"
        ].read()
    )
    outputs = [row for record in records for row in json.loads(record["Output"])]
    assert [row["city"] for row in outputs] == ["Perth", "Oslo", "Lima", "Quito", "Nuuk"]
    assert {row["run"] for row in outputs} == {"run-1"}


def test_jsonata_distributed_map(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="n.json", Body=b"[1, 2, 3, 4, 5]")
    sm = StateMachine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {
                            "InputType": "JSON",
                            "MaxItems": "{% $states.input.max %}",
                        },
                        "Arguments": {"Bucket": BUCKET, "Key": "{% $states.input.key %}"},
                    },
                    "ItemBatcher": {
                        "MaxItemsPerBatch": "{% 1 + 1 %}",
                        "BatchInput": {"tag": "{% $states.input.tag %}"},
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "Sum",
                        "States": {
                            "Sum": {
                                "Type": "Pass",
                                "Output": "{% $sum($states.input.Items) & $states.input.BatchInput.tag %}",
                                "End": True,
                            }
                        },
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Arguments": {
                            "Bucket": BUCKET,
                            "Prefix": "{% 'out-' & $states.input.tag %}",
                        },
                    },
                    "Output": "{% $states.result.ResultWriterDetails.Key %}",
                    "End": True,
                }
            },
        }
    )
    result = sm.execute({"key": "n.json", "max": 4, "tag": "t"}, services=Services(s3_client=s3))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output.startswith("out-t/") and result.output.endswith("/manifest.json")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=result.output)["Body"].read())
    records = json.loads(
        s3.get_object(Bucket=BUCKET, Key=manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])[
            "Body"
        ].read()
    )
    assert [json.loads(r["Output"]) for r in records] == ["3t", "7t"]


def test_map_jobs_are_made_when_they_run_not_all_up_front() -> None:
    from sfnstack.asl.concurrency import LazyJobs, run_jobs
    from sfnstack.asl.errors import StateFailure

    made: list[int] = []

    def make(index: int):
        made.append(index)

        def job(cancel):
            if index == 2:
                raise StateFailure("Boom", "item 2")
            return index * 10

        return job

    jobs = LazyJobs(100, make)
    assert len(jobs) == 100 and made == []
    outcomes = run_jobs(jobs, workers=1, should_stop=lambda outcome: True)
    assert made == [0, 1, 2]  # the failure stopped the rest before they were made
    assert [o.value for o in outcomes[:2]] == [0, 10]
    assert outcomes[2].failure is not None and outcomes[2].failure.error == "Boom"
