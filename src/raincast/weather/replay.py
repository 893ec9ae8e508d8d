"""Offline weather: replay the shipped Bureau of Meteorology station observations.

For a point and a date, ``ReplayWeather`` returns the observations of the nearest station
(great-circle distance) within a radius that has a row for that day.

Cold start matters (this runs in a Lambda): parsing the 125k-row CSV takes over a second,
so the package also ships a compact index of the same values (``replay_index.npz``, built
by ``scripts/build_replay_index.py``): rows grouped by station and sorted by day, values as
int16 tenths (nearly every weatherAUS value has at most one decimal, so ``v / 10`` gives back
the exact float the CSV reader produces; the few that do not are stored aside as float64). The index records the SHA-256 of the CSV it was built
from; if the CSV changed and the index was not rebuilt, the CSV is parsed instead (slow
but correct) and a warning is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from raincast.weather.base import (
    OBSERVATION_FIELDS,
    HistoryResult,
    Observation,
    WeatherResult,
    WeatherSource,
)
from raincast.weather.stations import Station, haversine_km, load_stations
from raincast.weather.weatheraus import ObservationTable, default_path, read_observations

logger = logging.getLogger(__name__)

INDEX_VERSION = 1
MISSING_INT16 = -32768  # in the index: a missing value
EXCEPTION_INT16 = -32767  # in the index: the value is in the float64 exception arrays
EPOCH = dt.date(1970, 1, 1)


def default_index_path() -> Path:
    return Path(str(resources.files("raincast") / "data" / "replay_index.npz"))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class StationSeries:
    """One station's rows, sorted by day."""

    days: np.ndarray  # int32 days since 1970-01-01, ascending, unique
    values: np.ndarray  # float64 [n, len(OBSERVATION_FIELDS)], NaN where missing

    @property
    def first_date(self) -> dt.date:
        return EPOCH + dt.timedelta(days=int(self.days[0]))

    @property
    def last_date(self) -> dt.date:
        return EPOCH + dt.timedelta(days=int(self.days[-1]))

    def row(self, date: dt.date) -> np.ndarray | None:
        day = (date - EPOCH).days
        at = int(np.searchsorted(self.days, day))
        if at < len(self.days) and self.days[at] == day:
            row: np.ndarray = self.values[at]
            return row
        return None


@dataclass(frozen=True)
class ReplayData:
    series: dict[str, StationSeries]  # weatherAUS Location -> rows
    first_date: dt.date
    latest_date: dt.date


# ---- building the index -------------------------------------------------------------------


def index_arrays(table: ObservationTable) -> dict[str, np.ndarray]:
    """The compact index of an observation table, as the arrays stored in the .npz."""
    days = table.dates.astype("datetime64[D]").astype(np.int64)
    order = np.lexsort((days, table.locations.astype(str)))
    locations = table.locations[order].astype(str)
    days = days[order]
    stacked = np.column_stack([table.values[f][order] for f in OBSERVATION_FIELDS])
    present = ~np.isnan(stacked)
    tenths = np.where(present, np.round(stacked * 10.0), 0.0)
    # Values that int16 tenths cannot hold exactly (a handful of pressures with 2-3
    # decimals) are stored aside as float64, so the index never changes the data.
    exact = ~present | ((tenths / 10.0 == stacked) & (np.abs(tenths) <= 32766))
    encoded = np.where(present, tenths, MISSING_INT16)
    encoded = np.where(exact, encoded, EXCEPTION_INT16).astype(np.int16)
    exc_rows, exc_cols = np.nonzero(~exact)
    stations, starts = np.unique(locations, return_index=True)
    offsets = np.append(starts, len(locations)).astype(np.int64)
    for i in range(len(stations)):
        station_days = days[offsets[i] : offsets[i + 1]]
        if np.any(np.diff(station_days) == 0):
            raise ValueError(f"{stations[i]}: more than one row for the same day")
    return {
        "version": np.array(INDEX_VERSION),
        "fields": np.array(OBSERVATION_FIELDS),
        "stations": stations,
        "offsets": offsets,
        "days": days.astype(np.int32),
        # Stored field-major (one field's values contiguous): compresses ~25% better.
        "values": np.ascontiguousarray(encoded.T),
        "exception_rows": exc_rows.astype(np.int64),
        "exception_cols": exc_cols.astype(np.int64),
        "exception_values": stacked[exc_rows, exc_cols].astype(np.float64),
    }


def write_index(table: ObservationTable, out: Path, csv_sha256: str) -> None:
    arrays: dict[str, Any] = index_arrays(table)  # Any: numpy's stubs type **kwargs as bool
    with out.open("wb") as handle:
        np.savez_compressed(handle, csv_sha256=np.array(csv_sha256), **arrays)


