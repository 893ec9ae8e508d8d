"""Batch/item shapes and result keys (raincast.pipeline.records) and failure descriptions."""

from __future__ import annotations

import json

import pytest

from raincast.pipeline.records import Batch, InvalidRequest, city_key, reason_category
from raincast.pipeline.steps import describe_failure

SETTINGS = {"run_id": "r", "date": "2016-06-01", "weather": "replay", "geocoder": "geonames"}
ITEMS = [{"index": 25, "city": "A"}, {"index": 49, "city": "B"}]


def test_batch_from_the_item_batcher_shape() -> None:
    batch = Batch.from_event({"Items": ITEMS, "BatchInput": SETTINGS})
    assert (batch.settings.run_id, batch.batch_id, batch.failure) == ("r", "00025-00049", None)
    # An interpreter that merges BatchInput's fields next to Items is understood too.
    merged = Batch.from_event({"Items": ITEMS, **SETTINGS})
    assert merged.settings == batch.settings


def test_batch_round_trips_through_a_step() -> None:
    batch = Batch.from_event({"Items": ITEMS, "BatchInput": SETTINGS})
    again = Batch.from_event(json.loads(json.dumps(batch.to_event())))
    assert (again.settings, again.items, again.batch_id) == (
        batch.settings,
        batch.items,
        batch.batch_id,
    )


@pytest.mark.parametrize(
    "event",
    [
        {"cities": ["x"]},
        {"Items": "x", "BatchInput": SETTINGS},
        {"Items": ITEMS, "BatchInput": {**SETTINGS, "weather": "sunny"}},
        {"Items": ITEMS, "BatchInput": {**SETTINGS, "date": "2016-13-01"}},
    ],
)
def test_bad_batches(event) -> None:
    with pytest.raises(InvalidRequest):
        Batch.from_event(event)


def test_result_keys_are_deterministic_and_safe() -> None:
    assert city_key("run-1", 7, "São Paulo") == "runs/run-1/cities/00007-sao-paulo.json"
    assert city_key("run-1", 7, "São Paulo") == city_key("run-1", 7, "São Paulo")


def test_reason_categories() -> None:
    assert reason_category("not found: no place named 'X'") == "not found"
    assert (
        reason_category("no observations near here: nearest station is A")
        == "no observations near here"
    )
    assert reason_category(None) == "unknown"


def test_describe_failure_reads_lambda_error_documents() -> None:
    cause = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []})
    assert describe_failure({"Error": "ValueError", "Cause": cause}) == "ValueError: boom"
    assert (
        describe_failure({"Error": "States.Timeout", "Cause": "timed out"})
        == "States.Timeout: timed out"
    )
    assert describe_failure({}) == "unknown error"
    assert len(describe_failure({"Error": "E", "Cause": "x" * 2000})) == 500
