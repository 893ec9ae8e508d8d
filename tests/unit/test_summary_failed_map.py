"""Summarize after the Map failed (its Catch gives no results): the per-city objects this
run's Store wrote are read back, so forecast cities stay forecast; objects of an earlier run
with the same run id (older than this run's list) or of another date are not taken."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from raincast.pipeline.records import city_key
from raincast.pipeline.summary import summarize_run

BUCKET = "results"
SETTINGS = {"run_id": "r1", "date": "2016-06-01", "weather": "replay", "geocoder": "geonames"}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_city(s3: Any, index: int, city: str, **fields: Any) -> None:
    record = {"run_id": "r1", "date": "2016-06-01", "index": index, "city": city,
              "status": "ok", "reason": None, "p_rain_tomorrow": 0.4, "rain_tomorrow": "no",
              "place": {"name": city, "country_code": "AU", "lat": -33.0, "lon": 151.0},
              **fields}  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=city_key("r1", index, city), Body=json.dumps(record))


def test_a_failed_map_keeps_the_cities_this_run_stored(s3: Any) -> None:
    put_city(s3, 2, "Hobart")  # an earlier run with the same id, before this run's list
    time.sleep(1.1)  # S3 times are to the second
    items = [{"index": i, "line": i + 2, "city": c, "country": None, "lat": None, "lon": None,
              "status": "ok", "reason": None} for i, c in enumerate(["Sydney", "Perth", "Hobart"])]  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="runs/r1/input/cities.jsonl",
                  Body="\n".join(json.dumps(i) for i in items))  # fmt: skip
    put_city(s3, 0, "Sydney")
    put_city(s3, 1, "Perth", date="2015-01-01")  # not this run's date
    event = {
        "settings": SETTINGS,
        "source": {"inline": True},
        "items": {"bucket": BUCKET, "key": "runs/r1/input/cities.jsonl"},
        "map_error": {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "too many"},
    }
    out = summarize_run(event, s3, BUCKET)
    assert out["completed"] is False and out["by_status"] == {"error": 2, "ok": 1}
    body = s3.get_object(Bucket=BUCKET, Key="runs/r1/forecast.csv")["Body"].read().decode()
    lines = body.splitlines()
    assert lines[1].startswith("0,Sydney,Sydney,AU,-33.0,151.0,2016-06-01,0.4,no,ok")
    assert lines[2].endswith("not processed: States.ExceedToleratedFailureThreshold: too many")
    assert lines[3].endswith("not processed: States.ExceedToleratedFailureThreshold: too many")
    # The earlier run's Hobart was not taken, and is removed as stale.
    keys = {
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/r1/cities/")["Contents"]
    }
    assert keys == {city_key("r1", 0, "Sydney")}
