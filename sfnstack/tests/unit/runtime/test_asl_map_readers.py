"""Distributed Map ItemReader and ResultWriter as AWS documents them: S3 Inventory
manifests, Athena manifests, LOAD_AND_FLATTEN listings, gzip, CSV parsing rules,
ItemsPointer, WriterConfig transformations and JSON Lines exports (S3 via moto). Every
definition here is valid on AWS: the ones this stack cannot run fail with a clear error
naming the field, at run time."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sfnstack.asl import DefinitionError, StateMachine
from sfnstack.asl.distributed import ItemReader
from sfnstack.services import LambdaFunctionError, Services

BUCKET = "data"
GET = "arn:aws:states:::s3:getObject"
LIST = "arn:aws:states:::s3:listObjectsV2"
PUT = "arn:aws:states:::s3:putObject"
PASS = {"P": {"Type": "Pass", "End": True}}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket="inventory-dest")
        yield client


def machine(processor: dict[str, Any] | None = None, **fields: Any) -> StateMachine:
    states = processor or PASS
    return StateMachine(
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": next(iter(states)),
                        "States": states,
                    },
                    "End": True,
                    **fields,
                }
            },
        },
        name="Readers",
    )


def read(s3: Any, reader: dict[str, Any], state_input: Any = None) -> Any:
    result = machine(ItemReader=reader).execute(
        {} if state_input is None else state_input, services=Services(s3_client=s3)
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


def fails(s3: Any, reader: dict[str, Any]) -> tuple[str | None, str]:
    result = machine(ItemReader=reader).execute({}, services=Services(s3_client=s3))
    assert result.status == "FAILED"
    return result.error, result.cause or ""


def _inventory(s3: Any, rows: list[list[str]], *, file_format: str = "CSV") -> str:
    """An S3 Inventory report as S3 publishes it: gzipped CSV files without a header in the
    destination bucket, and a manifest.json naming them and their columns."""
    lines = "".join(",".join(f'"{v}"' for v in row) + "\n" for row in rows)
    half = len(rows) // 2
    first = "".join(lines.splitlines(keepends=True)[:half])
    second = "".join(lines.splitlines(keepends=True)[half:])
    keys = []
    for n, part in enumerate((first, second)):
        key = f"inv/source/config/data/part-{n}.csv.gz"
        s3.put_object(Bucket="inventory-dest", Key=key, Body=gzip.compress(part.encode()))
        keys.append(key)
    manifest = {
        "sourceBucket": "source",
        "destinationBucket": "arn:aws:s3:::inventory-dest",
        "version": "2016-11-30",
        "creationTimestamp": "1668560400000",
        "fileFormat": file_format,
        "fileSchema": "Bucket, Key, Size, LastModifiedDate",
        "files": [{"key": k, "size": 1, "MD5checksum": "x"} for k in keys],
    }
    key = "inv/source/config/2022-11-16T00-00Z/manifest.json"
    s3.put_object(Bucket="inventory-dest", Key=key, Body=json.dumps(manifest).encode())
    return key


ROWS = [
    ["source", "csvDataset/", "0", "2022-11-16T00:27:19.000Z"],
    ["source", "csvDataset/titles.csv", "3399671", "2022-11-16T00:29:32.000Z"],
    ["source", "imageDataset/n02085620_10074.jpg", "27034", "2022-11-15T20:02:16.000Z"],
]


def test_s3_inventory_manifest_items_are_the_inventory_rows(s3: Any) -> None:
    key = _inventory(s3, ROWS)
    expected = [
        {"Bucket": b, "Key": k, "Size": size, "LastModifiedDate": date} for b, k, size, date in ROWS
    ]
    by_input_type = read(
        s3,
        {
            "Resource": GET,
            "ReaderConfig": {"InputType": "MANIFEST"},
            "Parameters": {"Bucket": "inventory-dest", "Key": key},
        },
    )
    assert by_input_type == expected
    by_manifest_type = read(
        s3,
        {
            "Resource": GET,
            "ReaderConfig": {"ManifestType": "S3_INVENTORY", "MaxItems": 2},
            "Parameters": {"Bucket": "inventory-dest", "Key": key},
        },
    )
    assert by_manifest_type == expected[:2]


def test_s3_inventory_in_another_format_or_not_a_manifest_fails_clearly(s3: Any) -> None:
    key = _inventory(s3, ROWS, file_format="ORC")
    reader = {
        "Resource": GET,
        "ReaderConfig": {"InputType": "MANIFEST"},
        "Parameters": {"Bucket": "inventory-dest", "Key": key},
    }
    error, cause = fails(s3, reader)
    assert error == "States.ItemReaderFailed" and "fileFormat ORC" in cause
    # A CSV file is not a manifest: a clear failure, not one item per CSV row.
    s3.put_object(Bucket=BUCKET, Key="not-a-manifest.csv", Body=b"source,a.txt\nsource,b.txt\n")
    error, cause = fails(
        s3,
        {**reader, "Parameters": {"Bucket": BUCKET, "Key": "not-a-manifest.csv"}},
    )
    assert error == "States.ItemReaderFailed" and "not an S3 Inventory manifest" in cause


def test_athena_manifest_reads_the_listed_data_files(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="athena/q1/part-0.jsonl", Body=b'{"id": 1}\n{"id": 2}\n')
    s3.put_object(
        Bucket=BUCKET, Key="athena/q1/part-1.jsonl.gz", Body=gzip.compress(b'{"id": 3}\n')
    )
    s3.put_object(
        Bucket=BUCKET,
        Key="athena/q1-manifest.csv",
        Body=f"s3://{BUCKET}/athena/q1/part-0.jsonl\ns3://{BUCKET}/athena/q1/part-1.jsonl.gz\n".encode(),
    )
    reader = {
        "Resource": GET,
        "ReaderConfig": {"ManifestType": "ATHENA_DATA", "InputType": "JSONL"},
        "Parameters": {"Bucket": BUCKET, "Key": "athena/q1-manifest.csv"},
    }
    assert read(s3, reader) == [{"id": 1}, {"id": 2}, {"id": 3}]
    # Athena's CSV has no header row: without CSVHeaders the reader says so.
    csv_reader = {**reader, "ReaderConfig": {"ManifestType": "ATHENA_DATA", "InputType": "CSV"}}
    error, cause = fails(s3, csv_reader)
    assert error == "States.ItemReaderFailed" and "CSVHeaderLocation GIVEN" in cause


def test_load_and_flatten_reads_every_listed_object(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="in/a.csv", Body=b"city,cc\nPerth,AU\n")
    s3.put_object(Bucket=BUCKET, Key="in/b.csv", Body=gzip.compress(b"city,cc\nOslo,NO\n"))
    items = read(
        s3,
        {
            "Resource": LIST,
            "ReaderConfig": {"InputType": "CSV", "Transformation": "LOAD_AND_FLATTEN"},
            "Parameters": {"Bucket": BUCKET, "Prefix": "in/"},
        },
    )
    assert items == [{"city": "Perth", "cc": "AU"}, {"city": "Oslo", "cc": "NO"}]


def test_gzipped_objects_are_read_decompressed(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.json.gz", Body=gzip.compress(b'[{"a": 1}, {"a": 2}]'))
    s3.put_object(Bucket=BUCKET, Key="a.jsonl.gz", Body=gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    s3.put_object(Bucket=BUCKET, Key="a.csv.gz", Body=gzip.compress(b"a\n1\n2\n"))
    for key, input_type in (("a.json.gz", "JSON"), ("a.jsonl.gz", "JSONL")):
        reader = {
            "Resource": GET,
            "ReaderConfig": {"InputType": input_type},
            "Parameters": {"Bucket": BUCKET, "Key": key},
        }
        assert read(s3, reader) == [{"a": 1}, {"a": 2}]
    reader = {
        "Resource": GET,
        "ReaderConfig": {"InputType": "CSV"},
        "Parameters": {"Bucket": BUCKET, "Key": "a.csv.gz"},
    }
    assert read(s3, reader) == [{"a": "1"}, {"a": "2"}]


def test_json_lines_items_share_their_key_strings(s3: Any) -> None:
    # Each line is decoded alone; a 10,000-line list held each key once per line (4 MB).
    lines = [{"index": i, "city": f"City {i}", "nested": {"deep": i}} for i in range(3)]
    text = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    items = ItemReader._jsonl(text, "s3://data/l.jsonl")
    assert items == lines
    first_keys = list(items[0])
    for item in items[1:]:
        assert all(a is b for a, b in zip(first_keys, item, strict=True))
    # The same text through a Map's ItemReader: the items, unchanged.
    s3.put_object(Bucket=BUCKET, Key="l.jsonl", Body=text)
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {"Bucket": BUCKET, "Key": "l.jsonl"},
    }
    assert read(s3, reader) == lines


def test_csv_rows_follow_aws_parsing_rules(s3: Any) -> None:
    body = (
        "name;size;note\n"
        "short;1\n"  # fewer fields: empty strings
        "long;2;x;extra;more\n"  # more fields: the extra ones are skipped
        '"quoted; with ""quotes""";3;\\;escaped\n'
        "\n"
    )
    s3.put_object(Bucket=BUCKET, Key="rows.csv", Body=body.encode())
    items = read(
        s3,
        {
            "Resource": GET,
            "ReaderConfig": {"InputType": "CSV", "CSVDelimiter": "SEMICOLON"},
            "Parameters": {"Bucket": BUCKET, "Key": "rows.csv"},
        },
    )
    assert items == [
        {"name": "short", "size": "1", "note": ""},
        {"name": "long", "size": "2", "note": "x"},
        {"name": 'quoted; with "quotes"', "size": "3", "note": ";escaped"},
    ]
    s3.put_object(Bucket=BUCKET, Key="dup.csv", Body=b"a,a\n1,2\n")
    error, cause = fails(
        s3,
        {
            "Resource": GET,
            "ReaderConfig": {"InputType": "CSV"},
            "Parameters": {"Bucket": BUCKET, "Key": "dup.csv"},
        },
    )
    assert error == "States.ItemReaderFailed" and "duplicates" in cause


