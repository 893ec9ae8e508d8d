"""Weather: one interface (``WeatherSource``), several sources behind it.

``WEATHER_SOURCES`` is the one list of sources; ``get_weather_source(name, **config)`` makes
one. Imported on demand: the replay source must not pay for ``requests``.
"""

from __future__ import annotations

from typing import Any

from raincast.providers import Registry
from raincast.weather.base import (
    OBSERVATION_FIELDS,
    HistoryResult,
    Observation,
    WeatherResult,
    WeatherSource,
)

WEATHER_SOURCES: Registry[WeatherSource] = Registry(
    "weather source",
    {
        "replay": "raincast.weather.replay:ReplayWeather",
        "open-meteo": "raincast.weather.open_meteo:OpenMeteoWeather",
    },
    default="replay",
    aliases={"openmeteo": "open-meteo"},
)


def get_weather_source(name: str = WEATHER_SOURCES.default, **config: Any) -> WeatherSource:
    """The weather source called ``name``, built with ``config`` (its constructor's keyword
    arguments, e.g. ``radius_km=25`` for replay, ``timeout=5`` for open-meteo)."""
    return WEATHER_SOURCES.create(name, **config)


__all__ = [
    "OBSERVATION_FIELDS",
    "WEATHER_SOURCES",
    "HistoryResult",
    "Observation",
    "WeatherResult",
    "WeatherSource",
    "get_weather_source",
]
