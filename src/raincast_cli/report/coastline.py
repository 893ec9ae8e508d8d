"""The land outlines the report maps are drawn on: Natural Earth's 1:110m country polygons
(public domain), shipped as ``raincast_cli/report/data/naturalearth-110m.json.gz`` (built by
``scripts/build_coastline.py``; about 10,000 points, 43 KB)."""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources

import numpy as np

COASTLINE_FILE = "naturalearth-110m.json.gz"


@functools.cache
def coastline_rings() -> tuple[np.ndarray, ...]:
    """Every polygon ring as an (n, 2) array of (lon, lat) degrees."""
    data = (resources.files("raincast_cli.report") / "data" / COASTLINE_FILE).read_bytes()
    document = json.loads(gzip.decompress(data))
    return tuple(
        np.asarray(ring, dtype=np.float64).reshape(-1, 2) / 100.0 for ring in document["rings"]
    )