def test_items_pointer_selects_the_array_in_a_json_object(s3: Any) -> None:
    document = {"meta": {"n": 2}, "data": {"rows": [{"a": 1}, {"a": 2}]}}
    s3.put_object(Bucket=BUCKET, Key="doc.json", Body=json.dumps(document).encode())
    reader = {
        "Resource": GET,
        "ReaderConfig": {"InputType": "JSON", "ItemsPointer": "/data/rows"},
        "Parameters": {"Bucket": BUCKET, "Key": "doc.json"},
    }
    assert read(s3, reader) == [{"a": 1}, {"a": 2}]
    error, cause = fails(
        s3, {**reader, "ReaderConfig": {"InputType": "JSON", "ItemsPointer": "/nope"}}
    )
    assert error == "States.ItemReaderFailed" and "ItemsPointer '/nope'" in cause
    # Without a pointer the file is an object: a clear "not supported", not wrong items.
    error, cause = fails(s3, {**reader, "ReaderConfig": {"InputType": "JSON"}})
    assert error == "States.ItemReaderFailed" and "JSON object" in cause
    with pytest.raises(DefinitionError, match="ItemsPointer"):
        machine(ItemReader={**reader, "ReaderConfig": {"InputType": "CSV", "ItemsPointer": "/a"}})


