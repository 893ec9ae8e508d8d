"""Faults survived: the real pipeline (LocalRuntime on template.yaml, the real handlers in
worker processes, --weather open-meteo --geocoder open-meteo) against the fake provider
server (tests/fakes/provider_server.py) under several fault profiles, side by side with a
clean run.

For each profile it prints the cities forecast ("recal": of those, how many Predict
recalibrated with their place's past year from the archive, which the faults hit too),
reported with a reason (a city that does
not exist is "not found"; a provider failure after the retries is that city's reason),
lost (no row in forecast.csv: the run failed or dropped it), the requests the fake
answered and the run time against the clean run. Every run starts a fresh runtime (cold
workers, empty provider caches, and empty buckets: the recalibration offsets Predict keeps
in the results bucket are not carried from one profile to the next), so runs are
comparable.

    python benchmarks/fault_bench.py [--cities 100] [--repeat 1] [--workers 2]

The client timeouts are set short (``RAINCAST_HTTP_*_TIMEOUT=1``) and the fake's stalls
last 3 s, so a "timeout" costs a second, not ten. To measure another checkout (e.g. main,
for a before/after table), run this script with that checkout's ``src`` and
``sfnstack/src`` first on PYTHONPATH and ``--root`` pointing at it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fakes.provider_server import FakeProviderServer, FaultProfile  # noqa: E402

PROFILES = {
    "clean": FaultProfile(),
    "2% 5xx, 1% timeouts, 1% 429": FaultProfile(
        error_rate=0.02, timeout_rate=0.01, rate_limit_rate=0.01, retry_after=2
    ),
    "20% 5xx, 5% timeouts, 10% 429": FaultProfile(
        error_rate=0.2, timeout_rate=0.05, rate_limit_rate=0.1, retry_after=2
    ),
    "20% 5xx, 10% timeouts, 10% 429": FaultProfile(
        error_rate=0.2, timeout_rate=0.1, rate_limit_rate=0.1, retry_after=2
    ),
}
MISSING = ["Xyzzyville", "Qwertyborough"]  # places that do not exist
CLIENT = {"RAINCAST_HTTP_CONNECT_TIMEOUT": "1", "RAINCAST_HTTP_READ_TIMEOUT": "1"}
LOCAL_ENV = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Raincast"}


def city_list(count: int) -> list[dict[str, str]]:
    """The ``count`` most populous places of the offline GeoNames index that geocode back to
    themselves by "name, country", plus places that do not exist."""
    from raincast.geocoding.geonames import GeoNamesGeocoder, load_index

    index = load_index()
    geocoder = GeoNamesGeocoder()
    rows = sorted(range(index.size), key=lambda r: -(index.population(r) or 0))
    chosen: list[dict[str, str]] = []
    seen: set[str] = set()
    for row in rows:
        name, country = index.name(row), index.country_code(row)
        if name in seen or "," in name:
            continue
        found = geocoder.geocode(f"{name}, {country}").place
        if found is not None and found.geonameid == index.place(row).geonameid:
            chosen.append({"city": name, "country": country})
            seen.add(name)
        if len(chosen) == count - len(MISSING):
            break
    return chosen + [{"city": name, "country": "AU"} for name in MISSING]


def count_recalibrated(s3: Any, bucket: str, run_id: str) -> int:
    """The run's forecasts that Predict recalibrated with their place's history."""
    from raincast.pipeline.records import read_batch_document, run_prefix

    count = 0
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=run_prefix(run_id) + "batches/"
    )
    for entry in (e for page in pages for e in page.get("Contents", [])):
        body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
        for record in read_batch_document(body):
            count += (record.get("calibration") or {}).get("method") == "history"
    return count


def run_once(
    root: Path, fake: FakeProviderServer, cities: list[dict[str, str]], workers: int, run_id: str
) -> dict[str, Any]:
    from sfnstack.local import LocalRuntime

    env = {**LOCAL_ENV, **fake.env(), **CLIENT}
    started = time.perf_counter()
    runtime = LocalRuntime(root / "template.yaml", workers=workers, env_overrides={"*": env})
    try:
        request = {"cities": cities, "run_id": run_id, "date": "2026-11-20",
                   "weather": "open-meteo", "geocoder": "open-meteo"}  # fmt: skip
        result = runtime.execute("ForecastStateMachine", request)
        seconds = time.perf_counter() - started
        rows: list[dict[str, str]] = []
        recalibrated = 0
        try:
            s3, bucket = runtime.s3_client(), runtime.buckets["ResultsBucket"]
            key = f"runs/{run_id}/forecast.csv"
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            rows = list(csv.DictReader(body.decode("utf-8").splitlines()))
            recalibrated = count_recalibrated(s3, bucket, run_id)
        except Exception:
            rows = []
    finally:
        runtime.close()
    by_city = {row["city"]: row for row in rows}
    ok = sum(1 for row in rows if row["status"] == "ok")
    existing = [c["city"] for c in cities if c["city"] not in MISSING]
    return {
        "status": result.status,
        "forecast": ok,
        "recalibrated": recalibrated,
        "reported": sum(1 for row in rows if row["status"] != "ok"),
        "lost": len(cities) - len(rows),
        "existing_not_forecast": sum(
            1 for city in existing if by_city.get(city, {}).get("status") != "ok"
        ),
        "requests": fake.stats.requests,
        "seconds": seconds,
        "reasons": sorted(
            {(row["reason"] or "")[:60] for row in rows if row["status"] != "ok"} - {""}
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=HERE.parent, help="checkout to run")
    parser.add_argument("--reasons", action="store_true", help="list the distinct reasons")
    args = parser.parse_args()

    cities = city_list(args.cities)
    print(
        f"{len(cities)} cities ({len(MISSING)} that do not exist), {args.workers} workers, "
        f"root {args.root}, {args.repeat} run(s) per profile; client timeouts 1 s, stalls 3 s"
    )
    header = (
        f"{'profile':34} {'status':10} {'forecast':>8} {'recal':>6} {'reason':>7} {'lost':>5} "
        f"{'exist!ok':>8} {'requests':>8} {'time s':>13} {'vs clean':>9}"
    )
    print(header)
    print("-" * len(header))
    clean_seconds: float | None = None
    with FakeProviderServer() as fake:
        for label, profile in PROFILES.items():
            results = []
            for n in range(args.repeat):
                fake.reset(FaultProfile(**{**profile.__dict__, "stall_seconds": 3.0, "seed": n}))
                results.append(run_once(args.root, fake, cities, args.workers, f"fault-{n}"))
            times = [r["seconds"] for r in results]
            median = statistics.median(times)
            if clean_seconds is None:
                clean_seconds = median
            span = f"{min(times):.1f}-{max(times):.1f}" if len(times) > 1 else f"{times[0]:.1f}"

            def rng(key: str, rs: list[dict[str, Any]] = results) -> str:
                values = [r[key] for r in rs]
                low, high = min(values), max(values)
                return str(low) if low == high else f"{low}-{high}"

            statuses = "/".join(sorted({r["status"] for r in results}))
            print(
                f"{label:34} {statuses:10} {rng('forecast'):>8} {rng('recalibrated'):>6} "
                f"{rng('reported'):>7} "
                f"{rng('lost'):>5} {rng('existing_not_forecast'):>8} {rng('requests'):>8} "
                f"{span:>13} {median / clean_seconds:>8.1f}x"
            )
            if args.reasons:
                for reason in sorted({x for r in results for x in r["reasons"]}):
                    print(f"    {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
