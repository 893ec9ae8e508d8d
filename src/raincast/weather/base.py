"""The weather-source interface and the observation record every source produces.

An ``Observation`` is one day at one place, in the units of the Australian Bureau of
Meteorology daily observations that the model was trained on (weatherAUS): temperatures
in degrees C, rainfall in mm, sunshine in hours, wind speeds in km/h, wind directions in
degrees from north (the compass points of the CSV are converted), humidity in %, pressure
in hPa (mean sea level), cloud in oktas (0-8). Any value may be ``None``: missing is normal.
Evaporation is deliberately absent (no online source supplies it) and so is RISK_MM
(tomorrow's rainfall: it leaks the answer).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any

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


class WeatherSource(ABC):
    """Gives the observations of one day at (or near) one point."""

    name: str = "weather"

    @abstractmethod
    def observe(self, lat: float, lon: float, date: dt.date) -> WeatherResult:
        """Never raises for "no data here/then"; raises ProviderError when the source fails."""
