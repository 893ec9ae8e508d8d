"""EventBridge pieces of sfnstack serve: the S3 event shape, pattern matching, input
transformers."""

import json

import pytest
from sfnstack.serve.eventbridge import (
    InputTransformer,
    TargetInput,
    jsonpath_get,
    matches_pattern,
    s3_object_created_event,
)


def _event(key: str = "incoming/cities.csv", bucket: str = "in-bucket") -> dict:
    return s3_object_created_event(
        bucket=bucket,
        key=key,
        size=42,
        etag='"0123abcd"',
        sequencer="00000000000000001",
        reason="PutObject",
        region="us-east-1",
        account="123456789012",
        request_id="REQ1",
    )


def test_s3_event_has_the_shape_s3_sends() -> None:
    event = _event()
    assert set(event) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
    }  # fmt: skip
    assert event["detail-type"] == "Object Created"
    assert event["source"] == "aws.s3"
    assert event["resources"] == ["arn:aws:s3:::in-bucket"]
    assert event["detail"]["object"] == {
        "key": "incoming/cities.csv", "size": 42, "etag": "0123abcd", "sequencer": "00000000000000001"
    }  # fmt: skip
    assert event["detail"]["reason"] == "PutObject"
    assert event["time"].endswith("Z")


PATTERN = {
    "source": ["aws.s3"],
    "detail-type": ["Object Created"],
    "detail": {"bucket": {"name": ["in-bucket"]}, "object": {"key": [{"prefix": "incoming/"}]}},
}


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        (PATTERN, _event(), True),
        (PATTERN, _event(key="archive/cities.csv"), False),
        (PATTERN, _event(bucket="other"), False),
        ({"detail": {"object": {"key": [{"suffix": ".csv"}]}}}, _event(), True),
        ({"detail": {"object": {"key": [{"suffix": ".json"}]}}}, _event(), False),
        ({"detail": {"object": {"size": [{"numeric": [">", 10, "<=", 42]}]}}}, _event(), True),
        ({"detail": {"object": {"size": [{"numeric": ["<", 10]}]}}}, _event(), False),
        ({"detail": {"reason": [{"anything-but": ["CopyObject"]}]}}, _event(), True),
        ({"detail": {"reason": [{"anything-but": "PutObject"}]}}, _event(), False),
        ({"detail": {"object": {"version-id": [{"exists": False}]}}}, _event(), True),
        ({"detail": {"object": {"version-id": [{"exists": True}]}}}, _event(), False),
        ({"detail": {"object": {"key": [{"wildcard": "incoming/*.csv"}]}}}, _event(), True),
        ({"detail-type": [{"equals-ignore-case": "object created"}]}, _event(), True),
        ({"$or": [{"source": ["aws.ec2"]}, {"source": ["aws.s3"]}]}, _event(), True),
        ({"source": ["aws.ec2", "aws.s3"]}, _event(), True),
        ({"nothere": ["x"]}, _event(), False),
    ],
)
def test_event_patterns(pattern: dict, event: dict, expected: bool) -> None:
    assert matches_pattern(pattern, event) is expected


def test_jsonpath() -> None:
    event = _event()
    assert jsonpath_get(event, "$.detail.bucket.name") == "in-bucket"
    assert jsonpath_get(event, "$['detail-type']") == "Object Created"
    assert jsonpath_get(event, "$.resources[0]") == "arn:aws:s3:::in-bucket"
    assert jsonpath_get(event, "$.detail.nothing.here") is None
    assert jsonpath_get(event, "$") is event
    # the interpreter's engine: double-quoted and chained brackets, a name inside a list
    assert jsonpath_get(event, '$["detail"]["object"]["key"]') == "incoming/cities.csv"
    assert jsonpath_get(event, "$.resources[0].name") is None
    with pytest.raises(ValueError, match="must start with"):
        jsonpath_get(event, "detail.bucket")


def test_input_transformer_quotes_values_outside_strings() -> None:
    transformer = InputTransformer(
        {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"},
        '{"bucket": <bucket>, "key": <key>, "trigger": "s3"}',
    )
    assert json.loads(transformer.apply(_event())) == {
        "bucket": "in-bucket", "key": "incoming/cities.csv", "trigger": "s3"
    }  # fmt: skip


def test_input_transformer_inside_strings_and_special_characters() -> None:
    transformer = InputTransformer(
        {"key": "$.detail.object.key", "size": "$.detail.object.size", "missing": "$.nope"},
        '{"where": "s3 key <key> (<size> bytes)", "size": <size>, "gone": <missing>, '
        '"rule": "<aws.events.rule-name>"}',
        rule_name="UploadRule",
    )
    rendered = json.loads(transformer.apply(_event(key='incoming/a "quoted" name.csv')))
    assert rendered == {
        "where": 's3 key incoming/a "quoted" name.csv (42 bytes)',
        "size": 42,
        "gone": None,
        "rule": "UploadRule",
    }


def test_target_input_forms() -> None:
    event = _event()
    assert TargetInput(constant='{"a": 1}').render(event) == '{"a": 1}'
    assert json.loads(TargetInput(input_path="$.detail.bucket").render(event)) == {
        "name": "in-bucket"
    }
    assert json.loads(TargetInput().render(event)) == event
