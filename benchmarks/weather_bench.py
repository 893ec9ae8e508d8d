"""Replay weather: cold start in a fresh process, and observe() throughput.

    PYTHONPATH=src /work/venv/bin/python benchmarks/weather_bench.py [--runs 5] [--seconds 2]

Cold start = a new Python process: import raincast.weather.replay, build ReplayWeather,
first observe() (which loads the shipped index). It is compared with the same first lookup
built by parsing the CSV (what the replay source would cost without the index).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COLD_INDEX = """
import time, json
t0 = time.perf_counter()
import datetime as dt
from raincast.weather.replay import ReplayWeather
t1 = time.perf_counter()
w = ReplayWeather()
r = w.observe(-33.8688, 151.2093, dt.date(2015, 6, 1))
t2 = time.perf_counter()
r = w.observe(-37.8136, 144.9631, dt.date(2016, 1, 1))
t3 = time.perf_counter()
assert r.found
print(json.dumps({"import": t1 - t0, "load_first": t2 - t1, "second": t3 - t2, "total": t2 - t0}))
"""

COLD_CSV = """
import time, json
t0 = time.perf_counter()
import datetime as dt
from raincast.weather import replay
from raincast.weather.weatheraus import read_observations
t1 = time.perf_counter()
data = replay._data_from_arrays(replay.index_arrays(read_observations()))
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load_first": t2 - t1, "total": t2 - t0}))
"""


def fresh_process(code: str) -> dict[str, float]:
    env = dict(
        os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    timings = json.loads(out)
    timings["process"] = time.perf_counter() - started
    return timings


def summarize(label: str, runs: list[dict[str, float]]) -> None:
    keys = [k for k in ("import", "load_first", "second", "total", "process") if k in runs[0]]
    parts = []
    for key in keys:
        values = [r[key] * 1000 for r in runs]
        parts.append(f"{key} {statistics.median(values):.1f} ms (min {min(values):.1f})")
    print(f"{label:<32} " + ", ".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--seconds", type=float, default=2.0, help="throughput duration")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    import datetime as dt

    from raincast.weather.replay import ReplayWeather, default_index_path
    from raincast.weather.weatheraus import default_path

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)")
    print(
        f"shipped index {default_index_path().stat().st_size / 1e6:.2f} MB "
        f"(CSV {default_path().stat().st_size / 1e6:.2f} MB gzipped)"
    )
    print(f"cold start, median of {args.runs} fresh processes:")
    summarize("  replay via shipped index", [fresh_process(COLD_INDEX) for _ in range(args.runs)])
    summarize(
        "  replay via CSV parse", [fresh_process(COLD_CSV) for _ in range(max(1, args.runs // 2))]
    )

    weather = ReplayWeather()
    stations = weather.stations
    first, last = weather.first_date, weather.latest_date
    span = (last - first).days
    rng = random.Random(42)

    def near_query():
        s = rng.choice(stations)
        return (s.lat + rng.uniform(-0.2, 0.2), s.lon + rng.uniform(-0.2, 0.2),
                first + dt.timedelta(days=rng.randrange(span + 1)))  # fmt: skip

    def far_query():
        return (rng.uniform(-60, 60), rng.uniform(-180, 180),
                first + dt.timedelta(days=rng.randrange(span + 1)))  # fmt: skip

    weather.observe(*near_query())  # warm
    for label, make in (("near a station", near_query), ("anywhere (mostly not found)", far_query)):
        queries = [make() for _ in range(20000)]
        found = calls = 0
        deadline = time.perf_counter() + args.seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            for query in queries[calls % 20000 : calls % 20000 + 500]:
                found += weather.observe(*query).found
                calls += 1
        elapsed = time.perf_counter() - started
        print(
            f"observe() {label:<28} {calls / elapsed:,.0f} calls/s "
            f"({elapsed / calls * 1e6:.0f} us/call, {found / calls:.0%} found)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
