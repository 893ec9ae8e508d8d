"""The weather-source interface and the observation record every source produces.

An ``Observation`` is one day at one place, in the units of the Australian Bureau of
Meteorology daily observations that the model was trained on (weatherAUS): temperatures
in degrees C, rainfall in mm, sunshine in hours, wind speeds in km/h, wind directions in
degrees from north (the compass points of the CSV are converted), humidity in %, pressure
in hPa (mean sea level), cloud in oktas (0-8). Any value may be ``None``: missing is normal.
Evaporation is deliberately absent (no online source supplies it) and so is RISK_MM
(tomorrow's rainfall: it leaks the answer).

``WeatherSource.observe`` is the template method: it validates the point and the date,
looks in the cache, and calls the source's own ``_observe`` with retries within the
deadline (``raincast.providers.Provider``). A source implements only ``_observe`` and builds
its answer with ``_found`` / ``_not_found``.

``WeatherSource.history`` is the second template method: every day of a past period at the
place (what the Predict step's history recalibration, ``raincast.model.recalibration``,
sets the model's forecasts against). It retries like ``observe`` but is not cached here (a
year of observations per place is too much to keep per lookup; the recalibration caches
what it derives). A source that keeps a place's past implements ``_history``; the default
answers "no history" (``history_recalibration`` False).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any

from raincast.providers import Provider
from raincast.retry import RetryPolicy

# The numeric observation fields, in a fixed order. Shared by the CSV loader, every weather
# source and the feature builder.
OBSERVATION_FIELDS: tuple[str, ...] = (
    "min_temp",
    "max_temp",
    "rainfall",
    "sunshine",
    "wind_gust_dir",
    "wind_gust_speed",
    "wind_dir_9am",
    "wind_dir_3pm",
    "wind_speed_9am",
    "wind_speed_3pm",
    "humidity_9am",
    "humidity_3pm",
    "pressure_9am",
    "pressure_3pm",
    "cloud_9am",
    "cloud_3pm",
    "temp_9am",
    "temp_3pm",
)


@dataclass(frozen=True)
class Observation:
    date: dt.date
    min_temp: float | None = None
    max_temp: float | None = None
    rainfall: float | None = None
    sunshine: float | None = None
    wind_gust_dir: float | None = None
    wind_gust_speed: float | None = None
    wind_dir_9am: float | None = None
    wind_dir_3pm: float | None = None
    wind_speed_9am: float | None = None
    wind_speed_3pm: float | None = None
    humidity_9am: float | None = None
    humidity_3pm: float | None = None
    pressure_9am: float | None = None
    pressure_3pm: float | None = None
    cloud_9am: float | None = None
    cloud_3pm: float | None = None
    temp_9am: float | None = None
    temp_3pm: float | None = None
    # Where the values come from: provider name, station, distance from the asked point.
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def rain_today(self) -> bool | None:
        """The Bureau's definition: more than 1 mm of rain in the day."""
        return None if self.rainfall is None else self.rainfall > 1.0

    def values(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in OBSERVATION_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), **self.values(), "source": dict(self.source)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observation:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["date"] = dt.date.fromisoformat(str(data["date"]))
        kwargs["source"] = dict(data.get("source") or {})
        return cls(**kwargs)


@dataclass(frozen=True)
class WeatherResult:
    lat: float
    lon: float
    date: dt.date
    observation: Observation | None
    reason: str | None = None  # set when observation is None ("no observations near here: ...")
    provider: str = ""
    # The same place's observation of the day before (the model's 24 h changes and
    # yesterday's rain); None when the source has no row for that day.
    previous: Observation | None = None

    @property
    def found(self) -> bool:
        return self.observation is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "date": self.date.isoformat(),
            "provider": self.provider,
            "observation": self.observation.to_dict() if self.observation else None,
            "reason": self.reason,
            "previous": self.previous.to_dict() if self.previous else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeatherResult:
        observation, previous = data.get("observation"), data.get("previous")
        return cls(
            lat=float(data["lat"]),
            lon=float(data["lon"]),
            date=dt.date.fromisoformat(str(data["date"])),
            observation=Observation.from_dict(observation) if observation else None,
            reason=data.get("reason"),
            provider=str(data.get("provider") or ""),
            previous=Observation.from_dict(previous) if previous else None,
        )


