import datetime as dt
import json
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from raincast.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RetryableProviderError,
)
from raincast.retry import RetryPolicy
from raincast.weather import get_weather_source
from raincast.weather.base import WeatherResult
from raincast.weather.open_meteo import (
    FORECAST_URL,
    OpenMeteoWeather,
    cloud_oktas,
    compass_degrees,
    sunshine_hours,
)

# Retries without waiting (a 429's Retry-After above 0 s ends the retries at once).
FAST = RetryPolicy(base_delay=0.001, max_delay=0.002, max_retry_after=0.0)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "open_meteo"
SYDNEY = (-33.8688, 151.2093)
PERTH = (-31.9523, 115.8613)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@responses.activate
def test_request_asks_for_the_documented_parameters():
    responses.get(
        FORECAST_URL,
        json=fixture("forecast_sydney_2026-11-20.json"),
        match=[
            matchers.query_param_matcher(
                {
                    "latitude": "-33.8688",
                    "longitude": "151.2093",
                    "start_date": "2026-11-19",
                    "end_date": "2026-11-20",
                    "timezone": "auto",
                    "hourly": "temperature_2m,relative_humidity_2m,pressure_msl,cloud_cover,"
                    "wind_speed_10m,wind_direction_10m",
                    "daily": "temperature_2m_max,temperature_2m_min,precipitation_sum,"
                    "sunshine_duration,wind_gusts_10m_max,wind_direction_10m_dominant",
                    "wind_speed_unit": "kmh",
                }
            )
        ],
    )
    assert OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20)).found


@responses.activate
def test_sydney_response_maps_into_weatheraus_units():
    responses.get(FORECAST_URL, json=fixture("forecast_sydney_2026-11-20.json"))
    result = OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))
    assert result.found and result.provider == "open-meteo" and result.reason is None
    obs = result.observation
    assert obs.date == dt.date(2026, 11, 20)
    # Daily aggregates.
    assert (obs.min_temp, obs.max_temp, obs.rainfall) == (18.2, 25.8, 3.4)
    assert obs.sunshine == 8.42  # 30294.51 s
    assert obs.wind_gust_speed == 55.1
    assert obs.wind_gust_dir == 202.5  # dominant direction 203 deg -> SSW
    assert obs.rain_today is True
    # 09:00 and 15:00 local time (hourly index 9 and 15).
    assert (obs.temp_9am, obs.temp_3pm) == (22.8, 21.7)
    assert (obs.humidity_9am, obs.humidity_3pm) == (68.0, 74.0)
    assert (obs.pressure_9am, obs.pressure_3pm) == (1012.6, 1013.4)
    assert (obs.wind_speed_9am, obs.wind_speed_3pm) == (13.0, 31.3)
    assert (obs.wind_dir_9am, obs.wind_dir_3pm) == (0.0, 180.0)  # 355 -> N, 191 -> S
    assert (obs.cloud_9am, obs.cloud_3pm) == (0.0, 8.0)  # 6 % and 100 %
    assert obs.source == {
        "provider": "open-meteo",
        "grid_lat": -33.875,
        "grid_lon": 151.25,
        "elevation": 37.0,
        "timezone": "Australia/Sydney",
        "utc_offset_seconds": 39600,
        "distance_km": pytest.approx(3.82, abs=0.01),  # 0.7 km N-S, 3.8 km E-W
    }


def two_days(body: dict, day: str, before: str) -> dict:
    """The one-day answer with a day before it, as the API answers for start_date = the day
    before: every hourly and daily series twice (the copy for the day before with other
    pressures, so the two days can be told apart)."""
    out = json.loads(json.dumps(body))
    for key in ("hourly", "daily"):
        block = out[key]
        first = {name: list(values) for name, values in block.items()}
        first["time"] = [t.replace(day, before) for t in block["time"]]
        if "pressure_msl" in first:
            first["pressure_msl"] = [None if v is None else v + 5.0 for v in first["pressure_msl"]]
        for name in block:
            block[name] = first[name] + block[name]
    return out


