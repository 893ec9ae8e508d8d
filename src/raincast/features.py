"""The one feature builder: observation columns -> model feature matrix.

Training (over an ``ObservationTable``) and prediction (over ``Observation`` records from any
weather source) both go through ``build_features``, so the model sees the same numbers in
both. Only what every weather source can supply is used: the fields of
``OBSERVATION_FIELDS`` for the day and for the day before (``WeatherResult.previous``; in a
table, the same location's row for date - 1), the date and the sign of the place's latitude
(to turn the calendar into a season in either hemisphere). Station identity is never a
feature: the model must apply to any place.

Missing values stay NaN (the model handles them natively); a derived feature is NaN when
any of its inputs is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from raincast.weather.base import OBSERVATION_FIELDS, Observation

if TYPE_CHECKING:  # the table reader is not needed at prediction time
    from raincast.weather.weatheraus import ObservationTable

# Observation fields used as they are. Wind directions are not: a direction in degrees is
# circular (359 is next to 1), so it enters as components below.
RAW_FIELDS: tuple[str, ...] = (
    "min_temp",
    "max_temp",
    "rainfall",
    "sunshine",
    "wind_gust_speed",
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

# (speed field, direction field, feature prefix)
WIND_VECTORS: tuple[tuple[str, str, str], ...] = (
    ("wind_gust_speed", "wind_gust_dir", "gust"),
    ("wind_speed_9am", "wind_dir_9am", "wind_9am"),
    ("wind_speed_3pm", "wind_dir_3pm", "wind_3pm"),
)

DERIVED_FEATURES: tuple[str, ...] = (
    "rain_today",
    "humidity_change",
    "pressure_change",
    "temp_change",
    "temp_range",
    "max_minus_temp_3pm",
    "cloud_change",
    "dew_point_9am",
    "dew_point_3pm",
    "dew_point_depression_3pm",
    *(f"{prefix}_{axis}" for _, _, prefix in WIND_VECTORS for axis in ("north", "east")),
    "season_cos",
    "season_sin",
)

# From the previous day's observation (NaN when there is none): yesterday's rain and the
# 24 h changes, which carry the passage of fronts that one day's 9am/3pm values do not.
PREVIOUS_DAY_FEATURES: tuple[str, ...] = (
    "rainfall_yesterday",
    "rain_yesterday",
    "pressure_9am_change_24h",
    "pressure_3pm_change_24h",
    "temp_3pm_change_24h",
    "max_temp_change_24h",
    "min_temp_change_24h",
    "humidity_3pm_change_24h",
    "dew_point_3pm_change_24h",
    "cloud_3pm_change_24h",
    "wind_3pm_north_change_24h",
    "wind_3pm_east_change_24h",
    "cloud_9am_change_24h",
    "sunshine_change_24h",
)

# New features go at the end: an artifact trained on a prefix of this list still loads.
FEATURE_NAMES: tuple[str, ...] = (*RAW_FIELDS, *DERIVED_FEATURES, *PREVIOUS_DAY_FEATURES)

_DAYS_PER_YEAR = 365.2425


def _dew_point(temp_c: np.ndarray, humidity_pct: np.ndarray) -> np.ndarray:
    """Magnus formula (Alduchov & Eskridge constants), degrees C."""
    b, c = 17.625, 243.04
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.log(np.clip(humidity_pct, 1.0, 100.0) / 100.0) + b * temp_c / (c + temp_c)
        dew_point: np.ndarray = c * gamma / (b - gamma)
        return dew_point


def _wind_components(speed: np.ndarray, degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Northerly and easterly components of the wind (direction it blows FROM), km/h.
    Calm wind has no direction in the observations, but its components are known: zero."""
    radians = np.deg2rad(degrees)
    north = speed * np.cos(radians)
    east = speed * np.sin(radians)
    calm = speed == 0.0
    north[calm] = 0.0
    east[calm] = 0.0
    return north, east


