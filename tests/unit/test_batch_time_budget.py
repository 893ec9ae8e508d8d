"""A batch's provider lookups end in time for its child workflow to finish: the
Distributed Map's children are Express executions, which AWS stops at 5 minutes, so a batch
that is still retrying a failing provider at minute five loses every city it had already
forecast (the whole child fails). Geocode's Parameters hand each batch the child's
``$$.Execution.StartTime``; the lookups of Geocode and Weather together end
``LOOKUP_BUDGET_SECONDS`` after it, and once too little of that budget is left for the state
machine's own retry to help, a provider that is down fails the batch's cities with a reason
instead of failing the step (whose retry would outlast the child)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
import responses

from raincast.errors import ProviderUnavailable
from raincast.geocoding.open_meteo import OpenMeteoGeocoder
from raincast.pipeline.records import LOOKUP_BUDGET_SECONDS, Batch, InvalidRequest
from raincast.pipeline.steps import RETRY_LATER_SECONDS, geocode_batch
from raincast.retry import RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
URL = "https://geocoding-api.open-meteo.com/v1/search"
CITIES = [f"Town{i:02d}" for i in range(5)]


def batch(started_seconds_ago: float | None) -> Batch:
    items = [
        {"index": i, "line": i + 2, "city": city, "country": None, "lat": None, "lon": None,
         "status": "ok", "reason": None}
        for i, city in enumerate(CITIES)
    ]  # fmt: skip
    event: dict = {
        "Items": items,
        "BatchInput": {"run_id": "r1", "date": "2026-11-20", "geocoder": "open-meteo"},
    }
    if started_seconds_ago is not None:
        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=started_seconds_ago)
        event["started_at"] = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Batch.from_event(event)


def geocoder() -> OpenMeteoGeocoder:
    return OpenMeteoGeocoder(retry=RetryPolicy(base_delay=0.01, max_delay=0.02))


def provider_down() -> None:
    responses.add(responses.GET, URL, status=503, json={"error": True})


@responses.activate
def test_early_in_the_budget_a_provider_that_is_down_still_fails_the_step_for_a_retry() -> None:
    provider_down()
    with pytest.raises(ProviderUnavailable):
        geocode_batch(batch(started_seconds_ago=5), geocoder())


@responses.activate
def test_late_in_the_budget_a_provider_that_is_down_fails_the_cities_not_the_step() -> None:
    provider_down()
    late = LOOKUP_BUDGET_SECONDS - RETRY_LATER_SECONDS + 1
    out = geocode_batch(batch(started_seconds_ago=late), geocoder())
    assert [i["status"] for i in out.items] == ["error"] * len(CITIES)
    assert all("open-meteo" in i["reason"] for i in out.items), [i["reason"] for i in out.items]


@responses.activate
def test_past_the_budget_nothing_is_asked_and_every_city_says_why() -> None:
    responses.add(responses.GET, URL, status=200, json={"results": []})
    out = geocode_batch(batch(started_seconds_ago=LOOKUP_BUDGET_SECONDS + 1), geocoder())
    assert len(responses.calls) == 0
    assert [i["status"] for i in out.items] == ["error"] * len(CITIES)
    assert all("out of time" in i["reason"] for i in out.items), [i["reason"] for i in out.items]


def test_the_lookup_deadline_is_the_earlier_of_the_invocation_and_the_batch_budget() -> None:
    fresh = batch(started_seconds_ago=0)
    now = time.monotonic()
    budget_end = fresh.lookup_deadline()
    assert budget_end is not None
    assert abs(budget_end - (now + LOOKUP_BUDGET_SECONDS)) < 2
    assert fresh.lookup_deadline(now + 10) == pytest.approx(now + 10)
    assert batch(started_seconds_ago=None).lookup_deadline(now + 10) == now + 10
    assert batch(started_seconds_ago=None).lookup_deadline() is None


def test_started_at_travels_with_the_batch_to_the_next_step() -> None:
    first = batch(started_seconds_ago=3)
    again = Batch.from_event(json.loads(json.dumps(first.to_event())))
    assert again.started_at == first.started_at is not None


def test_a_started_at_that_is_not_a_time_is_a_clear_error() -> None:
    event = batch(None).to_event()
    event["batch"]["started_at"] = "soon"
    with pytest.raises(InvalidRequest, match="started_at"):
        Batch.from_event(event)


def test_the_definition_hands_geocode_the_child_workflows_start_time() -> None:
    definition = json.loads((ROOT / "statemachine" / "forecast.asl.json").read_text())
    processor = definition["States"]["ForecastCities"]["ItemProcessor"]
    assert processor["ProcessorConfig"]["ExecutionType"] == "EXPRESS"
    first = processor["States"][processor["StartAt"]]
    assert first["Parameters"]["Payload"]["started_at.$"] == "$$.Execution.StartTime"


def test_template_checks_keep_the_express_child_under_five_minutes(tmp_path) -> None:
    import copy

    from raincast_cli.template_checks import check_express_children, template_body

    template = template_body(ROOT / "template.yaml")
    assert check_express_children(template, ROOT) == []
    slow = copy.deepcopy(template)
    slow["Resources"]["StoreFunction"]["Properties"]["Timeout"] = 120
    (problem,) = check_express_children(slow, ROOT)
    assert "ForecastCities: an Express child can run 325 s" in problem

    definition = json.loads((ROOT / "statemachine" / "forecast.asl.json").read_text())
    geocode = definition["States"]["ForecastCities"]["ItemProcessor"]["States"]["Geocode"]
    geocode["Parameters"] = {"FunctionName": "${GeocodeFunctionArn}", "Payload.$": "$"}
    (tmp_path / "statemachine").mkdir()
    (tmp_path / "statemachine" / "forecast.asl.json").write_text(json.dumps(definition))
    (problem,) = check_express_children(template, tmp_path)
    assert "does not pass" in problem and "started_at" in problem