def _data_from_arrays(arrays: dict[str, np.ndarray]) -> ReplayData:
    if int(arrays["version"]) != INDEX_VERSION:
        raise ValueError(f"replay index version {int(arrays['version'])}, expected {INDEX_VERSION}")
    if tuple(str(f) for f in arrays["fields"]) != OBSERVATION_FIELDS:
        raise ValueError("replay index has other fields than OBSERVATION_FIELDS")
    offsets, days, encoded = arrays["offsets"], arrays["days"], arrays["values"].T
    # Decode once at load (vectorised, a few ms): float64 values, NaN where missing.
    values = encoded.astype(np.float64) / 10.0  # row-major [row, field] again
    values[encoded == MISSING_INT16] = np.nan
    values[arrays["exception_rows"], arrays["exception_cols"]] = arrays["exception_values"]
    series = {
        str(name): StationSeries(
            days[offsets[i] : offsets[i + 1]], values[offsets[i] : offsets[i + 1]]
        )
        for i, name in enumerate(arrays["stations"])
    }
    if not series:
        raise ValueError("no observations")
    return ReplayData(
        series=series,
        first_date=EPOCH + dt.timedelta(days=int(days.min())),
        latest_date=EPOCH + dt.timedelta(days=int(days.max())),
    )


def _fresh_index_arrays(
    index_path: Path, csv_path: Path, keys: Sequence[str] | None = None, warn: bool = True
) -> dict[str, np.ndarray] | None:
    """The shipped index's arrays (only ``keys``, when given: an ``.npz`` member is read
    when asked for), or None if it is absent or was built from another CSV (``warn``: say
    so in the log)."""
    if not index_path.exists():
        if warn:
            logger.warning("replay index %s is missing: parsing the CSV (slow)", index_path)
        return None
    with np.load(index_path, allow_pickle=False) as npz:
        wanted = npz.files if keys is None else ["csv_sha256", *keys]
        arrays = {key: npz[key] for key in wanted}
    # A deployment may ship the index without the CSV (replay needs only the index).
    if csv_path.exists() and str(arrays["csv_sha256"]) != file_sha256(csv_path):
        if warn:
            logger.warning(
                "replay index %s is stale (built from another %s): parsing the CSV (slow); "
                "rebuild it with scripts/build_replay_index.py",
                index_path,
                csv_path.name,
            )
        return None
    return arrays


def _load_index(index_path: Path, csv_path: Path) -> ReplayData | None:
    """The shipped index, or None if it is absent or was built from another CSV."""
    arrays = _fresh_index_arrays(index_path, csv_path)
    return None if arrays is None else _data_from_arrays(arrays)


def _index_period(index_path: Path, csv_path: Path) -> tuple[dt.date, dt.date] | None:
    """``_load_index``'s first and last day from the index's days alone (a few ms, against
    30-70 ms to decode the observations), or None where ``_load_index`` would not use it."""
    arrays = _fresh_index_arrays(index_path, csv_path, ("version", "days"), warn=False)
    if arrays is None or int(arrays["version"]) != INDEX_VERSION or not arrays["days"].size:
        return None  # the full load says why
    days = arrays["days"]
    return (
        EPOCH + dt.timedelta(days=int(days.min())),
        EPOCH + dt.timedelta(days=int(days.max())),
    )


def load_replay_data(path: str | Path | None = None) -> ReplayData:
    """Read observations for replay: the shipped index when ``path`` is None (fast), else the
    given weatherAUS-format CSV (or a .npz index built by ``write_index``)."""
    if path is None:
        data = _load_index(default_index_path(), default_path())
        if data is not None:
            return data
        return _data_from_arrays(index_arrays(read_observations()))
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return _data_from_arrays({key: npz[key] for key in npz.files})
    return _data_from_arrays(index_arrays(read_observations(path)))


_lock = threading.Lock()
_cache: dict[str | None, ReplayData] = {}


def cached_replay_data(path: str | Path | None = None) -> ReplayData:
    """``load_replay_data``, once per process and path (thread-safe)."""
    key = None if path is None else str(Path(path).resolve())
    with _lock:
        if key not in _cache:
            _cache[key] = load_replay_data(path)
        return _cache[key]


_periods: dict[str | None, tuple[dt.date, dt.date]] = {}


