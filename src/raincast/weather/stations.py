"""Where the weatherAUS stations are: the committed station table and great-circle distance.

The table (``raincast/data/stations.csv``) is built by ``scripts/build_station_table.py``
from GeoNames (towns) and a small hand-made table of Bureau of Meteorology station sites
(airports, RAAF bases, research stations). Columns: name (the weatherAUS Location),
display_name, lat, lon, source (where the coordinates come from).
"""

from __future__ import annotations

import csv
import math
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


@dataclass(frozen=True)
class Station:
    name: str  # the weatherAUS Location, e.g. "SydneyAirport"
    display_name: str  # e.g. "Sydney Airport"
    lat: float
    lon: float
    source: str  # where the coordinates come from


class StationTableError(ValueError):
    """The station table is malformed (missing column, bad number, duplicate name)."""


def default_station_path() -> Path:
    return Path(str(resources.files("raincast") / "data" / "stations.csv"))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def read_stations(path: str | Path | None = None) -> dict[str, Station]:
    """Read a station table; returns name -> Station in file order."""
    path = Path(path) if path is not None else default_station_path()
    stations: dict[str, Station] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"name", "display_name", "lat", "lon", "source"} - set(reader.fieldnames or [])
        if missing:
            raise StationTableError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            name = row["name"].strip()
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except ValueError:
                raise StationTableError(f"{path}: line {line}: bad coordinates") from None
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise StationTableError(f"{path}: line {line}: coordinates out of range")
            if name in stations:
                raise StationTableError(f"{path}: line {line}: duplicate station {name!r}")
            stations[name] = Station(name, row["display_name"].strip(), lat, lon, row["source"])
    return stations


_lock = threading.Lock()
_cache: dict[Path, dict[str, Station]] = {}


def load_stations(path: str | Path | None = None) -> dict[str, Station]:
    """The station table, read once per process (thread-safe). Do not mutate the result."""
    key = Path(path) if path is not None else default_station_path()
    with _lock:
        if key not in _cache:
            _cache[key] = read_stations(key)
        return _cache[key]