@responses.activate
def test_the_day_before_becomes_previous():
    body = two_days(fixture("forecast_sydney_2026-11-20.json"), "2026-11-20", "2026-11-19")
    responses.get(FORECAST_URL, json=body)
    result = OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))
    obs, before = result.observation, result.previous
    assert obs.date == dt.date(2026, 11, 20) and before.date == dt.date(2026, 11, 19)
    assert (obs.pressure_9am, obs.pressure_3pm) == (1012.6, 1013.4)
    assert (before.pressure_9am, before.pressure_3pm) == (1017.6, 1018.4)
    assert before.rainfall == obs.rainfall and before.source == obs.source
    assert WeatherResult.from_dict(result.to_dict()) == result


@responses.activate
def test_an_answer_without_the_day_before_has_no_previous():
    responses.get(FORECAST_URL, json=fixture("forecast_sydney_2026-11-20.json"))
    result = OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))
    assert result.found and result.previous is None
    assert result.to_dict()["previous"] is None


@responses.activate
def test_nulls_are_missing_values_not_errors():
    responses.get(FORECAST_URL, json=fixture("forecast_perth_2026-11-21.json"))
    obs = OpenMeteoWeather(retry=FAST).observe(*PERTH, dt.date(2026, 11, 21)).observation
    assert obs.sunshine is None
    assert obs.cloud_3pm is None
    assert obs.cloud_9am == 0.0
    assert obs.rainfall == 0.0 and obs.rain_today is False
    assert (obs.temp_9am, obs.temp_3pm) == (22.3, 29.1)
    assert obs.wind_gust_dir == 247.5  # 249 -> WSW
    assert obs.source["timezone"] == "Australia/Perth"


@responses.activate
def test_date_out_of_range_is_a_not_found_result_with_the_reason():
    responses.get(FORECAST_URL, json=fixture("error_start_date_out_of_range.json"), status=400)
    result = OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date.today() + dt.timedelta(days=40))
    assert not result.found
    assert result.reason == (
        "open-meteo: Parameter 'start_date' is out of allowed range from 2026-08-28 to 2026-12-14"
    )


@responses.activate
def test_other_400_reasons_are_not_found_too():
    responses.get(FORECAST_URL, json=fixture("error_bad_parameter.json"), status=400)
    result = OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))
    assert not result.found and "WindSpeedUnit" in result.reason


@responses.activate
@pytest.mark.parametrize(
    "status, error",
    [(429, ProviderRateLimited), (500, ProviderUnavailable), (502, ProviderUnavailable),
     (503, ProviderUnavailable)],
)  # fmt: skip
def test_http_failures_are_typed_retryable_errors(status, error):
    responses.get(FORECAST_URL, body="busy", status=status, headers={"Retry-After": "7"})
    with pytest.raises(error) as info:
        OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))
    assert isinstance(info.value, RetryableProviderError)
    if status == 429:
        assert info.value.retry_after == 7.0
        assert len(responses.calls) == 1  # Retry-After beyond the allowance: no retry
    else:
        assert len(responses.calls) == FAST.max_attempts  # retried where it failed


@responses.activate
def test_timeout_and_connection_failure():
    responses.get(FORECAST_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ProviderTimeout):
        OpenMeteoWeather(timeout=0.5, retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))
    responses.replace(responses.GET, FORECAST_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(ProviderUnavailable):
        OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))


@responses.activate
@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda body: body.pop("daily"), "no 'daily' object"),
        (lambda body: body["hourly"].pop("pressure_msl"), "hourly.pressure_msl is missing"),
        (lambda body: body["hourly_units"].update(wind_speed_10m="mp/h"), "expected 'km/h'"),
        (lambda body: body["daily"]["temperature_2m_max"].__setitem__(0, "hot"), "not a number"),
    ],
)
def test_malformed_answers_are_final_errors(mutate, message):
    body = fixture("forecast_sydney_2026-11-20.json")
    mutate(body)
    responses.get(FORECAST_URL, json=body)
    with pytest.raises(ProviderError, match=message) as info:
        OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))
    assert not isinstance(info.value, RetryableProviderError)