@dataclass(frozen=True)
class HistoryResult:
    """The observations of the days ``start``..``end`` (inclusive) at one place, ascending
    by date; days the source has no row for are absent. ``reason`` says why there are none."""

    lat: float
    lon: float
    start: dt.date
    end: dt.date
    observations: tuple[Observation, ...]
    reason: str | None = None
    provider: str = ""

    @property
    def found(self) -> bool:
        return bool(self.observations)


def check_point(lat: float, lon: float) -> None:
    """``TypeError``/``ValueError`` unless (lat, lon) are finite numbers in range."""
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (lat, lon)):
        raise TypeError(f"lat and lon must be numbers, not {lat!r}, {lon!r}")
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"latitude {lat} is not between -90 and 90")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"longitude {lon} is not between -180 and 180")


class WeatherSource(Provider, ABC):
    """Gives the observations of one day at (or near) one point."""

    name: str = "weather"
    # Whether the Predict step recalibrates this source's forecasts with the place's own
    # history by default. False for a source of the model's own training stations (replay),
    # where the offsets are near zero (Brier skill +0.002 in the screen) and cost a year of
    # predictions per place.
    history_recalibration: bool = False

    def observe(
        self, lat: float, lon: float, date: dt.date, *, deadline: float | None = None
    ) -> WeatherResult:
        """Never raises for "no data here/then"; raises ProviderError when the source fails
        (a retryable one once the retries are spent), ``TypeError``/``ValueError`` for a bad
        point or date. ``deadline``: ``time.monotonic()`` by which to stop retrying."""
        check_point(lat, lon)
        if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
            raise TypeError(f"date must be a datetime.date, not {type(date).__name__}")
        lat, lon = float(lat), float(lon)
        return self.lookup((lat, lon, date), lambda: self._observe(lat, lon, date), deadline)

    @abstractmethod
    def _observe(self, lat: float, lon: float, date: dt.date) -> WeatherResult:
        """The source's own lookup of a validated point and date."""

    def history(
        self,
        lat: float,
        lon: float,
        start: dt.date,
        end: dt.date,
        *,
        deadline: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> HistoryResult:
        """The days ``start``..``end`` at (or near) a point; like ``observe``: never raises
        for "no data here/then", raises ProviderError when the source fails (after the
        retries: ``retry``, default the source's policy), ``TypeError``/``ValueError`` for a
        bad point or period."""
        check_point(lat, lon)
        for day in (start, end):
            if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
                raise TypeError(f"start and end must be datetime.date, not {type(day).__name__}")
        if end < start:
            raise ValueError(f"the period ends ({end}) before it starts ({start})")
        lat, lon = float(lat), float(lon)
        return self.call((lambda: self._history(lat, lon, start, end)), deadline, retry)

    def _history(self, lat: float, lon: float, start: dt.date, end: dt.date) -> HistoryResult:
        """The source's own lookup of a validated point and period (default: none kept)."""
        return self._no_history(lat, lon, start, end, f"{self.name} keeps no history")

    def _history_found(
        self,
        lat: float,
        lon: float,
        start: dt.date,
        end: dt.date,
        observations: list[Observation],
    ) -> HistoryResult:
        if not observations:
            reason = f"no observations from {start.isoformat()} to {end.isoformat()}"
            return self._no_history(lat, lon, start, end, reason)
        ordered = tuple(sorted(observations, key=lambda o: o.date))
        return HistoryResult(lat, lon, start, end, ordered, provider=self.name)

    def _no_history(
        self, lat: float, lon: float, start: dt.date, end: dt.date, reason: str
    ) -> HistoryResult:
        return HistoryResult(lat, lon, start, end, (), reason=reason, provider=self.name)

    def _found(
        self,
        lat: float,
        lon: float,
        date: dt.date,
        observation: Observation,
        previous: Observation | None = None,
    ) -> WeatherResult:
        return WeatherResult(lat, lon, date, observation, provider=self.name, previous=previous)

    def _not_found(self, lat: float, lon: float, date: dt.date, reason: str) -> WeatherResult:
        return WeatherResult(lat, lon, date, None, reason=reason, provider=self.name)
