"""Builds the coastline the HTML reports draw their maps on:
src/raincast_cli/report/data/naturalearth-110m.json.gz.

Source: Natural Earth's 1:110m "Admin 0 - Countries" outlines (public domain), as shipped
in the geopandas 0.14.4 wheel (geopandas/datasets/naturalearth_lowres; geopandas 1.0
dropped the bundled copy). The shapefile is read straight out of the wheel with pyshp; no
geopandas install is needed. Each polygon ring is kept (Antarctica is dropped: no city to
forecast there, and it dominates a world map's area), with coordinates rounded to 0.01
degrees (about 1 km, far below the 1:110m scale's detail) and stored as integer
hundredths. The result is about 50 KB.

    python scripts/build_coastline.py [--wheel geopandas-0.14.4-py3-none-any.whl]

Without --wheel, the wheel is fetched with ``pip download --no-deps geopandas==0.14.4``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import shapefile  # pyshp

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "raincast_cli" / "report" / "data" / "naturalearth-110m.json.gz"
WHEEL_VERSION = "0.14.4"
MEMBER = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"
DROPPED = {"Antarctica"}


def fetch_wheel(directory: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         f"geopandas=={WHEEL_VERSION}", "-d", str(directory)],
        check=True,
    )  # fmt: skip
    return next(directory.glob(f"geopandas-{WHEEL_VERSION}-*.whl"))


def rings_from_wheel(wheel: Path) -> tuple[list[list[int]], int]:
    with zipfile.ZipFile(wheel) as archive:
        files = {ext: io.BytesIO(archive.read(f"{MEMBER}.{ext}")) for ext in ("shp", "shx", "dbf")}
        encoding = archive.read(f"{MEMBER}.cpg").decode("ascii").strip()  # the .dbf's code page
    reader = shapefile.Reader(
        shp=files["shp"], shx=files["shx"], dbf=files["dbf"], encoding=encoding
    )
    rings: list[list[int]] = []
    countries = 0
    for record in reader.iterShapeRecords():
        if record.record["name"] in DROPPED:
            continue
        countries += 1
        shape = record.shape
        bounds = [*shape.parts, len(shape.points)]
        for start, end in itertools.pairwise(bounds):
            ring: list[int] = []
            for lon, lat in shape.points[start:end]:
                ring += [round(lon * 100), round(lat * 100)]
            if len(ring) >= 6:
                rings.append(ring)
    return rings, countries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"geopandas-{WHEEL_VERSION} wheel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        wheel = args.wheel or fetch_wheel(Path(scratch))
        rings, countries = rings_from_wheel(wheel)
    document = {
        "source": "Natural Earth 1:110m Cultural Vectors, Admin 0 - Countries (public domain), "
        f"from geopandas {WHEEL_VERSION} datasets/naturalearth_lowres; Antarctica dropped",
        "units": "hundredths of a degree, rings as flat [lon0, lat0, lon1, lat1, ...]",
        "countries": countries,
        "rings": rings,
    }
    data = json.dumps(document, separators=(",", ":")).encode("utf-8")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    points = sum(len(r) for r in rings) // 2
    print(f"{OUT.relative_to(ROOT)}: {countries} countries, {len(rings)} rings, {points} points, "
          f"{OUT.stat().st_size} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
