"""Weather: one interface (``WeatherSource``), several sources behind it."""

from raincast.weather.base import OBSERVATION_FIELDS, Observation, WeatherResult, WeatherSource

__all__ = ["OBSERVATION_FIELDS", "Observation", "WeatherResult", "WeatherSource"]
