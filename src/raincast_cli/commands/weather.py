"""``raincast weather LAT LON --date YYYY-MM-DD``: the observations of one day at a point.

Exit status: 0 found, 1 no observations (the reason is printed), 2 usage or provider error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys

from raincast.errors import ProviderError
from raincast.sanitize import printable, printable_lines
from raincast.weather import WEATHER_SOURCES, WeatherResult, get_weather_source
from raincast.weather.base import OBSERVATION_FIELDS
from raincast.weather.weatheraus import COMPASS_POINTS

# Observation field -> (label, unit) for the readable output.
LABELS: dict[str, tuple[str, str]] = {
    "min_temp": ("min temperature", "°C"),
    "max_temp": ("max temperature", "°C"),
    "rainfall": ("rainfall", "mm"),
    "sunshine": ("sunshine", "h"),
    "wind_gust_dir": ("gust direction", "°"),
    "wind_gust_speed": ("gust speed", "km/h"),
    "wind_dir_9am": ("wind direction 9am", "°"),
    "wind_dir_3pm": ("wind direction 3pm", "°"),
    "wind_speed_9am": ("wind speed 9am", "km/h"),
    "wind_speed_3pm": ("wind speed 3pm", "km/h"),
    "humidity_9am": ("humidity 9am", "%"),
    "humidity_3pm": ("humidity 3pm", "%"),
    "pressure_9am": ("pressure 9am", "hPa"),
    "pressure_3pm": ("pressure 3pm", "hPa"),
    "cloud_9am": ("cloud 9am", "oktas"),
    "cloud_3pm": ("cloud 3pm", "oktas"),
    "temp_9am": ("temperature 9am", "°C"),
    "temp_3pm": ("temperature 3pm", "°C"),
}
assert set(LABELS) == set(OBSERVATION_FIELDS)


def _coordinate(low: float, high: float, what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{what} must be between {low:g} and {high:g}")
        return value

    return parse


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _radius(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of km: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError("the radius must be a positive number of km")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # "-33.9" looks like an option to argparse; negative numbers are accepted because the
    # parser has no options that look like negative numbers.
    parser.add_argument("lat", type=_coordinate(-90, 90, "latitude"), help="latitude, degrees")
    parser.add_argument("lon", type=_coordinate(-180, 180, "longitude"), help="longitude, degrees")
    parser.add_argument(
        "--date",
        type=_date,
        help="the day (YYYY-MM-DD); default: the last day of the replay data, "
        "or today for open-meteo",
    )
    parser.add_argument("--provider", choices=sorted(WEATHER_SOURCES), default="replay")
    parser.add_argument(
        "--radius-km", type=_radius, default=None, help="replay: search radius (default 50 km)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _format(result: WeatherResult) -> str:
    head = f"{result.date.isoformat()} at {result.lat:.4f}, {result.lon:.4f} ({result.provider})"
    if result.observation is None:
        return f"{head}: {result.reason}"
    obs = result.observation
    source = obs.source
    if "station" in source:
        name = source.get("station_name") or source["station"]
        if name != source["station"]:
            name += f" ({source['station']})"
        where = f"station {name}, {source['distance_km']:g} km away"
    else:
        where = f"model grid point {source.get('grid_lat')}, {source.get('grid_lon')}"
        if source.get("timezone"):
            where += f", {source['timezone']}"
    lines = [head, f"  from {where}"]
    for name in OBSERVATION_FIELDS:
        label, unit = LABELS[name]
        value = getattr(obs, name)
        text = "-" if value is None else f"{value:g} {unit}"
        if value is not None and unit == "°":
            text = f"{value:g}° ({COMPASS_POINTS[round(value / 22.5) % 16]})"
        lines.append(f"  {label:<20} {text}")
    rain = {True: "yes", False: "no", None: "unknown"}[obs.rain_today]
    lines.append(f"  {'rain today (>1 mm)':<20} {rain}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = {}
    if args.radius_km is not None:
        if args.provider != "replay":
            print("error: --radius-km applies to the replay provider only", file=sys.stderr)
            return 2
        config["radius_km"] = args.radius_km
    try:
        source = get_weather_source(args.provider, **config)
        date = args.date
        if date is None:
            date = source.latest_date if hasattr(source, "latest_date") else dt.date.today()
        result = source.observe(args.lat, args.lon, date)
    except ProviderError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(printable_lines(_format(result)))
    return 0 if result.found else 1
