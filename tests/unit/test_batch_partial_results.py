"""One failing provider request must not fail a whole batch (issue 10): the request is
retried where it fails, and a city whose request finally fails gets its own reason while
the rest of the batch is forecast. The provider is only "down" (the batch raises, for the
state machine's retry) when no request of the batch succeeded."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from raincast.errors import ProviderUnavailable
from raincast.geocoding.open_meteo import OpenMeteoGeocoder
from raincast.pipeline.records import Batch
from raincast.pipeline.steps import geocode_batch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "geocoding"
URL = "https://geocoding-api.open-meteo.com/v1/search"
CITIES = [f"Town{i:02d}" for i in range(25)]


def batch() -> Batch:
    items = [
        {"index": i, "line": i + 2, "city": city, "country": None, "lat": None, "lon": None,
         "status": "ok", "reason": None}
        for i, city in enumerate(CITIES)
    ]  # fmt: skip
    return Batch.from_event(
        {"Items": items, "BatchInput": {"run_id": "r1", "date": "2026-11-20",
                                        "geocoder": "open-meteo", "weather": "open-meteo"}}
    )  # fmt: skip


def answer_for(name: str) -> dict:
    body = json.loads((FIXTURES / "open_meteo_wagga_wagga.json").read_text(encoding="utf-8"))
    body["results"][0]["name"] = name
    return body


def install(fail: dict[str, list[int]]) -> None:
    """Answers every search with the recorded shape; ``fail[name]`` lists the statuses the
    first requests for that name get before the normal answer."""
    remaining = {name: list(statuses) for name, statuses in fail.items()}

    def callback(request):
        name = parse_qs(urlsplit(request.url).query)["name"][0]
        if remaining.get(name):
            status = remaining[name].pop(0)
            headers = {"Retry-After": "0"} if status == 429 else {}
            return status, headers, json.dumps({"error": True, "reason": "flaky"})
        return 200, {}, json.dumps(answer_for(name))

    responses.add_callback(responses.GET, URL, callback=callback)


def geocoder() -> OpenMeteoGeocoder:
    from raincast.retry import RetryPolicy

    return OpenMeteoGeocoder(retry=RetryPolicy(base_delay=0.01, max_delay=0.02))


@responses.activate
def test_one_5xx_and_one_429_in_a_batch_are_retried_and_every_city_is_placed() -> None:
    install({"Town03": [503], "Town17": [429, 502]})
    out = geocode_batch(batch(), geocoder())
    assert [i["status"] for i in out.items] == ["ok"] * 25, [i["reason"] for i in out.items]
    assert [i["place"]["name"] for i in out.items] == CITIES


@responses.activate
def test_a_request_that_keeps_failing_fails_only_its_city_with_a_reason() -> None:
    install({"Town05": [503] * 50})
    out = geocode_batch(batch(), geocoder())
    failed = [i for i in out.items if i["status"] == "error"]
    assert [i["city"] for i in failed] == ["Town05"]
    assert failed[0]["reason"].startswith("geocoder failed: open-meteo: server error HTTP 503")
    assert sum(i["status"] == "ok" for i in out.items) == 24


@responses.activate
def test_a_provider_that_is_down_for_the_whole_batch_raises_for_the_state_machine() -> None:
    install({city: [503] * 50 for city in CITIES})
    with pytest.raises(ProviderUnavailable):
        geocode_batch(batch(), geocoder())


def test_a_city_with_impossible_coordinates_fails_alone() -> None:
    from raincast.pipeline.steps import weather_batch
    from raincast.weather.replay import ReplayWeather

    event = batch().to_event()
    event["batch"]["weather"] = "replay"
    event["batch"]["date"] = "2016-06-01"
    sydney = {"name": "Sydney", "lat": -33.87, "lon": 151.21}
    event["items"] = [
        {**event["items"][0], "city": "Sydney", "place": sydney},
        {**event["items"][1], "city": "Nowhere", "place": {**sydney, "lat": 95.0}},
    ]
    out = weather_batch(Batch.from_event(event), ReplayWeather())
    assert out.items[0]["status"] == "ok" and out.items[0]["observation"]
    assert out.items[1]["status"] == "error"
    assert (
        out.items[1]["reason"] == "weather source failed: latitude 95.0 is not between -90 and 90"
    )
