#!/usr/bin/env python3
"""Offline geocoder numbers: index file size, cold load time in fresh processes, memory,
and lookups per second.

    PYTHONPATH=src python benchmarks/geocode_bench.py [--runs 5] [--seconds 3]

Cold numbers come from fresh interpreters (what a Lambda cold start pays), each timing
``import`` of the geocoding package, the index load, and the first lookup separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

COLD_SCRIPT = r"""
import json, resource, time
t0 = time.perf_counter()
from raincast.geocoding import get_geocoder
from raincast.geocoding.geonames import load_index
t1 = time.perf_counter()
load_index()
t2 = time.perf_counter()
result = get_geocoder("geonames").geocode("Wagga Wagga")
t3 = time.perf_counter()
assert result.found
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t3 - t2,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# A mix of what a batch sends: plain names, station names in the data set's CamelCase,
# qualified names, alternate names, accents, and names that do not exist.
QUERIES = [
    "Sydney",
    "Springfield",
    "Springfield, IL, US",
    "Paris, France",
    "São Paulo",
    "Sao Paulo",
    "Cologne",
    "Köln",
    "WaggaWagga",
    "Coffs Harbour",
    "Alice Springs",
    "Richmond, NSW, AU",
    "London",
    "New York",
    "Perth, WA",
    "Xyzzyville",
    "Nowhere, ZZ",
    "Portland, OR",
    "Melbourne",
    "Tokyo",
]


def cold_runs(runs: int) -> list[dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", COLD_SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        out.append(json.loads(proc.stdout))
    return out


def throughput(seconds: float) -> tuple[float, int]:
    sys.path.insert(0, str(SRC))
    from raincast.geocoding import get_geocoder

    geocoder = get_geocoder("geonames")
    for q in QUERIES:  # warm: load the index outside the timed loop
        geocoder.geocode(q)
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for q in QUERIES:
            geocoder.geocode(q)
        done += len(QUERIES)
    return done / elapsed, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes for cold numbers")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the lookup loop")
    args = parser.parse_args()

    sys.path.insert(0, str(SRC))
    from raincast.geocoding.geonames import DEFAULT_INDEX_PATH, GeoNamesIndex

    size = DEFAULT_INDEX_PATH.stat().st_size
    index = GeoNamesIndex.load(DEFAULT_INDEX_PATH)
    load1, load5, _ = os.getloadavg()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load1:.1f} (1 min) {load5:.1f} (5 min): timings scale with it"
    )
    print(f"index file      {DEFAULT_INDEX_PATH.relative_to(SRC.parent)}")
    print(f"index size      {size / 1e6:.2f} MB ({size:,} bytes); {index.size:,} places")
    print(f"index source    {index.source}")

    runs = cold_runs(args.runs)

    def line(label: str, key: str, scale: float = 1000.0, unit: str = "ms") -> None:
        values = [r[key] * scale for r in runs]
        print(
            f"{label:<15} median {statistics.median(values):7.1f} {unit}   "
            f"min {min(values):7.1f}   max {max(values):7.1f}   ({len(values)} fresh processes)"
        )

    line("cold import", "import")
    line("cold load", "load")
    line("first lookup", "first")
    for r in runs:
        r["total"] = r["import"] + r["load"] + r["first"]
    line("cold total", "total")
    line("max RSS", "maxrss_mb", scale=1.0, unit="MB")

    rate, done = throughput(args.seconds)
    print(f"lookups/second  {rate:,.0f} ({done:,} lookups of {len(QUERIES)} mixed queries, warm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
