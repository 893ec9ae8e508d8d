"""``OpenMeteoWeather.history`` against the fake Open-Meteo archive
(tests/fakes/provider_server.py): a year at a place is one request, answered with every day
of it from the replay data (real station observations, so the days vary like weather),
and the fake's faults are retried where they happen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fakes.provider_server import FakeProviderServer, FaultProfile

from raincast.retry import RetryPolicy
from raincast.weather.base import HistoryResult
from raincast.weather.open_meteo import OpenMeteoWeather
from raincast.weather.replay import ReplayWeather

# The Predict step's period for a forecast of 2026-11-20: the 365 days ending 7 days before.
END = dt.date(2026, 11, 13)
START = END - dt.timedelta(days=364)
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)
SYDNEY = (-33.8688, 151.2093)
ALICE_SPRINGS = (-23.6980, 133.8807)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


def year_at(fake: FakeProviderServer, lat: float, lon: float) -> HistoryResult:
    source = OpenMeteoWeather(archive_url=fake.url + "/v1/archive", retry=FAST)
    return source.history(lat, lon, START, END)


def rain_rate(result: HistoryResult) -> float:
    """How often it rained (more than 1 mm), over the days with a rainfall."""
    rained = [o.rain_today for o in result.observations if o.rainfall is not None]
    return sum(rained) / len(rained)


@pytest.mark.parametrize("place", [SYDNEY, ALICE_SPRINGS], ids=["Sydney", "Alice Springs"])
def test_a_year_of_history_is_every_day_and_varies_like_weather(fake, place) -> None:
    fake.reset(FaultProfile())
    result = year_at(fake, *place)
    assert fake.stats.paths == {"/v1/archive": 1}  # one request for the year
    days = [o.date for o in result.observations]
    assert days == sorted(set(days)) and days[0] >= START and days[-1] <= END
    assert len(days) >= 355  # a day no station near has is left out
    assert sum(o.rainfall is not None for o in result.observations) >= 350
    # Rain days and dry days: the outcome the recalibration sets the forecasts against.
    assert 0.05 < rain_rate(result) < 0.6
    assert len({o.max_temp for o in result.observations}) > 50


def test_each_day_is_the_stations_own_day_of_a_covered_year(fake) -> None:
    fake.reset(FaultProfile())
    result = year_at(fake, *SYDNEY)
    replay = ReplayWeather()
    # The replay data end on 2016-06-30: the year ending 2026-11-13 is moved back 11 years
    # (to end 2015-11-13), whole years, so each day keeps its calendar day and season.
    for observation in result.observations:
        shifted = observation.date.replace(year=observation.date.year - 11)
        replayed = replay.observe(*SYDNEY, shifted).observation
        assert replayed is not None and replayed.source["station"] in ("Sydney", "SydneyAirport")
        assert observation.values() == replayed.values(), observation.date


def test_observe_still_gets_the_recorded_day(fake) -> None:
    """One or two days (observe's request) keep the recorded Sydney forecast, re-dated:
    the fault tests and benchmarks/fault_bench.py rely on it."""
    fake.reset(FaultProfile())
    source = OpenMeteoWeather(url=fake.url + "/v1/forecast", archive_url=fake.url + "/v1/archive")
    for day in (dt.date(2015, 6, 1), dt.date.today()):  # the archive, the forecast API
        result = source.observe(*ALICE_SPRINGS, day)
        assert result.observation is not None and result.previous is not None
        assert (result.observation.rainfall, result.observation.max_temp) == (3.4, 25.8)
    assert fake.stats.paths == {"/v1/archive": 1, "/v1/forecast": 1}


def test_a_history_is_retried_through_5xx_and_429(fake) -> None:
    # Seed 3 draws a 5xx, then a 429, then an answer.
    fake.reset(FaultProfile(error_rate=0.3, rate_limit_rate=0.3, retry_after=0.1, seed=3))
    result = year_at(fake, *SYDNEY)
    assert fake.stats.outcomes["5xx"] >= 1 and fake.stats.outcomes["429"] >= 1
    assert fake.stats.outcomes["ok"] == 1 and fake.stats.paths == {"/v1/archive": 3}
    assert len(result.observations) >= 355 and 0.05 < rain_rate(result) < 0.6


def test_a_stalled_history_is_retried(fake) -> None:
    fake.reset(FaultProfile(timeout_rate=0.5, stall_seconds=2.0, seed=1))  # a stall, an answer
    source = OpenMeteoWeather(archive_url=fake.url + "/v1/archive", retry=FAST, timeout=1.0)
    result = source.history(*SYDNEY, START, END)
    assert fake.stats.outcomes["stall"] >= 1 and len(result.observations) >= 355
