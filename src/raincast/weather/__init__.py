"""Weather: one interface (``WeatherSource``), several sources behind it."""

from __future__ import annotations

from typing import Any

from raincast.weather.base import OBSERVATION_FIELDS, Observation, WeatherResult, WeatherSource

# name -> "module:class". Imported on demand: the replay source must not pay for `requests`.
WEATHER_SOURCES: dict[str, str] = {
    "replay": "raincast.weather.replay:ReplayWeather",
    "open-meteo": "raincast.weather.open_meteo:OpenMeteoWeather",
}


def get_weather_source(name: str = "replay", **config: Any) -> WeatherSource:
    """The weather source called ``name``, built with ``config`` (its constructor's keyword
    arguments, e.g. ``radius_km=25`` for replay, ``timeout=5`` for open-meteo)."""
    import importlib

    try:
        target = WEATHER_SOURCES[name]
    except KeyError:
        valid = ", ".join(sorted(WEATHER_SOURCES))
        raise ValueError(f"unknown weather provider {name!r}; valid: {valid}") from None
    module_name, class_name = target.split(":")
    cls: type[WeatherSource] = getattr(importlib.import_module(module_name), class_name)
    return cls(**config)


__all__ = [
    "OBSERVATION_FIELDS",
    "WEATHER_SOURCES",
    "Observation",
    "WeatherResult",
    "WeatherSource",
    "get_weather_source",
]
