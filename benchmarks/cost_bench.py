"""What a run costs on AWS, by `raincast cost`, for both result layouts side by side, and
beside the original tutorial's design: N cities (the Australian example list, repeated),
each layout measured R times (the measured durations vary with the shared machine's load).

    python benchmarks/cost_bench.py [--cities 250] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cost(cities: Path, layout: str, workers: int) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "raincast_cli", "cost", str(cities), "--json",
         "--layout", layout, "--workers", str(workers)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cities", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with (ROOT / "examples" / "cities-australia.csv").open(encoding="utf-8") as f:
        names = [(r["city"], r["country"]) for r in csv.DictReader(f)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cities.csv"
        rows = ["city,country", *(",".join(names[i % len(names)]) for i in range(args.cities))]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        results: dict[str, list[dict]] = {"batch": [], "city": []}
        for _ in range(args.runs):
            for layout in results:  # interleaved, so both see the same machine load
                results[layout].append(cost(path, layout, args.workers))
    print(f"{args.cities} cities, {args.runs} runs per layout, {args.workers} Lambda workers")
    print(f"{'layout':<8} {'this run (range)':>24} {'per 10,000 cities (range)':>28}")
    for layout, reports in results.items():
        totals = sorted(r["total_usd"] for r in reports)
        per = sorted(r["per_10000_cities_usd"] for r in reports)
        print(f"{layout:<8} ${totals[0]:.6f}-${totals[-1]:.6f}      ${per[0]:.5f}-${per[-1]:.5f}")
    tutorial = results["batch"][0]["tutorial_per_10000_cities"]["usd"]
    print(f"{'tutorial':<8} {'':>24}      ${tutorial:.5f}")
    print("\nprojection (median run):")
    print(f"{'cities':>10} {'batch':>12} {'city':>12} {'tutorial':>12}")
    medians = {
        layout: sorted(reports, key=lambda r: r["per_10000_cities_usd"])[len(reports) // 2]
        for layout, reports in results.items()
    }
    for i, row in enumerate(medians["batch"]["projection"]):
        city = medians["city"]["projection"][i]["usd"]
        print(
            f"{row['cities']:>10,} {row['usd']:>12.4f} {city:>12.4f} {row['tutorial_usd']:>12.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
