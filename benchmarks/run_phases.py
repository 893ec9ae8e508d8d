"""Where the time of a `raincast run` goes, phase by phase, for this checkout and (with
``--baseline``) another ``raincast`` executable, interleaved, on the same list.

    python benchmarks/run_phases.py --size 1000 --rounds 10 --baseline ../main/.venv/bin/raincast

``run_bench.py`` times whole runs: at 1,000 cities a change of 0.05-0.1 s to the start-up
is lost in the machine's noise there (whole runs move 0.3-0.5 s from one minute to the
next). The phases move less. They are read from the progress lines the run writes to
stderr as its states are entered, each stamped when it arrives here:

- ``start``: process start to the Prepare state entered (the execution started: the
  interpreter, the imports, the local S3 endpoint, the list uploaded);
- ``prepare``: to the Map state entered (the Prepare step, its environment's cold start
  included when it was not ready);
- ``map``: to the Summarize state entered (every batch through geocode, weather, predict,
  store);
- ``tail``: to the process's exit (Summarize, the results copied, the report drawn).

The list is ``examples/cities-australia.csv`` repeated to the size (``run_bench.build_list``).
Prints each round, then per side each phase's median and range, and with ``--baseline``
the median and interquartile range of the difference between the two runs of a round.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import _raincast, build_list, checkout_of, run_command

PHASES = ("start", "prepare", "map", "tail")
MARKERS = (  # the progress line that ends each phase but the last
    "checking the city list:",
    "forecasting: 0/",
    "writing the summary:",
)


def time_phases(raincast: str, cities: Path, out: Path) -> dict[str, float]:
    """Seconds of each phase of one ``raincast run`` (see the module docstring)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        run_command(raincast, cities, out, "phases"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=checkout_of(raincast),
    )
    assert process.stderr is not None
    seen: list[float] = []
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        if len(seen) < len(MARKERS) and line.startswith(MARKERS[len(seen)]):
            seen.append(time.perf_counter() - started)
    process.wait()
    ended = time.perf_counter() - started
    if process.returncode != 0 or len(seen) != len(MARKERS):
        raise RuntimeError(f"raincast run failed ({process.returncode}):\n{''.join(lines)[-3000:]}")
    edges = [0.0, *seen, ended]
    return {phase: edges[i + 1] - edges[i] for i, phase in enumerate(PHASES)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="cities in the list")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--baseline", metavar="RAINCAST", help="another raincast executable")
    args = parser.parse_args()
    sides = {"this": _raincast()}
    if args.baseline:
        sides["baseline"] = args.baseline
    times: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="run-phases-") as folder:
        work = Path(folder)
        cities = build_list(args.size, work)
        order = list(sides)
        for round_number in range(1, args.rounds + 1):
            shift = round_number % len(order)  # who goes first rotates
            for name in order[shift:] + order[:shift]:
                phases = time_phases(sides[name], cities, work / f"out-{name}")
                times[name].append(phases)
                text = "  ".join(f"{p} {phases[p]:5.2f}" for p in PHASES)
                print(
                    f"round {round_number:2d} {name:8s} {text}  whole {sum(phases.values()):5.2f} s"
                )
    print(f"\n{args.size} cities, {args.rounds} rounds, interleaved: median (range) in s")
    for name, rounds in times.items():
        cells = []
        for phase in (*PHASES, "whole"):
            values = [sum(r.values()) if phase == "whole" else r[phase] for r in rounds]
            cells.append(
                f"{phase} {statistics.median(values):5.2f} ({min(values):.2f}-{max(values):.2f})"
            )
        print(f"{name:8s} " + "  ".join(cells))
    if args.baseline:  # the same round's two runs, paired: less noise than the medians above
        cells = []
        for phase in (*PHASES, "whole"):
            differences = sorted(
                (sum(a.values()) - sum(b.values())) if phase == "whole" else a[phase] - b[phase]
                for a, b in zip(times["this"], times["baseline"], strict=True)
            )
            quarter = len(differences) // 4
            cells.append(
                f"{phase} {statistics.median(differences):+.3f} "
                f"({differences[quarter]:+.2f}..{differences[-1 - quarter]:+.2f})"
            )
        print("this - baseline, paired by round: median (interquartile) in s")
        print("         " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
