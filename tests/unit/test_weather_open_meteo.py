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
from raincast.weather import get_weather_source
from raincast.weather.base import WeatherResult
from raincast.weather.open_meteo import (
    FORECAST_URL,
    OpenMeteoWeather,
    cloud_oktas,
    compass_degrees,
    sunshine_hours,
)

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
    assert OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20)).found


@responses.activate
def test_sydney_response_maps_into_weatheraus_units():
    responses.get(FORECAST_URL, json=fixture("forecast_sydney_2026-11-20.json"))
    result = OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))
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
    obs = OpenMeteoWeather().observe(*PERTH, dt.date(2026, 11, 21)).observation
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
    result = OpenMeteoWeather().observe(*SYDNEY, dt.date(2015, 6, 1))
    assert not result.found
    assert result.reason == (
        "open-meteo: Parameter 'start_date' is out of allowed range from 2026-08-28 to 2026-12-14"
    )


@responses.activate
def test_other_400_reasons_are_not_found_too():
    responses.get(FORECAST_URL, json=fixture("error_bad_parameter.json"), status=400)
    result = OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))
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
        OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))
    assert isinstance(info.value, RetryableProviderError)
    if status == 429:
        assert info.value.retry_after == 7.0


@responses.activate
def test_timeout_and_connection_failure():
    responses.get(FORECAST_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ProviderTimeout):
        OpenMeteoWeather(timeout=0.5).observe(*SYDNEY, dt.date(2026, 11, 20))
    responses.replace(responses.GET, FORECAST_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(ProviderUnavailable):
        OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))


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
        OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))
    assert not isinstance(info.value, RetryableProviderError)


@responses.activate
def test_non_json_answer_is_a_final_error():
    responses.get(FORECAST_URL, body="<html>gateway</html>", status=200)
    with pytest.raises(ProviderError, match="not JSON"):
        OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 20))


@responses.activate
def test_answer_for_another_day_is_not_found():
    responses.get(FORECAST_URL, json=fixture("forecast_sydney_2026-11-20.json"))
    result = OpenMeteoWeather().observe(*SYDNEY, dt.date(2026, 11, 21))
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