@responses.activate
def test_non_json_answer_is_a_final_error():
    responses.get(FORECAST_URL, body="<html>gateway</html>", status=200)
    with pytest.raises(ProviderError, match="not JSON"):
        OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20))


@responses.activate
def test_answer_for_another_day_is_not_found():
    responses.get(FORECAST_URL, json=fixture("forecast_sydney_2026-11-20.json"))
    result = OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 21))
    assert not result.found and "no daily values for 2026-11-21" in result.reason


def test_unit_conversions():
    assert [cloud_oktas(p) for p in (0, 6, 6.25, 7, 50, 93.75, 100, None)] == [
        0.0, 0.0, 0.0, 1.0, 4.0, 8.0, 8.0, None,
    ]  # fmt: skip
    assert [compass_degrees(d) for d in (0, 11, 12, 355, 359.9, 180, None)] == [
        0.0, 0.0, 22.5, 0.0, 0.0, 180.0, None,
    ]  # fmt: skip
    assert sunshine_hours(3600) == 1.0 and sunshine_hours(None) is None


def test_factory_builds_open_meteo_with_config():
    source = get_weather_source("open-meteo", timeout=2.5)
    assert isinstance(source, OpenMeteoWeather) and source.timeout == 2.5


@responses.activate
def test_days_older_than_the_forecast_api_keeps_come_from_the_archive():
    from raincast.weather.open_meteo import ARCHIVE_URL, FORECAST_PAST_DAYS

    # The archive answers in the forecast API's shape (same variables, same units).
    responses.get(ARCHIVE_URL, json=fixture("forecast_sydney_2026-11-20.json"))
    source = OpenMeteoWeather(retry=FAST)
    today = dt.date(2027, 6, 1)
    assert source.url_for(today - dt.timedelta(days=FORECAST_PAST_DAYS), today) == FORECAST_URL
    assert source.url_for(today - dt.timedelta(days=FORECAST_PAST_DAYS + 1), today) == ARCHIVE_URL
    old = source.observe(*SYDNEY, dt.date(2015, 6, 1))
    assert len(responses.calls) == 1
    assert responses.calls[0].request.url.startswith(ARCHIVE_URL + "?")
    # from the day before (the model reads it as WeatherResult.previous) to the day itself
    assert "start_date=2015-05-31&end_date=2015-06-01" in responses.calls[0].request.url
    assert not old.found  # the recording is for another day: no daily values for 2015-06-01
    assert "no daily values for 2015-06-01" in old.reason


# -- history: the archive API --------------------------------------------------------------

MELBOURNE = (-37.8136, 144.9631)
ARCHIVE_FIXTURE = "archive_melbourne_2026-11-24_2026-11-28.json"
HISTORY_START, HISTORY_END = dt.date(2026, 11, 24), dt.date(2026, 11, 28)


def history(source: OpenMeteoWeather, start=HISTORY_START, end=HISTORY_END):
    return source.history(*MELBOURNE, start, end)


def test_open_meteo_asks_for_history_recalibration():
    assert OpenMeteoWeather.history_recalibration is True


