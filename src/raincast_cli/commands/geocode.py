"""``raincast geocode NAME... [--provider geonames|open-meteo|locationiq] [--json]``

Prints one row per name (a table, or a JSON list of results with ``--json``). Exit code 0
when every name was found, 1 when any was not (all results are still printed), 2 for a
usage or provider error (bad configuration, provider down), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from raincast.errors import ProviderError
from raincast.geocoding import DEFAULT_PROVIDER, PROVIDERS, GeocodeResult, Place, get_geocoder
from raincast.sanitize import printable, printable_lines

EXIT_OK, EXIT_NOT_FOUND, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help='place names, optionally qualified: "Springfield, IL, US", "Paris, France"',
    )
    parser.add_argument(
        "--provider",
        choices=list(PROVIDERS),
        default=DEFAULT_PROVIDER,
        help="geonames: offline index (default); open-meteo: online, no key; "
        "locationiq: online, key in LOCATIONIQ_API_KEY",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of results")
    parser.add_argument(
        "--alternatives",
        type=int,
        default=3,
        metavar="N",
        help="how many other candidates to list for an ambiguous name (default 3)",
    )
    parser.add_argument(
        "--prefer-country",
        metavar="CC",
        help="geonames only: rank places in this country (ISO code, e.g. AU) first",
    )


def run(args: argparse.Namespace) -> int:
    if args.alternatives < 0:
        return _fail("--alternatives must be >= 0")
    config: dict[str, Any] = {"max_alternatives": args.alternatives}
    if args.prefer_country:
        if args.provider != "geonames":
            return _fail("--prefer-country works with --provider geonames only")
        config["prefer_country"] = args.prefer_country
    try:
        geocoder = get_geocoder(args.provider, **config)
        results = [geocoder.geocode(name) for name in args.names]
    except ProviderError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # bad configuration, e.g. no LocationIQ key
        return _fail(str(exc))

    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(printable_lines(format_table(results)))
    return EXIT_OK if all(r.found for r in results) else EXIT_NOT_FOUND


def _fail(message: str) -> int:
    print(f"raincast geocode: {printable(message)}", file=sys.stderr)
    return EXIT_ERROR


def _label(place: Place) -> str:
    parts = [place.name, place.admin1 or "", place.country_code]
    return ", ".join(p for p in parts if p)


def format_table(results: list[GeocodeResult]) -> str:
    """A fixed-width table; alternatives listed under their row."""
    header = ("QUERY", "PLACE", "CC", "ADMIN1", "LAT", "LON", "TIMEZONE", "POPULATION", "GEONAMEID")
    rows: list[tuple[str, ...]] = []
    notes: dict[int, str] = {}
    for r in results:
        p = r.place
        if p is None:
            notes[len(rows)] = f"  {r.reason}"
            rows.append((r.query, "-", "", "", "", "", "", "", ""))
            continue
        rows.append(
            (
                r.query,
                p.name,
                p.country_code,
                p.admin1 or "",
                f"{p.lat:.5f}",
                f"{p.lon:.5f}",
                p.timezone or "",
                "" if p.population is None else str(p.population),
                "" if p.geonameid is None else str(p.geonameid),
            )
        )
        if r.alternatives:
            notes[len(rows) - 1] = "  also: " + "; ".join(_label(a) for a in r.alternatives)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {4, 5, 7, 8}

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip() + "\n"

    out = [line(header)]
    for i, row in enumerate(rows):
        out.append(line(row))
        if i in notes:
            out.append(notes[i] + "\n")
    return "".join(out)
