"""Reader for the shipped Bureau of Meteorology daily observations (weatherAUS).

One reader serves both the replay weather source and model training, so both see the same
values in the same units (see ``raincast.weather.base``). The table is columnar (numpy
arrays, NaN for missing) because training reads all 125k rows at once.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from raincast.weather.base import OBSERVATION_FIELDS, Observation

# CSV column -> Observation field. Evaporation and RISK_MM are deliberately not read.
CSV_COLUMNS: dict[str, str] = {
    "MinTemp": "min_temp",
    "MaxTemp": "max_temp",
    "Rainfall": "rainfall",
    "Sunshine": "sunshine",
    "WindGustDir": "wind_gust_dir",
    "WindGustSpeed": "wind_gust_speed",
    "WindDir9am": "wind_dir_9am",
    "WindDir3pm": "wind_dir_3pm",
    "WindSpeed9am": "wind_speed_9am",
    "WindSpeed3pm": "wind_speed_3pm",
    "Humidity9am": "humidity_9am",
    "Humidity3pm": "humidity_3pm",
    "Pressure9am": "pressure_9am",
    "Pressure3pm": "pressure_3pm",
    "Cloud9am": "cloud_9am",
    "Cloud3pm": "cloud_3pm",
    "Temp9am": "temp_9am",
    "Temp3pm": "temp_3pm",
}
assert sorted(CSV_COLUMNS.values()) == sorted(OBSERVATION_FIELDS)

COMPASS_POINTS = (
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
    "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW",
)  # fmt: skip
COMPASS_DEGREES: dict[str, float] = {p: i * 22.5 for i, p in enumerate(COMPASS_POINTS)}
DIRECTION_FIELDS = frozenset({"wind_gust_dir", "wind_dir_9am", "wind_dir_3pm"})
MISSING = frozenset({"", "NA", "NaN", "nan"})

REQUIRED_COLUMNS = ("Date", "Location")


def default_path() -> Path:
    """The observations shipped inside the package (``raincast/data/weatherAUS.csv.gz``)."""
    return Path(str(resources.files("raincast") / "data" / "weatherAUS.csv.gz"))


@dataclass
class ObservationTable:
    """Columnar observations: one entry per (date, location) row of the CSV."""

    dates: np.ndarray  # datetime64[D]
    locations: np.ndarray  # str (object)
    values: dict[str, np.ndarray]  # field -> float64, NaN where missing
    rain_tomorrow: np.ndarray  # float64: 1.0, 0.0 or NaN (absent in the file or unknown)

    def __len__(self) -> int:
        return len(self.dates)

    def observation(self, index: int, source: dict[str, Any] | None = None) -> Observation:
        kwargs = {}
        for name in OBSERVATION_FIELDS:
            value = float(self.values[name][index])
            kwargs[name] = None if np.isnan(value) else value
        date = dt.date.fromisoformat(str(self.dates[index]))
        return Observation(date=date, source=dict(source or {}), **kwargs)


class ObservationFileError(ValueError):
    """The file is not in the observations format (missing columns, bad dates, ...)."""


def _parse_value(name: str, text: str, line: int) -> float:
    text = text.strip()
    if text in MISSING:
        return np.nan
    if name in DIRECTION_FIELDS:
        try:
            return COMPASS_DEGREES[text]
        except KeyError:
            raise ObservationFileError(f"line {line}: unknown wind direction {text!r}") from None
    try:
        return float(text)
    except ValueError:
        raise ObservationFileError(f"line {line}: {name} is not a number: {text!r}") from None


def read_observations(path: str | Path | None = None) -> ObservationTable:
    """Read a weatherAUS-format CSV (optionally gzipped). Unknown extra columns are ignored;
    observation columns that are absent are read as missing."""
    path = Path(path) if path is not None else default_path()
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ObservationFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ObservationFileError(f"{path}: empty file") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ObservationFileError(f"{path}: missing column(s) {', '.join(missing)}")
    position = {name: i for i, name in enumerate(header)}
    present = {col: fld for col, fld in CSV_COLUMNS.items() if col in position}
    label_at = position.get("RainTomorrow")

    dates: list[str] = []
    locations: list[str] = []
    columns: dict[str, list[float]] = {fld: [] for fld in OBSERVATION_FIELDS}
    labels: list[float] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ObservationFileError(
                f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
            )
        date = row[position["Date"]].strip()
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise ObservationFileError(f"{path}: line {line}: bad date {date!r}") from None
        dates.append(date)
        locations.append(row[position["Location"]].strip())
        for col, fld in CSV_COLUMNS.items():
            if col in present:
                columns[fld].append(_parse_value(fld, row[position[col]], line))
            else:
                columns[fld].append(np.nan)
        if label_at is None:
            labels.append(np.nan)
        else:
            label = row[label_at].strip()
            labels.append(1.0 if label == "Yes" else 0.0 if label == "No" else np.nan)

    return ObservationTable(
        dates=np.array(dates, dtype="datetime64[D]"),
        locations=np.array(locations, dtype=object),
        values={fld: np.array(vals, dtype=np.float64) for fld, vals in columns.items()},
        rain_tomorrow=np.array(labels, dtype=np.float64),
    )