@responses.activate
def test_history_asks_the_archive_for_the_period():
    from raincast.weather.open_meteo import ARCHIVE_URL

    # Only the archive is served: a request anywhere else fails the lookup. The period is
    # recent (the forecast API would serve it too): a history still goes to the archive.
    responses.get(
        ARCHIVE_URL,
        json=fixture(ARCHIVE_FIXTURE),
        match=[
            matchers.query_param_matcher(
                {
                    "latitude": "-37.8136",
                    "longitude": "144.9631",
                    "start_date": "2026-11-24",
                    "end_date": "2026-11-28",
                    "timezone": "auto",
                    "hourly": "temperature_2m,relative_humidity_2m,pressure_msl,cloud_cover,"
                    "wind_speed_10m,wind_direction_10m",
                    "daily": "temperature_2m_max,temperature_2m_min,precipitation_sum,"
                    "sunshine_duration,wind_gusts_10m_max,wind_direction_10m_dominant",
                    "wind_speed_unit": "kmh",
                }
            )
        ],
    )
    result = history(OpenMeteoWeather(retry=FAST))
    assert result.found and result.provider == "open-meteo" and result.reason is None
    assert (result.lat, result.lon) == MELBOURNE
    assert (result.start, result.end) == (HISTORY_START, HISTORY_END)
    assert len(responses.calls) == 1


@responses.activate
def test_history_uses_the_configured_archive_url():
    responses.get("http://archive.test/v1/archive", json=fixture(ARCHIVE_FIXTURE))
    source = OpenMeteoWeather(archive_url="http://archive.test/v1/archive", retry=FAST)
    assert history(source).found
    assert responses.calls[0].request.url.startswith("http://archive.test/v1/archive?")


@responses.activate
def test_history_maps_every_day_as_observe_does():
    from raincast.weather.open_meteo import ARCHIVE_URL

    body = fixture(ARCHIVE_FIXTURE)
    responses.get(ARCHIVE_URL, json=body)
    responses.get(FORECAST_URL, json=body)  # observe asks the forecast API for recent days
    source = OpenMeteoWeather(retry=FAST)
    days = history(source).observations
    assert [o.date for o in days] == [dt.date(2026, 11, d) for d in (24, 25, 26, 27)]
    for observation in days:
        observed = source.observe(*MELBOURNE, observation.date)
        assert observation == observed.observation  # every value (the source: below)
        assert observation.source == observed.observation.source
        if observed.previous is not None:  # each day's previous is the history's day before
            assert observed.previous == days[days.index(observation) - 1]
    # The day of the change, in weatherAUS units.
    change = days[2]
    assert (change.min_temp, change.max_temp, change.rainfall) == (11.7, 20.1, 12.6)
    assert change.rain_today is True and days[3].rain_today is False  # 0.8 mm is not rain
    assert change.sunshine == 1.67  # 6012.4 s
    assert (change.wind_gust_speed, change.wind_gust_dir) == (61.9, 225.0)  # 231 -> SW
    assert (change.temp_9am, change.temp_3pm) == (14.9, 14.2)
    assert (change.humidity_9am, change.humidity_3pm) == (93.0, 90.0)
    assert (change.pressure_9am, change.pressure_3pm) == (1013.5, 1015.8)
    assert (change.cloud_9am, change.cloud_3pm) == (8.0, 8.0)
    assert (change.wind_speed_9am, change.wind_speed_3pm) == (25.1, 26.7)
    assert (change.wind_dir_9am, change.wind_dir_3pm) == (225.0, 225.0)  # 228, 224 -> SW
    assert days[1].wind_dir_9am == 0.0  # 2 deg -> N
    assert change.source == {
        "provider": "open-meteo",
        "grid_lat": -37.8,
        "grid_lon": 144.9,
        "elevation": 31.0,
        "timezone": "Australia/Melbourne",
        "utc_offset_seconds": 39600,
        "distance_km": pytest.approx(5.75, abs=0.01),  # 1.5 km N-S, 5.5 km E-W
    }


@responses.activate
def test_days_the_archive_does_not_have_yet_are_left_out():
    from raincast.weather.open_meteo import ARCHIVE_URL

    body = fixture(ARCHIVE_FIXTURE)
    body["daily"]["sunshine_duration"][3] = None  # one null value: the day stays
    responses.get(ARCHIVE_URL, json=body)
    # 2026-11-23 is not in the answer at all; 2026-11-28 is all nulls (the archive's lag).
    result = history(OpenMeteoWeather(retry=FAST), start=dt.date(2026, 11, 23))
    assert [o.date.day for o in result.observations] == [24, 25, 26, 27]
    assert result.observations[-1].sunshine is None
    assert result.observations[-1].rainfall == 0.8
    assert all(o.rainfall is not None for o in result.observations)