def test_parquet_is_valid_but_not_run_locally(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="t.parquet", Body=b"PAR1....PAR1")
    reader = {
        "Resource": GET,
        "ReaderConfig": {"InputType": "PARQUET"},
        "Parameters": {"Bucket": BUCKET, "Key": "t.parquet"},
    }
    machine(ItemReader=reader)  # the definition is valid
    error, cause = fails(s3, reader)
    assert error == "States.ItemReaderFailed" and "InputType PARQUET is not supported" in cause


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"InputType": "XML"}, "InputType"),
        ({"InputType": "JSON", "Transformation": "LOAD_AND_FLATTEN"}, "Transformation"),
        ({"ManifestType": "ATHENA_DATA", "InputType": "JSON"}, "InputType"),
        ({"ManifestType": "GLUE"}, "ManifestType"),
        ({"InputType": "CSV", "CSVDelimiter": "COLON"}, "CSVDelimiter"),
        ({"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}, "CSVHeaders"),
        ({"InputType": "CSV", "Compression": "GZIP"}, "ReaderConfig"),
        # Wrong shapes: a definition error, not a TypeError/ValueError from inside.
        ({"InputType": "CSV", "CSVDelimiter": ["COMMA"]}, "CSVDelimiter"),
        ({"InputType": "JSON", "MaxItemsPath": "items"}, "MaxItemsPath"),
        ({"InputType": "JSON", "MaxItemsPath": 7}, "MaxItemsPath"),
        ({"InputType": "JSON", "MaxItems": -1}, "MaxItems"),
        ({"InputType": "JSON", "MaxItems": "10"}, "MaxItems"),
    ],
)
def test_invalid_reader_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(DefinitionError, match=field):
        machine(
            ItemReader={
                "Resource": GET,
                "ReaderConfig": config,
                "Parameters": {"Bucket": BUCKET, "Key": "k"},
            }
        )