def replay_period(path: str | Path | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day of ``cached_replay_data(path)``, once per process and path;
    for the shipped index, read without decoding its observations when they are not loaded
    yet (the Prepare step needs the default date, the last day, and none of the data)."""
    key = None if path is None else str(Path(path).resolve())
    with _lock:
        loaded = _cache.get(key)
        if loaded is not None:
            return loaded.first_date, loaded.latest_date
        if key in _periods:
            return _periods[key]
        period = _index_period(default_index_path(), default_path()) if path is None else None
        if period is not None:
            _periods[key] = period
            return period
    data = cached_replay_data(path)
    return data.first_date, data.latest_date


# ---- the weather source -------------------------------------------------------------------


def _km(distance: float) -> str:
    return f"{distance:.1f} km" if distance < 10 else f"{distance:.0f} km"


def _radius(radius: float) -> str:
    return f"{radius:g} km"


class ReplayWeather(WeatherSource):
    """Observations of the nearest weatherAUS station within ``radius_km`` of the point.

    Data load lazily, once per process (shared by every instance with the same ``path``),
    and the instance is safe to use from several threads."""

    name = "replay"

    def __init__(
        self,
        radius_km: float = 50.0,
        path: str | Path | None = None,
        stations_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        radius_km = float(radius_km)
        if not (math.isfinite(radius_km) and radius_km > 0):
            raise ValueError(f"radius_km must be a positive number of km, not {radius_km}")
        self.radius_km = radius_km
        self.path = path
        self.stations_path = stations_path
        self._located: list[Station] | None = None
        self._lock = threading.Lock()

    # -- data --

    @property
    def data(self) -> ReplayData:
        return cached_replay_data(self.path)

    def load(self) -> None:
        self.stations  # noqa: B018 - the property reads the data and locates the stations

    @property
    def first_date(self) -> dt.date:
        return replay_period(self.path)[0]

    @property
    def latest_date(self) -> dt.date:
        """The last day with observations: the default date in offline mode."""
        return replay_period(self.path)[1]

    @property
    def stations(self) -> list[Station]:
        """The stations that have both coordinates and observations."""
        with self._lock:
            if self._located is None:
                table = load_stations(self.stations_path)
                series = self.data.series
                unplaced = sorted(set(series) - set(table))
                if unplaced:
                    logger.warning("no coordinates for station(s) %s: skipped", ", ".join(unplaced))
                self._located = [station for name, station in table.items() if name in series]
            return self._located

    def _period(self) -> str:
        return f"data covers {self.first_date.isoformat()} to {self.latest_date.isoformat()}"

    # -- lookup --

    def _observe(self, lat: float, lon: float, date: dt.date) -> WeatherResult:
        def not_found(reason: str) -> WeatherResult:
            return self._not_found(lat, lon, date, reason)

        ranked = sorted(
            ((haversine_km(lat, lon, s.lat, s.lon), s) for s in self.stations),
            key=lambda pair: pair[0],
        )
        if not ranked:
            return not_found("no observations near here: no station has coordinates")
        in_range = [(d, s) for d, s in ranked if d <= self.radius_km]
        if not in_range:
            distance, nearest = ranked[0]
            return not_found(
                f"no observations near here: nearest station is {nearest.display_name}, "
                f"{_km(distance)} away (radius {_radius(self.radius_km)})"
            )
        series = self.data.series
        for distance, station in in_range:
            row = series[station.name].row(date)
            if row is not None:
                # the same station's day before (None when it has no row that day)
                before = date - dt.timedelta(days=1)
                previous_row = series[station.name].row(before)
                previous = (
                    None
                    if previous_row is None
                    else self._observation(before, previous_row, station, distance)
                )
                return self._found(
                    lat, lon, date, self._observation(date, row, station, distance), previous
                )
        if not (self.first_date <= date <= self.latest_date):
            distance, nearest = in_range[0]
            return not_found(
                f"no observations on {date.isoformat()}: {self._period()} "
                f"(nearest station {nearest.display_name}, {_km(distance)} away)"
            )
        gaps = "; ".join(self._gap(series[s.name], s, d, date) for d, s in in_range)
        return not_found(
            f"no observations on {date.isoformat()} within {_radius(self.radius_km)}: "
            f"{gaps} ({self._period()})"
        )

    def _history(self, lat: float, lon: float, start: dt.date, end: dt.date) -> HistoryResult:
        """The rows of the nearest station within the radius that has any in the period."""
        ranked = sorted(
            (d, s)
            for d, s in ((haversine_km(lat, lon, s.lat, s.lon), s) for s in self.stations)
            if d <= self.radius_km
        )
        if not ranked:
            reason = f"no history near here: no station within {_radius(self.radius_km)}"
            return self._no_history(lat, lon, start, end, reason)
        first, last = (start - EPOCH).days, (end - EPOCH).days
        for distance, station in ranked:
            series = self.data.series[station.name]
            lo, hi = np.searchsorted(series.days, [first, last + 1])
            if hi > lo:
                observations = [
                    self._observation(
                        EPOCH + dt.timedelta(days=int(day)), series.values[at], station, distance
                    )
                    for at, day in zip(range(lo, hi), series.days[lo:hi].tolist(), strict=True)
                ]
                return self._history_found(lat, lon, start, end, observations)
        reason = (
            f"no observations from {start.isoformat()} to {end.isoformat()} within "
            f"{_radius(self.radius_km)} ({self._period()})"
        )
        return self._no_history(lat, lon, start, end, reason)

    @staticmethod
    def _gap(series: StationSeries, station: Station, distance: float, date: dt.date) -> str:
        where = f"{station.display_name}, {_km(distance)} away,"
        if series.first_date <= date <= series.last_date:
            return f"{where} has no row that day"
        return (
            f"{where} has records from {series.first_date.isoformat()} "
            f"to {series.last_date.isoformat()} only"
        )

    def _observation(
        self, date: dt.date, row: np.ndarray, station: Station, distance: float
    ) -> Observation:
        values = {
            name: None if math.isnan(value) else value
            for name, value in zip(OBSERVATION_FIELDS, row.tolist(), strict=True)
        }
        source = {
            "provider": self.name,
            "station": station.name,
            "station_name": station.display_name,
            "distance_km": round(distance, 2),
            "station_lat": station.lat,
            "station_lon": station.lon,
        }
        return Observation(date=date, source=source, **values)
