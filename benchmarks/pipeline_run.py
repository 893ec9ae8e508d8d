"""Wall time of a forecast run through the local runtime: the ForecastStateMachine with the
real handlers, offline providers and model, on N cities (the Australian example list,
repeated). The first execution pays the worker processes' cold starts (imports, GeoNames
index, replay index, model); the second runs warm.

    python benchmarks/pipeline_run.py [--cities 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]


def main() -> int:
    from sfnstack.local import LocalRuntime

    from raincast_cli.commands.run import LOCAL_ENV

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cities", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with (ROOT / "examples" / "cities-australia.csv").open(encoding="utf-8") as f:
        names = [{"city": r["city"], "country": r["country"]} for r in csv.DictReader(f)]
    cities = [names[i % len(names)] for i in range(args.cities)]
    with LocalRuntime(
        ROOT / "template.yaml", workers=args.workers, env_overrides={"*": LOCAL_ENV}
    ) as rt:
        print(f"{len(cities)} cities, {args.workers} Lambda workers")
        for label in ("cold", "warm"):
            start = time.perf_counter()
            result = rt.execute(
                "ForecastStateMachine", {"cities": cities, "run_id": f"bench-{label}"}
            )
            seconds = time.perf_counter() - start
            if result.status != "SUCCEEDED":
                print(f"{label}: {result.status} {result.error}: {result.cause}")
                return 1
            counts = result.output["by_status"]
            print(f"  {label}: {seconds:6.2f} s  {len(cities) / seconds:7.1f} cities/s  {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