@pytest.mark.parametrize(
    "batcher",
    [{"MaxItemsPerBatchPath": 7}, {"MaxInputBytesPerBatchPath": "bytes"}, {"MaxItemsPerBatch": {}}],
)
def test_invalid_item_batchers_name_the_field(batcher: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError, match=f"ItemBatcher.{next(iter(batcher))}"):
        machine(ItemBatcher=batcher)


def test_jsonata_max_items_must_evaluate_to_a_count(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.json", Body=b"[1, 2, 3]")
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                    "StartAt": "P",
                    "States": PASS,
                },
                "ItemReader": {
                    "Resource": GET,
                    "ReaderConfig": {"InputType": "JSON", "MaxItems": "{% $states.input.n %}"},
                    "Arguments": {"Bucket": BUCKET, "Key": "a.json"},
                },
                "End": True,
            }
        },
    }
    sm = StateMachine(definition)
    assert sm.execute({"n": 2}, services=Services(s3_client=s3)).output == [1, 2]
    for wrong in ("x", -1, 1.5):
        result = sm.execute({"n": wrong}, services=Services(s3_client=s3))
        assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
        assert "MaxItems" in (result.cause or "")


def test_reader_resources_in_other_partitions_are_valid(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="a.json", Body=b"[1, 2]")
    for partition in ("aws-cn", "aws-us-gov"):
        reader = {
            "Resource": f"arn:{partition}:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": BUCKET, "Key": "a.json"},
        }
        assert read(s3, reader) == [1, 2]


def test_map_over_a_json_object_fails_clearly_instead_of_guessing() -> None:
    inline = StateMachine(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemsPath": "$.servers",
                    "ItemProcessor": {"StartAt": "P", "States": PASS},
                    "End": True,
                }
            },
        }
    )
    result = inline.execute({"servers": {"web": {"port": 80}}})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "ItemsPath '$.servers' is a JSON object" in (result.cause or "")
    jsonata = StateMachine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "Items": "{% $states.input.servers %}",
                    "ItemProcessor": {"StartAt": "P", "States": PASS},
                    "End": True,
                }
            },
        }
    )
    # JSONata's Items must be an array (as recorded on AWS): the usual type error.
    result = jsonata.execute({"servers": {"web": {"port": 80}}})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert "Expected 'array', but was 'object'" in (result.cause or "")


# ResultWriter ------------------------------------------------------------------------

TASK = {
    "T": {
        "Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:000000000000:function:w",
        "End": True,
    }
}


def _services(s3: Any = None, fail_on: frozenset[int] = frozenset()) -> Services:
    def work(function: str, payload: Any) -> Any:
        if payload["n"] in fail_on:
            raise LambdaFunctionError(
                "ValueError", {"errorMessage": "bad", "errorType": "ValueError"}
            )
        return [{"n": payload["n"]}, {"n": payload["n"] * 10}]

    return Services(invoke_lambda=work, s3_client=s3, map_workers=2)


ITEMS = [{"n": 1}, {"n": 2}, {"n": 3}]


def test_writer_config_alone_transforms_the_state_output() -> None:
    def run(transformation: str) -> Any:
        sm = machine(
            TASK,
            ToleratedFailureCount=1,
            ResultWriter={"WriterConfig": {"Transformation": transformation, "OutputType": "JSON"}},
        )
        result = sm.execute(ITEMS, services=_services(fail_on=frozenset({2})))
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        return result.output

    compact = run("COMPACT")
    assert compact[0] == [{"n": 1}, {"n": 10}] and compact[2] == [{"n": 3}, {"n": 30}]
    assert compact[1]["Status"] == "FAILED" and compact[1]["Error"] == "ValueError"
    flat = run("FLATTEN")
    assert [x for x in flat if "Status" not in x] == [{"n": 1}, {"n": 10}, {"n": 3}, {"n": 30}]
    assert [x["Status"] for x in flat if "Status" in x] == ["FAILED"]
    records = run("NONE")
    assert [r["Status"] for r in records] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert json.loads(records[0]["Output"]) == [{"n": 1}, {"n": 10}]