@responses.activate
def test_an_answer_of_null_days_only_is_no_history():
    from raincast.weather.open_meteo import ARCHIVE_URL, DAILY_VARIABLES

    body = fixture(ARCHIVE_FIXTURE)
    for variable in DAILY_VARIABLES:
        body["daily"][variable] = [None] * len(body["daily"]["time"])
    responses.get(ARCHIVE_URL, json=body)
    result = history(OpenMeteoWeather(retry=FAST))
    assert not result.found and result.observations == ()
    assert result.reason == "no observations from 2026-11-24 to 2026-11-28"


@responses.activate
def test_a_400_reason_is_no_history_with_the_reason():
    from raincast.weather.open_meteo import ARCHIVE_URL

    reason = "Parameter 'end_date' is out of allowed range from 1940-01-01 to 2026-11-28"
    responses.get(ARCHIVE_URL, json={"reason": reason, "error": True}, status=400)
    result = history(OpenMeteoWeather(retry=FAST), end=dt.date(2026, 12, 10))
    assert not result.found and result.observations == ()
    assert result.reason == f"open-meteo: {reason}"
    assert result.provider == "open-meteo" and result.end == dt.date(2026, 12, 10)
    assert len(responses.calls) == 1  # a final answer: not retried


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 503])
def test_history_is_retried_where_the_archive_fails(status):
    from raincast.weather.open_meteo import ARCHIVE_URL

    responses.get(ARCHIVE_URL, body="busy", status=status, headers={"Retry-After": "0"})
    responses.get(ARCHIVE_URL, body="busy", status=status, headers={"Retry-After": "0"})
    responses.get(ARCHIVE_URL, json=fixture(ARCHIVE_FIXTURE))
    result = history(OpenMeteoWeather(retry=FAST))
    assert len(responses.calls) == 3
    assert [o.date.day for o in result.observations] == [24, 25, 26, 27]


@responses.activate
def test_history_failing_every_attempt_raises_the_typed_error():
    from raincast.weather.open_meteo import ARCHIVE_URL

    responses.get(ARCHIVE_URL, body="busy", status=502)
    with pytest.raises(ProviderUnavailable):
        history(OpenMeteoWeather(retry=FAST))
    assert len(responses.calls) == FAST.max_attempts


@responses.activate
def test_a_malformed_history_answer_is_a_final_error():
    from raincast.weather.open_meteo import ARCHIVE_URL

    body = fixture(ARCHIVE_FIXTURE)
    body["daily_units"]["precipitation_sum"] = "inch"
    responses.get(ARCHIVE_URL, json=body)
    with pytest.raises(ProviderError, match="expected 'mm'") as info:
        history(OpenMeteoWeather(retry=FAST))
    assert not isinstance(info.value, RetryableProviderError)
    assert len(responses.calls) == 1


@responses.activate
def test_a_period_that_ends_before_it_starts_is_refused_without_a_request():
    with pytest.raises(ValueError, match="ends"):
        history(OpenMeteoWeather(retry=FAST), start=HISTORY_END, end=HISTORY_START)
    assert len(responses.calls) == 0


@responses.activate
def test_a_day_the_answer_repeats_is_read_from_its_first_occurrence():
    # What list.index found before the answer's times were indexed once per answer.
    body = two_days(fixture("forecast_sydney_2026-11-20.json"), "2026-11-20", "2026-11-20")
    responses.get(FORECAST_URL, json=body)
    obs = OpenMeteoWeather(retry=FAST).observe(*SYDNEY, dt.date(2026, 11, 20)).observation
    assert (obs.pressure_9am, obs.pressure_3pm) == (1017.6, 1018.4)  # the first copy's
