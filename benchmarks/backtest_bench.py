"""How `raincast backtest` should replay its days: wall time of N days of the example city
list through the ForecastStateMachine on the local runtime (real handlers, offline
providers), side by side:

  fresh runtime per day      what a loop of `raincast run --date DAY` does (every day pays
                             the workers' cold starts); measured on fewer days, per day
  one runtime, 8 envs        one LocalRuntime for all days with its default environment cap
  one runtime, warm, K days  one runtime that keeps an environment per function and slot
                             (what the command uses), K days in flight at once

Each line gives the seconds for the days, seconds per day and the Lambda cold starts. The
first day of every one-runtime variant includes the runtime's start and cold starts; the
"per day" column is over the days after the first.

    python benchmarks/backtest_bench.py [--days 8] [--workers 2] [--fresh-days 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]
FIRST_DAY = dt.date(2016, 1, 1)


def run_days(runtime, cities, data, days, in_flight) -> tuple[float, float, int]:
    from raincast_cli.backtest import replay_days

    started = time.perf_counter()
    first = None
    count = 0
    for _ in replay_days(runtime, cities, data, "cities.csv", days, days_in_flight=in_flight):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    assert count == len(days) and first is not None
    per_day = (end - first) / (len(days) - 1) if len(days) > 1 else end - started
    return end - started, per_day, runtime.lambdas.cold_starts


def main() -> int:
    from sfnstack.local import LocalRuntime

    from raincast.cities import load_city_list
    from raincast_cli.backtest import backtest_runtime
    from raincast_cli.commands.run import LOCAL_ENV

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--fresh-days", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-flight", default="1,2,3,4", help="K values, comma-separated")
    args = parser.parse_args()
    path = ROOT / "examples" / "cities-australia.csv"
    cities, data = load_city_list(path), path.read_bytes()
    template = ROOT / "template.yaml"
    days = [FIRST_DAY + dt.timedelta(days=i) for i in range(args.days)]
    print(f"{len(cities)} cities x {args.days} days, {args.workers} Lambda workers")

    def line(label: str, total: float, per_day: float, cold: int, n: int) -> None:
        print(f"  {label:34} {total:7.2f} s for {n:2} days  {per_day:6.2f} s/day  "
              f"{cold:4} cold starts")  # fmt: skip

    fresh_days = days[: args.fresh_days]
    started = time.perf_counter()
    cold = 0
    for day in fresh_days:
        with LocalRuntime(template, workers=args.workers, env_overrides={"*": LOCAL_ENV}) as rt:
            run_days(rt, cities, data, [day], 1)
            cold += rt.lambdas.cold_starts
    total = time.perf_counter() - started
    line("fresh runtime per day", total, total / len(fresh_days), cold, len(fresh_days))

    with LocalRuntime(template, workers=args.workers, env_overrides={"*": LOCAL_ENV}) as rt:
        total, per_day, cold = run_days(rt, cities, data, days, 1)
    line("one runtime, 8 envs, 1 day", total, per_day, cold, len(days))

    for k in (int(v) for v in args.in_flight.split(",")):
        with backtest_runtime(template, workers=args.workers) as rt:
            total, per_day, cold = run_days(rt, cities, data, days, k)
        line(f"one runtime, warm, {k} days in flight", total, per_day, cold, len(days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
