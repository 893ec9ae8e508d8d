"""Online weather: the Open-Meteo forecast API (https://open-meteo.com/en/docs) and, for
days older than the forecast API keeps and for a place's history, its historical weather
(archive) API (https://open-meteo.com/en/docs/historical-weather-api); no key.

``observe``: one request per (point, day): ``{base}/v1/forecast`` (base URL: the
``OPEN_METEO_FORECAST_URL`` setting, default https://api.open-meteo.com), or
``{archive}/v1/archive`` for a day more than ``FORECAST_PAST_DAYS`` before today
(``OPEN_METEO_ARCHIVE_URL``, default https://archive-api.open-meteo.com; same parameters,
same answer shape), with ``start_date`` = the day before and ``end_date`` = the day, and
``timezone=auto``, so hourly ``time`` values are the place's local clock times and the daily
values are for its local calendar days. The day before becomes ``WeatherResult.previous``
(None when the answer lacks it).

``history``: one request per (point, period), always to ``{archive}/v1/archive`` with the
same parameters but ``start_date`` / ``end_date`` = the period's first and last day; every
day of the answer is mapped as ``observe`` maps a day. The archive lags real time by a few
days and answers nulls for the days it does not have yet: a day whose daily values are all
null is left out of the history.

Both answers are mapped into the same ``Observation`` as the replay source (weatherAUS
units), so one feature builder serves both:

- min/max temperature, rainfall, sunshine, gust speed: the daily aggregates
  (``sunshine_duration`` seconds -> hours);
- the 9am / 3pm values: the hourly values at 09:00 and 15:00 local time
  (``pressure_msl`` for pressure, ``cloud_cover`` % -> oktas = round(% / 12.5));
- wind directions: degrees, snapped to the 16 compass points the Bureau reports.

Two differences from the Bureau's observations are accepted: ``precipitation_sum`` is the
local calendar day's total (the Bureau's Rainfall is the 24 h to 9 am), and the gust
direction is the day's dominant wind direction (Open-Meteo has no direction of the
strongest gust).

The forecast API serves the last 92 days and the next 16; a date it cannot serve is
answered with HTTP 400 and ``{"error": true, "reason": "..."}``, which becomes a
not-found ``WeatherResult`` (or an empty ``HistoryResult``) carrying the reason, not an
exception.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import requests

from raincast.errors import ProviderError
from raincast.http import JsonHttpClient, base_url
from raincast.retry import PARALLEL_REQUESTS, RetryPolicy
from raincast.weather.base import HistoryResult, Observation, WeatherResult, WeatherSource
from raincast.weather.stations import haversine_km

FORECAST_BASE_URL_ENV = "OPEN_METEO_FORECAST_URL"
DEFAULT_FORECAST_BASE_URL = "https://api.open-meteo.com"
FORECAST_URL = DEFAULT_FORECAST_BASE_URL + "/v1/forecast"
ARCHIVE_BASE_URL_ENV = "OPEN_METEO_ARCHIVE_URL"
DEFAULT_ARCHIVE_BASE_URL = "https://archive-api.open-meteo.com"
ARCHIVE_URL = DEFAULT_ARCHIVE_BASE_URL + "/v1/archive"
# The forecast API's documented maximum of past_days: older days come from the archive.
FORECAST_PAST_DAYS = 92

HOURLY_VARIABLES = (
    "temperature_2m",
    "relative_humidity_2m",
    "pressure_msl",
    "cloud_cover",
    "wind_speed_10m",
    "wind_direction_10m",
)
DAILY_VARIABLES = (
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_sum",
    "sunshine_duration",
    "wind_gusts_10m_max",
    "wind_direction_10m_dominant",
)
# The units the mapping assumes (as requested: wind_speed_unit=kmh, the other defaults).
# A response in other units is refused rather than silently mis-scaled.
EXPECTED_UNITS = {
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "pressure_msl": "hPa",
    "cloud_cover": "%",
    "wind_speed_10m": "km/h",
    "wind_direction_10m": "°",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
    "sunshine_duration": "s",
    "wind_gusts_10m_max": "km/h",
    "wind_direction_10m_dominant": "°",
}
# Observation field (9am, 3pm) <- hourly variable.
HOURLY_FIELDS = {
    "temperature_2m": ("temp_9am", "temp_3pm"),
    "relative_humidity_2m": ("humidity_9am", "humidity_3pm"),
    "pressure_msl": ("pressure_9am", "pressure_3pm"),
    "cloud_cover": ("cloud_9am", "cloud_3pm"),
    "wind_speed_10m": ("wind_speed_9am", "wind_speed_3pm"),
    "wind_direction_10m": ("wind_dir_9am", "wind_dir_3pm"),
}


def cloud_oktas(percent: float | None) -> float | None:
    """Cloud cover in % -> oktas (eighths of the sky), as the Bureau reports it."""
    if percent is None:
        return None
    return float(min(8, max(0, round(percent / 12.5))))


def compass_degrees(degrees: float | None) -> float | None:
    """Degrees -> the nearest of the 16 compass points, in degrees (360 -> 0)."""
    if degrees is None:
        return None
    return (round(degrees / 22.5) % 16) * 22.5


def sunshine_hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 2)


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderError("open-meteo", f"{what} is not a number: {value!r}")
    return float(value)


def _first_index(times: list[Any]) -> dict[str, int]:
    """Each time string of a ``time`` array -> the index of its first occurrence (what
    ``list.index`` finds, without scanning the list for every look-up: a year's answer has
    8,760 hourly stamps). Entries that are not strings can never match a day or a stamp."""
    index: dict[str, int] = {}
    for i, stamp in enumerate(times):
        if isinstance(stamp, str):
            index.setdefault(stamp, i)
    return index


@dataclass(frozen=True)
class _Answer:
    """One checked answer: its hourly and daily blocks, their ``time`` values -> index
    (built once per answer), and the ``Observation.source`` of its days."""

    hourly: dict[str, list[Any]]
    daily: dict[str, list[Any]]
    source: dict[str, Any]
    day_index: dict[str, int]
    hour_index: dict[str, int]

    def has_daily_values(self, date: dt.date) -> bool:
        """Whether the answer has the day with at least one daily value that is not null."""
        d = self.day_index.get(date.isoformat())
        return d is not None and any(self.daily[name][d] is not None for name in DAILY_VARIABLES)


class OpenMeteoWeather(WeatherSource):
    """Observations of one day at a point from the Open-Meteo forecast API (the archive for
    older days), and a point's history from the archive."""

    name = "open-meteo"
    parallel_requests = PARALLEL_REQUESTS
    cache_max_age = 15 * 60.0  # today's observations grow during the day
    # Open-Meteo's grid is not the model's training stations: its forecasts are set against
    # each place's own past.
    history_recalibration = True

    def __init__(
        self,
        url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        archive_url: str | None = None,
    ) -> None:
        super().__init__(retry=retry)
        self.url = (
            url or base_url(FORECAST_BASE_URL_ENV, DEFAULT_FORECAST_BASE_URL) + "/v1/forecast"
        )
        self.archive_url = (
            archive_url or base_url(ARCHIVE_BASE_URL_ENV, DEFAULT_ARCHIVE_BASE_URL) + "/v1/archive"
        )
        self.http = JsonHttpClient(self.name, session=session, timeout=timeout)

    @property
    def timeout(self) -> float | tuple[float, float]:
        return self.http.timeout

    def params(self, lat: float, lon: float, date: dt.date) -> dict[str, str]:
        """The query of ``observe``: the day and the day before."""
        return self.period_params(lat, lon, date - dt.timedelta(days=1), date)

    def period_params(self, lat: float, lon: float, start: dt.date, end: dt.date) -> dict[str, str]:
        """The query for the local days ``start``..``end`` (both APIs take the same one)."""
        return {
            "latitude": f"{lat:.4f}",
            "longitude": f"{lon:.4f}",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "timezone": "auto",
            "hourly": ",".join(HOURLY_VARIABLES),
            "daily": ",".join(DAILY_VARIABLES),
            "wind_speed_unit": "kmh",
        }

    def url_for(self, date: dt.date, today: dt.date | None = None) -> str:
        """The forecast API for recent and coming days, the archive for older ones."""
        today = today or dt.datetime.now(dt.UTC).date()
        if date < today - dt.timedelta(days=FORECAST_PAST_DAYS):
            return self.archive_url
        return self.url

    def _observe(self, lat: float, lon: float, date: dt.date) -> WeatherResult:
        body = self._get(self.url_for(date), self.params(lat, lon, date))
        if isinstance(body, str):  # the API's own "error": true reason
            return self._not_found(lat, lon, date, body)
        return self._result(lat, lon, date, body)

    def _history(self, lat: float, lon: float, start: dt.date, end: dt.date) -> HistoryResult:
        # Always the archive: the forecast API keeps only the last 92 days.
        body = self._get(self.archive_url, self.period_params(lat, lon, start, end))
        if isinstance(body, str):  # the API's own "error": true reason
            return self._no_history(lat, lon, start, end, body)
        answer = self._answer(lat, lon, body)
        observations = []
        for offset in range((end - start).days + 1):
            date = start + dt.timedelta(days=offset)
            # Left out: a day the answer lacks, and one whose daily values are all null
            # (the archive answers nulls for the last few days, which it does not have yet).
            observation = self._observation(date, answer) if answer.has_daily_values(date) else None
            if observation is not None:
                observations.append(observation)
        return self._history_found(lat, lon, start, end, observations)

    # -- HTTP --

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any] | str:
        """The JSON body of a 2xx answer, or the reason string of a 400 answer.

        Timeouts, 429, 5xx, 401/403 and bodies that are not JSON are the shared client's
        typed errors; only the API's own ``{"error": true, "reason": ...}`` is read here.
        """
        status, body = self.http.get(url, params, accept_statuses=[400])
        if not isinstance(body, dict):
            raise ProviderError(self.name, f"HTTP {status}: unexpected JSON {type(body).__name__}")
        if body.get("error"):
            reason = str(body.get("reason") or "no reason given")
            if status == 400:
                return f"open-meteo: {reason}"
            raise ProviderError(self.name, f"HTTP {status}: {reason}")
        if status == 400:
            raise ProviderError(self.name, f"HTTP 400 without an error reason: {body!r:.120}")
        return body

    # -- mapping --

    def _result(self, lat: float, lon: float, date: dt.date, body: dict[str, Any]) -> WeatherResult:
        answer = self._answer(lat, lon, body)
        observation = self._observation(date, answer)
        if observation is None:
            reason = f"open-meteo: the answer has no daily values for {date.isoformat()}"
            return self._not_found(lat, lon, date, reason)
        previous = self._observation(date - dt.timedelta(days=1), answer)
        return self._found(lat, lon, date, observation, previous)

    def _answer(self, lat: float, lon: float, body: dict[str, Any]) -> _Answer:
        """The checked blocks of an answer, indexed by time, and where its values come from."""
        hourly = self._block(body, "hourly", HOURLY_VARIABLES)
        daily = self._block(body, "daily", DAILY_VARIABLES)
        grid_lat = _number(body.get("latitude"), "latitude")
        grid_lon = _number(body.get("longitude"), "longitude")
        source: dict[str, Any] = {
            "provider": self.name,
            "grid_lat": grid_lat,
            "grid_lon": grid_lon,
            "elevation": body.get("elevation"),
            "timezone": body.get("timezone"),
            "utc_offset_seconds": body.get("utc_offset_seconds"),
        }
        if grid_lat is not None and grid_lon is not None:
            source["distance_km"] = round(haversine_km(lat, lon, grid_lat, grid_lon), 2)
        return _Answer(
            hourly=hourly,
            daily=daily,
            source=source,
            day_index=_first_index(daily["time"]),
            hour_index=_first_index(hourly["time"]),
        )

    def _observation(self, date: dt.date, answer: _Answer) -> Observation | None:
        """The observation of one local day of the answer, None if it has no such day."""
        day = date.isoformat()
        d = answer.day_index.get(day)
        if d is None:
            return None
        daily, hourly = answer.daily, answer.hourly

        def daily_value(variable: str) -> float | None:
            return _number(daily[variable][d], f"daily {variable}")

        values: dict[str, float | None] = {
            "min_temp": daily_value("temperature_2m_min"),
            "max_temp": daily_value("temperature_2m_max"),
            "rainfall": daily_value("precipitation_sum"),
            "sunshine": sunshine_hours(daily_value("sunshine_duration")),
            "wind_gust_speed": daily_value("wind_gusts_10m_max"),
            # Open-Meteo has no direction of the strongest gust: the day's dominant wind
            # direction stands in for the Bureau's WindGustDir.
            "wind_gust_dir": compass_degrees(daily_value("wind_direction_10m_dominant")),
        }
        for variable, (field_9am, field_3pm) in HOURLY_FIELDS.items():
            for field_name, clock in ((field_9am, "09:00"), (field_3pm, "15:00")):
                stamp = f"{day}T{clock}"
                value = None
                h = answer.hour_index.get(stamp)
                if h is not None:
                    value = _number(hourly[variable][h], f"{variable} at {stamp}")
                if variable == "cloud_cover":
                    value = cloud_oktas(value)
                elif variable == "wind_direction_10m":
                    value = compass_degrees(value)
                values[field_name] = value
        return Observation(date=date, source=dict(answer.source), **values)

    def _block(
        self, body: dict[str, Any], key: str, variables: tuple[str, ...]
    ) -> dict[str, list[Any]]:
        block = body.get(key)
        if not isinstance(block, dict) or not isinstance(block.get("time"), list):
            raise ProviderError(self.name, f"the answer has no {key!r} object with a 'time' array")
        units = body.get(f"{key}_units") or {}
        for variable in variables:
            series = block.get(variable)
            if not isinstance(series, list) or len(series) != len(block["time"]):
                raise ProviderError(self.name, f"{key}.{variable} is missing or the wrong length")
            unit = units.get(variable)
            if unit is not None and unit != EXPECTED_UNITS[variable]:
                raise ProviderError(
                    self.name,
                    f"{key}.{variable} in {unit!r}, expected {EXPECTED_UNITS[variable]!r}",
                )
        return block