def _season(dates: np.ndarray, latitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in the local seasonal cycle: (cos, sin) with cos = 1 at midsummer-ish
    (1 January in the south, 2 July in the north). NaN when the latitude is unknown."""
    days = dates.astype("datetime64[D]")
    day_of_year = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64)
    phase = 2.0 * np.pi * day_of_year / _DAYS_PER_YEAR
    phase = np.where(latitudes > 0.0, phase + np.pi, phase)
    unknown = np.isnan(latitudes)
    return np.where(unknown, np.nan, np.cos(phase)), np.where(unknown, np.nan, np.sin(phase))


def _columns(values: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    col = {name: np.asarray(values[name], dtype=np.float64) for name in OBSERVATION_FIELDS}
    for name, array in col.items():
        if array.shape != (n,):
            raise ValueError(f"column {name} has shape {array.shape}, expected ({n},)")
    return col


def build_features(
    values: Mapping[str, np.ndarray],
    dates: np.ndarray,
    latitudes: np.ndarray | float | None = None,
    previous: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The feature matrix (rows x ``FEATURE_NAMES``, float64, NaN = missing).

    ``values`` maps every name of ``OBSERVATION_FIELDS`` to a float array (NaN = missing);
    ``dates`` are the observation days (datetime64); ``latitudes`` one per row, a single
    value for all rows, or None (season unknown); ``previous`` the same fields for the day
    before each row (NaN where unknown), or None (no previous day for any row)."""
    n = len(dates)
    col = _columns(values, n)
    if previous is None:
        prev = {name: np.full(n, np.nan) for name in OBSERVATION_FIELDS}
    else:
        prev = _columns(previous, n)
    if latitudes is None:
        lat = np.full(n, np.nan)
    else:
        lat = np.broadcast_to(np.asarray(latitudes, dtype=np.float64), (n,))

    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    features: dict[str, np.ndarray] = {name: col[name] for name in RAW_FIELDS}
    rainfall = col["rainfall"]
    features["rain_today"] = np.where(np.isnan(rainfall), np.nan, (rainfall > 1.0) * 1.0)
    features["humidity_change"] = col["humidity_3pm"] - col["humidity_9am"]
    features["pressure_change"] = col["pressure_3pm"] - col["pressure_9am"]
    features["temp_change"] = col["temp_3pm"] - col["temp_9am"]
    features["temp_range"] = col["max_temp"] - col["min_temp"]
    features["max_minus_temp_3pm"] = col["max_temp"] - col["temp_3pm"]
    features["cloud_change"] = col["cloud_3pm"] - col["cloud_9am"]
    features["dew_point_9am"] = _dew_point(col["temp_9am"], col["humidity_9am"])
    dew_3pm = _dew_point(col["temp_3pm"], col["humidity_3pm"])
    features["dew_point_3pm"] = dew_3pm
    features["dew_point_depression_3pm"] = col["temp_3pm"] - dew_3pm
    for speed, direction, prefix in WIND_VECTORS:
        north, east = _wind_components(col[speed], col[direction])
        features[f"{prefix}_north"] = north
        features[f"{prefix}_east"] = east
    features["season_cos"], features["season_sin"] = _season(np.asarray(dates), lat)

    rainfall_yesterday = prev["rainfall"]
    features["rainfall_yesterday"] = rainfall_yesterday
    features["rain_yesterday"] = np.where(
        np.isnan(rainfall_yesterday), np.nan, (rainfall_yesterday > 1.0) * 1.0
    )
    for name in ("pressure_9am", "pressure_3pm", "temp_3pm", "max_temp", "min_temp"):
        features[f"{name}_change_24h"] = col[name] - prev[name]
    features["humidity_3pm_change_24h"] = col["humidity_3pm"] - prev["humidity_3pm"]
    features["dew_point_3pm_change_24h"] = dew_3pm - _dew_point(
        prev["temp_3pm"], prev["humidity_3pm"]
    )
    for name in ("cloud_3pm", "cloud_9am", "sunshine"):
        features[f"{name}_change_24h"] = col[name] - prev[name]
    north_before, east_before = _wind_components(prev["wind_speed_3pm"], prev["wind_dir_3pm"])
    features["wind_3pm_north_change_24h"] = features["wind_3pm_north"] - north_before
    features["wind_3pm_east_change_24h"] = features["wind_3pm_east"] - east_before
    for j, name in enumerate(FEATURE_NAMES):
        out[:, j] = features[name]
    return out


def previous_rows(table: ObservationTable) -> np.ndarray:
    """For each row, the index of the same location's row for the day before, or -1."""
    days = table.dates.astype("datetime64[D]").astype(np.int64)
    locations = np.asarray(table.locations).astype(str)
    order = np.lexsort((days, locations))
    before = np.full(len(days), -1, dtype=np.int64)
    if len(order) > 1:
        current, prior = order[1:], order[:-1]
        follows = (locations[current] == locations[prior]) & (days[current] - days[prior] == 1)
        before[current[follows]] = prior[follows]
    return before


def previous_values(table: ObservationTable) -> dict[str, np.ndarray]:
    """Every observation field of the day before each row (NaN where the table has none)."""
    before = previous_rows(table)
    known = before >= 0
    out = {}
    for name in OBSERVATION_FIELDS:
        column = np.full(len(before), np.nan)
        column[known] = table.values[name][before[known]]
        out[name] = column
    return out


def features_from_table(
    table: ObservationTable, latitudes: np.ndarray | float | None = None
) -> np.ndarray:
    """Features of every row of an observations table (training, batch scoring); the
    previous day of a row is the same location's row for the day before, if any."""
    return build_features(table.values, table.dates, latitudes, previous_values(table))


def _record_values(records: Sequence[Observation | None]) -> dict[str, np.ndarray]:
    n = len(records)
    return {
        name: np.array(
            [np.nan if o is None or (v := getattr(o, name)) is None else v for o in records],
            dtype=np.float64,
        ).reshape(n)
        for name in OBSERVATION_FIELDS
    }


def features_from_observations(
    observations: Sequence[Observation],
    latitudes: Sequence[float | None] | float | None = None,
    previous: Sequence[Observation | None] | None = None,
) -> np.ndarray:
    """Features of observation records (prediction), one row per observation; ``previous``
    holds the observation of the day before each one (None where there is none)."""
    n = len(observations)
    values = _record_values(observations)
    before = None
    if previous is not None:
        if len(previous) != n:
            raise ValueError(f"{len(previous)} previous days for {n} observations")
        before = _record_values(previous)
    dates = np.array([o.date.isoformat() for o in observations], dtype="datetime64[D]")
    lat: np.ndarray | float | None
    if latitudes is None or isinstance(latitudes, int | float):
        lat = latitudes
    else:
        if len(latitudes) != n:
            raise ValueError(f"{len(latitudes)} latitudes for {n} observations")
        lat = np.array([np.nan if x is None else x for x in latitudes], dtype=np.float64)
    return build_features(values, dates.reshape(n), lat, before)


def features_using(fields: Sequence[str]) -> tuple[str, ...]:
    """The features computed from any of the observation ``fields`` (of the day or of the day
    before): those that are NaN when only these fields are missing. Found by building one
    complete record with and without them, so it stays true to ``build_features``."""
    unknown = set(fields) - set(OBSERVATION_FIELDS)
    if unknown:
        raise ValueError(f"not observation fields: {', '.join(sorted(unknown))}")
    complete = {name: np.array([10.0]) for name in OBSERVATION_FIELDS}  # any valid value
    lacking = {name: np.array([np.nan if name in fields else 10.0]) for name in complete}
    day = np.array(["2020-01-01"], dtype="datetime64[D]")
    with_all = build_features(complete, day, -30.0, complete)[0]
    without = build_features(lacking, day, -30.0, lacking)[0]
    return tuple(
        name
        for name, a, b in zip(FEATURE_NAMES, with_all, without, strict=True)
        if np.isnan(b) and not np.isnan(a)
    )