def test_writer_config_with_export_writes_transformed_json_lines(s3: Any) -> None:
    sm = machine(
        TASK,
        ResultWriter={
            "Resource": PUT,
            "WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSONL"},
            "Parameters": {"Bucket": BUCKET, "Prefix": "out"},
        },
    )
    result = sm.execute(ITEMS, services=_services(s3))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    details = result.output["ResultWriterDetails"]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=details["Key"])["Body"].read())
    (entry,) = manifest["ResultFiles"]["SUCCEEDED"]
    assert entry["Key"].endswith("/SUCCEEDED_0.jsonl")
    body = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read().decode()
    assert entry["Size"] == len(body.encode())
    assert [json.loads(line) for line in body.splitlines()] == [
        {"n": 1},
        {"n": 10},
        {"n": 2},
        {"n": 20},
        {"n": 3},
        {"n": 30},
    ]

    compact = machine(
        TASK,
        ResultWriter={
            "Resource": PUT,
            "WriterConfig": {"Transformation": "COMPACT"},
            "Parameters": {"Bucket": BUCKET, "Prefix": "compact"},
        },
    ).execute(ITEMS, services=_services(s3))
    key = compact.output["ResultWriterDetails"]["Key"].replace("manifest.json", "SUCCEEDED_0.json")
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == [
        [{"n": 1}, {"n": 10}],
        [{"n": 2}, {"n": 20}],
        [{"n": 3}, {"n": 30}],
    ]


@pytest.mark.parametrize(
    ("writer", "field"),
    [
        ({}, "ResultWriter"),
        ({"Resource": PUT}, "ResultWriter"),
        ({"Parameters": {"Bucket": "b"}, "WriterConfig": {}}, "ResultWriter"),
        ({"WriterConfig": {"Transformation": "SQUASH"}}, "Transformation"),
        ({"WriterConfig": {"OutputType": "CSV"}}, "OutputType"),
        ({"WriterConfig": {"Compression": "GZIP"}}, "WriterConfig"),
    ],
)
def test_invalid_result_writers_name_the_field(writer: dict[str, Any], field: str) -> None:
    with pytest.raises(DefinitionError, match=field):
        machine(ResultWriter=writer)


_WRONG = [None, 7, -1, 1.5, True, "", "x", "$.x", "{% 1 %}", [], [{}], {}, {"a": {}}]


def _shapes(jsonata: bool) -> Iterator[dict[str, Any]]:
    payload = "Arguments" if jsonata else "Parameters"
    for resource in (GET, LIST):
        for base in ({}, {"InputType": "CSV"}, {"InputType": "JSON"}):
            for key in (
                "InputType",
                "Transformation",
                "ManifestType",
                "CSVDelimiter",
                "CSVHeaderLocation",
                "CSVHeaders",
                "MaxItems",
                "MaxItemsPath",
                "ItemsPointer",
            ):
                for wrong in _WRONG:
                    config = {**base, key: wrong}
                    yield {
                        "ItemReader": {"Resource": resource, "ReaderConfig": config, payload: {}}
                    }
    for wrong in _WRONG:
        yield {"ItemReader": {"Resource": GET, "ReaderConfig": wrong, payload: {}}}
        yield {"ItemReader": {"Resource": wrong, payload: {}}}
        yield {"ResultWriter": wrong}
        yield {"ResultWriter": {"WriterConfig": wrong}}
        yield {"ResultWriter": {"Resource": PUT, payload: wrong}}
        for key in ("Transformation", "OutputType"):
            yield {"ResultWriter": {"WriterConfig": {key: wrong}}}
        for key in ("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"):
            yield {"ItemBatcher": {key: wrong}}


@pytest.mark.parametrize("jsonata", [False, True])
def test_reader_writer_and_batcher_shapes_never_end_in_a_traceback(jsonata: bool) -> None:
    for fields in _shapes(jsonata):
        definition = {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                        "StartAt": "P",
                        "States": PASS,
                    },
                    "End": True,
                    **fields,
                }
            },
        }
        if jsonata:
            definition["QueryLanguage"] = "JSONata"
        with contextlib.suppress(DefinitionError):  # the only exception allowed
            StateMachine(definition)
