"""Prepare's run-id claim (one request owns runs/<run_id>/) and its reading of the exact
object version the upload trigger names (moto for S3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from raincast.pipeline.prepare import prepare_run
from raincast.pipeline.run_claim import claim_key

INPUT, RESULTS = "raincast-in", "raincast-results"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=INPUT)
        client.create_bucket(Bucket=RESULTS)
        client.put_bucket_versioning(Bucket=INPUT, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _prepare(s3: Any, request: dict[str, Any], execution: str) -> dict[str, Any]:
    return prepare_run(
        request, execution, f"arn:aws:states:::execution:sm:{execution}", s3, RESULTS,
        lambda weather: "2016-06-25",
    )  # fmt: skip


def _listing(s3: Any, run_id: str) -> list[str]:
    body = s3.get_object(Bucket=RESULTS, Key=f"runs/{run_id}/input/cities.jsonl")["Body"].read()
    return [json.loads(line)["city"] for line in body.decode().splitlines()]


def test_the_same_request_under_one_run_id_is_idempotent(s3: Any) -> None:
    request = {"cities": ["Sydney", "Perth"], "run_id": "daily"}
    first = _prepare(s3, request, "exec-1")
    again = _prepare(s3, {**request, "trigger": "api"}, "exec-2")  # another execution
    assert first["ok"] and again["ok"]
    assert first["items"] == again["items"]
    owner = json.loads(s3.get_object(Bucket=RESULTS, Key=claim_key("daily"))["Body"].read())
    assert owner["execution"].endswith(":exec-1")


@pytest.mark.parametrize(
    "change",
    [
        {"cities": ["Sydney", "Hobart"]},
        {"date": "2016-06-01"},
        {"geocoder": "open-meteo"},
    ],
)
def test_a_different_request_under_a_claimed_run_id_is_refused_and_writes_nothing(
    s3: Any, change: dict[str, Any]
) -> None:
    request = {"cities": ["Sydney", "Perth"], "run_id": "daily"}
    assert _prepare(s3, request, "exec-1")["ok"]
    refused = _prepare(s3, {**request, **change}, "intruder")
    assert refused["ok"] is False
    assert refused["error"] == "RunIdInUse"
    assert "'daily' already holds the results of a different request" in refused["message"]
    assert "exec-1" in refused["message"]
    assert _listing(s3, "daily") == ["Sydney", "Perth"]  # the owner's list is untouched


def test_the_upload_triggers_version_is_read_not_the_latest(s3: Any) -> None:
    first = s3.put_object(Bucket=INPUT, Key="incoming/a.txt", Body=b"Sydney\n")["VersionId"]
    second = s3.put_object(Bucket=INPUT, Key="incoming/a.txt", Body=b"Perth\nHobart\n")["VersionId"]
    for execution, version, cities in (
        ("v1", first, ["Sydney"]),
        ("v2", second, ["Perth", "Hobart"]),
    ):
        request = {"bucket": INPUT, "key": "incoming/a.txt", "version_id": version, "trigger": "s3"}
        prepared = _prepare(s3, request, execution)
        assert prepared["ok"], prepared
        assert prepared["source"]["version_id"] == version
        assert _listing(s3, execution) == cities
    # the rule's input has "version_id": null for an unversioned object: the latest is read
    latest = _prepare(s3, {"bucket": INPUT, "key": "incoming/a.txt", "version_id": None}, "v3")
    assert latest["ok"] and _listing(s3, "v3") == ["Perth", "Hobart"]
    missing = _prepare(
        s3, {"bucket": INPUT, "key": "incoming/a.txt", "version_id": "no-such-version"}, "v4"
    )
    assert missing["ok"] is False and "cannot read the city list" in missing["message"]
    bad = _prepare(s3, {"cities": ["Perth"], "version_id": first}, "v5")
    assert bad["ok"] is False and '"version_id"' in bad["message"]


@pytest.mark.parametrize(
    ("asked", "cities", "resolved"),
    [(None, 3, "history"), ("auto", 100, "history"), ("auto", 101, "none"),
     ("history", 101, "history"), ("NONE", 3, "none")],
)  # fmt: skip
def test_recalibrate_auto_is_resolved_by_the_list_size(
    s3: Any, asked: str | None, cities: int, resolved: str
) -> None:
    """A place's history costs about 31 Open-Meteo API calls: a long list skips it unless
    the request asks for it, and every batch gets the resolved setting."""
    request: dict[str, Any] = {"cities": [f"Town {i}" for i in range(cities)], "run_id": "r"}
    if asked is not None:
        request["recalibrate"] = asked
    prepared = _prepare(s3, request, f"exec-{asked}-{cities}")
    assert prepared["ok"], prepared
    assert prepared["settings"]["recalibrate"] == resolved


def test_an_unknown_recalibrate_is_refused(s3: Any) -> None:
    prepared = _prepare(s3, {"cities": ["Sydney"], "recalibrate": "yes please"}, "exec-bad")
    assert prepared == {
        "ok": False,
        "error": "InvalidRequest",
        "message": "recalibrate 'yes please' is not one of auto, history, none",
    }
