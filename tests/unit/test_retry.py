"""The retry policy every provider request goes through (raincast.retry), the provider
base's cache (raincast.providers) and the template checks that keep the state machine's
retries and the functions' Timeouts in step with it."""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import pytest

from raincast import lambda_adapter
from raincast.errors import ProviderError, ProviderRateLimited, ProviderUnavailable
from raincast.geocoding import GEOCODERS
from raincast.http import DEFAULT_TIMEOUT
from raincast.pipeline.records import InvalidRequest, RunSettings
from raincast.retry import RetryPolicy, batch_worst_case_seconds, call_with_retries
from raincast_cli.template_checks import (
    check_crash_retries,
    check_provider_timeouts,
    template_body,
)

ROOT = Path(__file__).resolve().parents[2]


class Flaky:
    """Fails with ``errors`` in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


def test_retry_after_is_waited_for_and_backoff_has_full_jitter() -> None:
    slept: list[float] = []
    flaky = Flaky(
        ProviderRateLimited("p", "429", retry_after=2.0),
        ProviderUnavailable("p", "503"),
        ProviderUnavailable("p", "503"),
    )
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert call_with_retries(flaky, policy, None, rng=random.Random(1), sleep=slept.append) == (
        "answer"
    )
    assert flaky.calls == 4
    assert 2.0 <= slept[0] <= 2.5  # Retry-After, plus a little jitter
    assert 0 <= slept[1] <= 1.0 and 0 <= slept[2] <= 2.0  # full jitter: [0, base * 2**(n-1)]


def test_attempts_are_bounded_and_final_errors_are_not_retried() -> None:
    flaky = Flaky(*[ProviderUnavailable("p", "503")] * 10)
    with pytest.raises(ProviderUnavailable):
        call_with_retries(flaky, RetryPolicy(max_attempts=3), None, sleep=lambda s: None)
    assert flaky.calls == 3
    final = Flaky(ProviderError("p", "HTTP 401"))
    with pytest.raises(ProviderError):
        call_with_retries(final, RetryPolicy(), None, sleep=lambda s: None)
    assert final.calls == 1


def test_no_retry_outlasts_the_deadline_or_a_too_long_retry_after() -> None:
    slept: list[float] = []
    # A Retry-After that would end after the deadline: give up now, do not sleep.
    flaky = Flaky(ProviderRateLimited("p", "429", retry_after=5.0))
    with pytest.raises(ProviderRateLimited):
        call_with_retries(flaky, RetryPolicy(), time.monotonic() + 3.0, sleep=slept.append)
    assert slept == [] and flaky.calls == 1
    # One longer than the policy allows, even without a deadline.
    flaky = Flaky(ProviderRateLimited("p", "429", retry_after=3600.0))
    with pytest.raises(ProviderRateLimited):
        call_with_retries(flaky, RetryPolicy(), None, sleep=slept.append)
    assert slept == []
    # A deadline already passed: not even one request.
    never = Flaky()
    with pytest.raises(ProviderError, match="out of time"):
        call_with_retries(never, RetryPolicy(), time.monotonic() - 1, sleep=slept.append)
    assert never.calls == 0


def test_worst_cases() -> None:
    policy = RetryPolicy()
    assert policy.worst_case_seconds(DEFAULT_TIMEOUT) == pytest.approx(60 + 13.05)
    assert batch_worst_case_seconds(policy, DEFAULT_TIMEOUT) == pytest.approx(4 * 73.05)
    assert RetryPolicy(max_attempts=1).worst_case_seconds((1.0, 2.0)) == 3.0


def test_the_lambda_deadline_keeps_a_reserve() -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    left = lambda_adapter.deadline(Context()) - time.monotonic()
    assert 30 - lambda_adapter.RESERVE_SECONDS - 0.5 < left <= 30 - lambda_adapter.RESERVE_SECONDS
    assert lambda_adapter.deadline(object()) is None


def test_one_registry_names_the_providers_everywhere() -> None:
    assert list(GEOCODERS) == ["geonames", "open-meteo", "locationiq"]
    assert "google" not in GEOCODERS and "open_meteo" in GEOCODERS and "OpenMeteo" in GEOCODERS
    settings = RunSettings.from_dict(
        {"run_id": "r", "date": "2026-01-01", "geocoder": "open_meteo"}
    )
    assert settings.geocoder == "open-meteo"
    with pytest.raises(InvalidRequest, match="choose one of geonames, open-meteo, locationiq"):
        RunSettings.from_dict({"run_id": "r", "date": "2026-01-01", "geocoder": "google"})


def test_answers_are_cached_errors_are_not() -> None:
    from raincast.geocoding.base import Geocoder, GeocodeResult, Query

    class Counting(Geocoder):
        name = "counting"

        def __init__(self) -> None:
            super().__init__(retry=RetryPolicy(max_attempts=1))
            self.calls = 0

        def _geocode(self, query: Query) -> GeocodeResult:
            self.calls += 1
            if query.name == "Down":
                raise ProviderUnavailable("counting", "503")
            return self._not_found(query, "not found: nowhere")

    geocoder = Counting()
    assert geocoder.geocode(" Atlantis ").reason == "not found: nowhere"
    assert geocoder.geocode("Atlantis").query == "Atlantis"
    assert geocoder.calls == 1
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            geocoder.geocode("Down")
    assert geocoder.calls == 3
    assert geocoder.geocode("").reason == "empty query" and geocoder.calls == 3


def test_cached_answers_expire_after_the_providers_max_age() -> None:
    """A warm Lambda keeps its providers between invocations: an online weather answer for
    today must not be served from the morning's cache in the evening's run."""
    from raincast.geocoding.base import Geocoder, GeocodeResult, Query
    from raincast.geocoding.geonames import GeoNamesGeocoder
    from raincast.geocoding.http import HttpGeocoder
    from raincast.weather.open_meteo import OpenMeteoWeather
    from raincast.weather.replay import ReplayWeather

    class Counting(Geocoder):
        name = "counting"

        def __init__(self, max_age: float | None) -> None:
            super().__init__(retry=RetryPolicy(max_attempts=1), cache_max_age=max_age)
            self.calls = 0

        def _geocode(self, query: Query) -> GeocodeResult:
            self.calls += 1
            return self._not_found(query, "not found")

    short = Counting(max_age=0.2)
    short.geocode("Atlantis")
    short.geocode("Atlantis")
    assert short.calls == 1
    time.sleep(0.3)
    short.geocode("Atlantis")
    assert short.calls == 2
    forever = Counting(max_age=None)
    forever.geocode("Atlantis")
    time.sleep(0.3)
    forever.geocode("Atlantis")
    assert forever.calls == 1
    # online answers age; the offline data never changes under a running environment
    assert OpenMeteoWeather.cache_max_age == 15 * 60
    assert HttpGeocoder.cache_max_age == 24 * 3600
    assert ReplayWeather.cache_max_age is None and GeoNamesGeocoder.cache_max_age is None


def _definition_without(error: str) -> dict:
    definition = json.loads((ROOT / "statemachine" / "forecast.asl.json").read_text())
    weather = definition["States"]["ForecastCities"]["ItemProcessor"]["States"]["Weather"]
    for retrier in weather["Retry"]:
        retrier["ErrorEquals"] = [e for e in retrier["ErrorEquals"] if e != error]
    return definition


@pytest.mark.parametrize("error", ["Runtime.ExitError", "States.Timeout", "Lambda.Unknown"])
def test_template_checks_find_a_task_that_does_not_retry_a_crash(tmp_path, error) -> None:
    template = template_body(ROOT / "template.yaml")
    assert check_crash_retries(template, ROOT) == []
    (tmp_path / "statemachine").mkdir()
    (tmp_path / "statemachine" / "forecast.asl.json").write_text(
        json.dumps(_definition_without(error))
    )
    assert check_crash_retries(template, tmp_path) == [
        f"ForecastStateMachine.Weather: does not retry {error}"
    ]


def test_template_checks_find_a_provider_timeout_shorter_than_the_retry_budget() -> None:
    template = template_body(ROOT / "template.yaml")
    assert check_provider_timeouts(template) == []
    short = copy.deepcopy(template)
    short["Resources"]["GeocodeFunction"]["Properties"]["Timeout"] = 180
    (problem,) = check_provider_timeouts(short)
    assert problem.startswith("GeocodeFunction: Timeout 180 s is shorter than a batch's worst")
