"""Second out-of-domain check: daily observations of Seattle, 2012-2015, as the
``vega_datasets`` package (MIT) ships them (``vega_datasets/_data/seattle-weather.csv``:
public-domain NOAA data, transformed by the Vega project). Only the file is read (located
through the distribution's metadata). Nothing here is shipped to Lambda.

A much thinner record than the Bureau's: the day's precipitation (mm, calendar day),
maximum and minimum temperature (C) and mean wind speed (m/s, no direction). Only rainfall
and the two temperatures have a Bureau counterpart and are used; humidity, pressure, wind,
cloud and sunshine are missing (NaN), so this measures the model on a source that lacks
most of its inputs. The label is the next calendar day's precipitation > 1 mm (the
Bureau's day ends at 9 am).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from raincast.weather.base import OBSERVATION_FIELDS
from raincast.weather.weatheraus import ObservationTable
from raincast_cli.outside_data import OutsideDataMissing, packaged_file

DISTRIBUTION = "vega_datasets"
DATA_FILE = "vega_datasets/_data/seattle-weather.csv"
LATITUDE = 47.6  # only the hemisphere is a feature
ATTRIBUTION = (
    "Seattle daily weather 2012-2015 (NOAA, public domain) as shipped by the vega_datasets "
    "package (MIT)"
)


class SeattleDataMissing(OutsideDataMissing):
    """The package that ships the Seattle observations is not installed."""


def data_path() -> Path:
    return packaged_file(DISTRIBUTION, DATA_FILE, "the Seattle weather table", SeattleDataMissing)


def read_seattle(path: Path | None = None) -> ObservationTable:
    """One record per day with the weatherAUS-style label (NaN for the last day and for a
    day whose next day is not in the file)."""
    text = (path or data_path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    dates = np.array([r["date"].replace("/", "-") for r in rows], dtype="datetime64[D]")
    values = {name: np.full(len(rows), np.nan) for name in OBSERVATION_FIELDS}
    for field, column in (
        ("rainfall", "precipitation"),
        ("max_temp", "temp_max"),
        ("min_temp", "temp_min"),
    ):
        values[field] = np.array(
            [float(r[column]) if r[column] not in ("", "NA") else np.nan for r in rows]
        )
    by_day = {int(d): i for i, d in enumerate(dates.astype(np.int64))}
    labels = np.full(len(rows), np.nan)
    for i, day in enumerate(dates.astype(np.int64)):
        j = by_day.get(int(day) + 1)
        if j is not None and not np.isnan(values["rainfall"][j]):
            labels[i] = float(values["rainfall"][j] > 1.0)
    return ObservationTable(
        dates=dates,
        locations=np.array(["Seattle"] * len(rows), dtype=object),
        values=values,
        rain_tomorrow=labels,
    )
