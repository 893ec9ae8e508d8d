"""What `raincast run` costs next to the work its handlers do: the whole command (a fresh
process: start-up, the local runtime, the state machine, the results copied into --out)
against a plain in-process loop over the same domain code, on the same city list, side by
side and interleaved.

    python benchmarks/run_bench.py                      # sizes 1000 and 10000, 3 rounds
    python benchmarks/run_bench.py --sizes 1000 --rounds 5 --workers 2
    python benchmarks/run_bench.py --baseline ../main/.venv/bin/raincast   # before/after

``--baseline`` times another ``raincast`` executable (an earlier checkout's, run in that
checkout, so with its own template and handlers) in the same rounds, interleaved, on the
same list: the change and what it changed, side by side, with the two runs of each round
paired (the median and interquartile range of their difference).

The list is ``examples/cities-australia.csv`` repeated to N rows. The plain loop
(``--plain-loop``, run by this script as a fresh process too) parses it, cuts it into the
state machine's batches of 25, and per batch calls ``geocode_batch``, ``weather_batch``,
``predict_batch`` with the offline default providers (geonames, replay) and the model, then
writes what ``raincast run`` leaves in ``--out``: one JSON file per city
(``city_document``) and ``forecast.csv``. Both sides pay their start-up (interpreter,
imports, the GeoNames and replay indexes, the model): "whole" times are wall clock of the
process. The loop's own time without start-up is printed too ("loop body").

Memory: in runs of their own (``--memory-rounds`` per size, and per side with a
baseline, the sides taking turns), after the timed rounds (reading ``smaps_rollup`` of
ten processes every 50 ms costs CPU that the timed run would pay: 0.16 s of a 1,000-city
run's median, 2.73 -> 2.89 s, in one A/B of eight pairs), a sampler thread reads ``/proc``
every 50 ms for the whole process tree of the ``raincast run`` child (it and every
descendant: the Lambda environments) and records the peak of the tree's summed RSS and
summed PSS, and the peak PSS of the ``raincast run`` process itself (the runtime and the
local S3). RSS sums count shared pages once per process
(forked environments share their parent's pages), so PSS, which divides each shared page
among its sharers, is the honest "all processes together" figure; RSS is printed for
comparison. ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is no use here: it is the largest
single descendant, not the sum. A process that lives less than 50 ms can be missed. Next
to each peak, the bytes of the results that run left in ``--out``, and between two sizes
how much the peak grew against how much the results grew: what a run holds beyond its
results should not grow with the list (a traced 10,000-city run held, at its end, the
objects' bytes in the local S3 and the parsed city list beyond what a 1,000-city run held;
the rest of the peak's growth is the report process drawing 10,000 points and buffers in
flight).

CPU: the CPU seconds (user + system) of each side's whole process tree, from
``getrusage(RUSAGE_CHILDREN)`` around it (a process's descendants are counted when it has
waited for them, which ``raincast run`` does for all of its own). On a shared machine CPU
seconds vary much less than wall seconds.

Disk: both sides create one file per city, and on this kind of machine creating files
costs anywhere from 0.02 to 0.7 ms each from one minute to the next (kernel time: the
results writer of two 1,000-city runs a minute apart spent 0.02 s and 0.55 s of system
CPU on the same files). When that is slow it is most of the plain loop, so the plain
loop's time, and the ratio, move with it. Each round first times 1,000 new files of 2 KB
in the work folder ("disk", just before the sides run; it moves within a round too, so it
is a sign, not a correction).

Prints, per size and round, both times, the ratio, the disk probe and the load average;
then the memory run of each size, and the ranges.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cities-australia.csv"
BATCH_SIZE = 25  # the state machine's ItemBatcher MaxItemsPerBatch


# The project's own sources; scripts/setup.sh compiles them to bytecode.
SOURCE_DIRS = ("src", "sfnstack/src", "functions", "layers/model/python")


def stale_bytecode(root: Path = ROOT) -> tuple[int, int]:
    """(modules without up-to-date bytecode, modules) among the project's sources: where
    PYTHONDONTWRITEBYTECODE is set, every process that imports such a module compiles it
    again, in both sides of the comparison (printed with the results)."""
    stale = total = 0
    for folder in SOURCE_DIRS:
        for source in (root / folder).rglob("*.py"):
            total += 1
            cached = Path(importlib.util.cache_from_source(str(source)))
            try:
                header = cached.read_bytes()[:16]
            except OSError:
                stale += 1
                continue
            stat = source.stat()
            recorded = (
                int.from_bytes(header[8:12], "little"),
                int.from_bytes(header[12:16], "little"),
            )
            if recorded != (int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF):
                stale += 1
    return stale, total


def build_list(size: int, into: Path) -> Path:
    """``examples/cities-australia.csv`` repeated to ``size`` rows."""
    with EXAMPLE.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    path = into / f"cities-{size}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["city", "country"], lineterminator="\n")
        writer.writeheader()
        for i in range(size):
            writer.writerow(
                {"city": rows[i % len(rows)]["city"], "country": rows[i % len(rows)]["country"]}
            )
    return path


def plain_loop(cities: Path, out: Path) -> float:
    """The domain code in a loop, in this process; returns the loop body's seconds (after
    the providers and the model are loaded). See the module docstring."""
    import datetime as dt

    from raincast.cities import load_city_list
    from raincast.geocoding import get_geocoder
    from raincast.model.artifact import RainModel
    from raincast.pipeline.records import Batch, RunSettings, city_document, city_key, result_row
    from raincast.pipeline.steps import geocode_batch, predict_batch, weather_batch
    from raincast.pipeline.summary import forecast_csv
    from raincast.weather import get_weather_source

    geocoder = get_geocoder("geonames")
    weather = get_weather_source("replay")
    model = RainModel.load()
    latest = weather.latest_date  # type: ignore[attr-defined]
    date = latest.isoformat() if isinstance(latest, dt.date) else str(latest)
    started = time.perf_counter()
    items = load_city_list(cities).to_items()
    settings = RunSettings(run_id="bench", date=date, trigger="bench")
    forecast_for = (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()
    (out / "cities").mkdir(parents=True, exist_ok=True)
    rows = []
    for start in range(0, len(items), BATCH_SIZE):
        batch = Batch(settings, items[start : start + BATCH_SIZE])
        batch.batch_id = f"{start:05d}-{start + len(batch.items) - 1:05d}"
        geocode_batch(batch, geocoder)
        weather_batch(batch, weather)
        predict_batch(batch, model)
        for item in batch.items:
            record = {
                "run_id": settings.run_id,
                "batch_id": batch.batch_id,
                "date": date,
                "forecast_for": forecast_for,
                "providers": {"geocoder": settings.geocoder, "weather": settings.weather},
                **item,
            }
            key = city_key("bench", int(item["index"]), str(item.get("city") or ""))
            (out / key.removeprefix("runs/bench/")).write_bytes(city_document(record))
            rows.append(result_row(item, date))
    (out / "forecast.csv").write_bytes(forecast_csv(rows))
    return time.perf_counter() - started


class TreeMemory:
    """Peak summed RSS and PSS (bytes) of a process and all its descendants, sampled from
    /proc every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_root_pss = 0  # the process itself: raincast run's runtime and local S3
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _children() -> dict[int, list[int]]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        return children

    def _tree(self) -> list[int]:
        children = self._children()
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    @staticmethod
    def _rss_pss(pid: int) -> tuple[int, int]:
        rss = pss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return rss, pss

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = self._tree()
            rss = pss = 0
            for pid in tree:
                r, p = self._rss_pss(pid)
                rss, pss = rss + r, pss + p
                if pid == self.pid:
                    self.peak_root_pss = max(self.peak_root_pss, p)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(tree))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _raincast() -> str:
    found = Path(sys.executable).with_name("raincast")
    return str(found) if found.exists() else shutil.which("raincast") or "raincast"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def discard(folder: Path) -> None:
    """Moves ``folder`` (if any) out of the way, into ``discarded/`` beside it, which the
    benchmark removes at its end. Not removed now: ext4 without a journal (this machine's
    root file system) avoids reusing an inode freed in the last 60 s (360 s while its
    inode table block is not yet written back), checking every such inode for each new
    file, so that 10,000 files created right after 10,000 were removed took 1.8 s of
    system time instead of 0.23 s, and each side of the next round paid it in its file
    writes. (An earlier removal, such as the end of the last benchmark, still costs the
    first minutes of a run.)"""
    if folder.exists():
        trash = folder.parent / "discarded"
        trash.mkdir(exist_ok=True)
        folder.rename(trash / f"{folder.name}-{uuid.uuid4().hex[:8]}")


def disk_probe(into: Path, files: int = 1000) -> float:
    """Seconds to create ``files`` new files of 2 KB under ``into`` (discarded after)."""
    probe = Path(tempfile.mkdtemp(prefix="disk-probe-", dir=into))
    body = b"x" * 2048
    started = time.perf_counter()
    for number in range(files):
        with open(probe / f"{number:05d}.json", "wb") as handle:
            handle.write(body)
    took = time.perf_counter() - started
    discard(probe)
    return took


def time_plain(cities: Path, out: Path) -> tuple[float, float, float]:
    """(whole process seconds, loop body seconds, CPU seconds) of the plain loop in a fresh
    process."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--plain-loop", str(cities), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    whole = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the plain loop failed:\n{done.stderr}")
    return whole, float(done.stdout.strip().splitlines()[-1]), _children_cpu() - cpu


def checkout_of(raincast: str) -> Path:
    """The checkout a ``raincast`` executable belongs to (``<checkout>/.venv/bin/raincast``),
    where it is run: ``raincast run`` takes the template, and with it the handlers, from
    its working directory, and the domain package from its own environment, so a baseline
    run from this checkout would mix this checkout's handlers with its own package. This
    checkout when the executable is not in one."""
    root = Path(raincast).resolve().parents[2] if Path(raincast).is_file() else ROOT
    return root if (root / "template.yaml").is_file() else ROOT


def run_command(
    raincast: str, cities: Path, out: Path, run_id: str, workers: int | None = None
) -> list[str]:
    """The ``raincast run`` command line a benchmark times (run it in ``checkout_of``)."""
    command = [raincast, "run", str(cities), "--out", str(out), "--run-id", run_id]
    return command + (["--workers", str(workers)] if workers else [])


def time_run(
    cities: Path,
    out: Path,
    workers: int | None,
    run_id: str,
    raincast: str | None = None,
    sample_memory: bool = False,
) -> tuple[float, TreeMemory | None, float]:
    """(wall seconds, memory (with ``sample_memory``), CPU seconds) of ``raincast run``
    (``raincast``: another executable) on ``cities``, run in its own checkout (see
    ``checkout_of``)."""
    executable = raincast or _raincast()
    command = run_command(executable, cities, out, run_id, workers)
    cpu = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=checkout_of(executable),
    )
    memory = TreeMemory(process.pid) if sample_memory else None
    _stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if memory is not None:
        memory.stop()
    if process.returncode != 0:
        raise RuntimeError(f"raincast run failed ({process.returncode}):\n{stderr[-3000:]}")
    return seconds, memory, _children_cpu() - cpu


def check_same(plain: Path, run: Path) -> str:
    """Both wrote the same forecasts: compares forecast.csv's status and probability
    columns (the run's CSV has more columns and spreadsheet-safe cells)."""

    def columns(path: Path) -> list[tuple[str, str, str]]:
        rows = csv.DictReader(io.StringIO((path / "forecast.csv").read_text("utf-8")))
        return [(r["index"], r["status"], r["p_rain_tomorrow"]) for r in rows]

    same = columns(plain) == columns(run)
    files = len(list((run / "cities").glob("*.json")))
    return f"same forecasts: {'yes' if same else 'NO'}, {files} city files"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated list sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, help="raincast run --workers (default: its own)")
    parser.add_argument("--keep", type=Path, help="keep the outputs under this folder")
    parser.add_argument(
        "--memory-rounds",
        type=int,
        default=1,
        help="sampled runs per size (and per side, with --baseline), after the timed rounds",
    )
    parser.add_argument(
        "--baseline", metavar="RAINCAST", help="another raincast executable, timed alongside"
    )
    parser.add_argument("--plain-loop", nargs=2, metavar=("CITIES", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_loop:
        print(plain_loop(Path(args.plain_loop[0]), Path(args.plain_loop[1])))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="run-bench-"))
    # per size: rows of (run s, plain whole s, loop body s, run CPU s, plain CPU s,
    # baseline s or None, baseline CPU s or None, disk probe s)
    results: dict[int, list[tuple[Any, ...]]] = {s: [] for s in sizes}
    memory_lines: dict[int, str] = {}
    stale, modules = stale_bytecode()
    print(
        f"raincast run vs a plain loop; {os.cpu_count()} CPUs; workers={args.workers or 'default'}"
        + (f"; baseline {args.baseline}" if args.baseline else "")
        + f"; {stale} of {modules} project modules without up-to-date bytecode"
        + (" (PYTHONDONTWRITEBYTECODE is set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "")
    )
    try:
        for round_number in range(1, args.rounds + 1):
            for size in sizes:
                cities = build_list(size, work)
                plain_out, run_out = work / f"plain-{size}", work / f"run-{size}"
                base_out = work / f"baseline-{size}"
                for folder in (plain_out, run_out, base_out):
                    discard(folder)
                load = os.getloadavg()[0]
                disk = disk_probe(work)
                sides: list[str] = ["plain", "run"] + (["baseline"] if args.baseline else [])
                # rotate which goes first, so a load spike does not always hit one side
                shift = round_number % len(sides)
                sides = sides[shift:] + sides[:shift]
                timed: dict[str, Any] = {}
                for side in sides:
                    if side == "plain":
                        timed[side] = time_plain(cities, plain_out)
                    elif side == "run":
                        timed[side] = time_run(cities, run_out, args.workers, f"bench-{size}")
                    else:
                        timed[side] = time_run(
                            cities, base_out, args.workers, f"bench-{size}", args.baseline
                        )
                whole, body, plain_cpu = timed["plain"]
                run_s, _memory, run_cpu = timed["run"]
                same = check_same(plain_out, run_out)
                if args.baseline:
                    same += f"; baseline {check_same(plain_out, base_out)}"
                base_s, base_cpu = (
                    (timed["baseline"][0], timed["baseline"][2]) if args.baseline else (None, None)
                )
                results[size].append(
                    (run_s, whole, body, run_cpu, plain_cpu, base_s, base_cpu, disk)
                )
                baseline_text = (
                    f"  baseline {base_s:7.2f} s ({base_s / whole:5.2f}x, CPU {base_cpu:6.2f} s)"
                    if base_s is not None and base_cpu is not None
                    else ""
                )
                print(
                    f"round {round_number} n={size:>6}: raincast run {run_s:7.2f} s  "
                    f"plain loop {whole:6.2f} s (loop body {body:5.2f} s)  "
                    f"ratio {run_s / whole:5.2f}x (vs body {run_s / body:5.2f}x)  "
                    f"CPU {run_cpu:6.2f} s vs {plain_cpu:5.2f} s{baseline_text}  "
                    f"disk {disk * 1000:4.0f} ms/1000 files  load {load:4.1f}->{os.getloadavg()[0]:4.1f}  {same}",
                    flush=True,
                )
        # memory: runs of their own (the sampler costs CPU, see above), the sides taking
        # turns; a peak moves by 20-30 MB from one run to the next.
        memory_sides = ["run"] + (["baseline"] if args.baseline else [])
        sampled: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        for memory_round in range(args.memory_rounds):
            for size in sizes:
                cities = build_list(size, work)
                for side in memory_sides[memory_round % 2 :] + memory_sides[: memory_round % 2]:
                    out = work / f"memory-{side}-{size}"
                    discard(out)
                    _s, memory, _c = time_run(
                        cities,
                        out,
                        args.workers,
                        f"bench-{size}",
                        args.baseline if side == "baseline" else None,
                        sample_memory=True,
                    )
                    assert memory is not None
                    results_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
                    sampled.setdefault((side, size), []).append(
                        (memory.peak_pss, memory.peak_root_pss, results_bytes)
                    )
                    print(
                        f"memory n={size:>6} {side:>8}: peak PSS {memory.peak_pss / 2**20:.0f} MB "
                        f"(the raincast run process {memory.peak_root_pss / 2**20:.0f} MB; RSS sum "
                        f"{memory.peak_rss / 2**20:.0f} MB, {memory.peak_processes} processes; "
                        f"results {results_bytes / 2**20:.1f} MB)",
                        flush=True,
                    )

        def mb_range(values: list[int]) -> str:
            return f"{min(values) / 2**20:.0f}-{max(values) / 2**20:.0f} MB"

        for side in memory_sides:
            for size in sizes:
                runs = sampled[(side, size)]
                text = (
                    f"peak memory of raincast run, all processes ({len(runs)} runs of their own): "
                    f"PSS {mb_range([r[0] for r in runs])} (the raincast run process "
                    f"{mb_range([r[1] for r in runs])}; results {runs[0][2] / 2**20:.1f} MB)"
                )
                if side == "run":
                    memory_lines[size] = text
                print(f"memory n={size:>6} {side:>8}: {text}", flush=True)
            for smaller, larger in itertools.pairwise(sorted(sizes)):
                small, large = sampled[(side, smaller)], sampled[(side, larger)]
                pss_growth = statistics.median(r[0] for r in large) - statistics.median(
                    r[0] for r in small
                )
                root_growth = statistics.median(r[1] for r in large) - statistics.median(
                    r[1] for r in small
                )
                results_growth = large[0][2] - small[0][2]
                print(
                    f"memory n={smaller} -> {larger} {side:>8}: median peak PSS "
                    f"+{pss_growth / 2**20:.0f} MB (the raincast run process "
                    f"+{root_growth / 2**20:.0f} MB), the results (bytes in --out) "
                    f"+{results_growth / 2**20:.1f} MB: "
                    f"{pss_growth / max(results_growth, 1):.1f}x the results' growth",
                    flush=True,
                )
        print()
        for size, rows in results.items():
            ratios = [r[0] / r[1] for r in rows]
            line = (
                f"n={size:>6} over {len(rows)} rounds: raincast run {min(r[0] for r in rows):.2f}-"
                f"{max(r[0] for r in rows):.2f} s, plain loop {min(r[1] for r in rows):.2f}-"
                f"{max(r[1] for r in rows):.2f} s; ratio {min(ratios):.2f}-{max(ratios):.2f}x "
                f"(median {statistics.median(ratios):.2f}x); CPU {min(r[3] for r in rows):.1f}-"
                f"{max(r[3] for r in rows):.1f} s vs {min(r[4] for r in rows):.1f}-"
                f"{max(r[4] for r in rows):.1f} s; disk {min(r[7] for r in rows) * 1000:.0f}-"
                f"{max(r[7] for r in rows) * 1000:.0f} ms/1000 files; {memory_lines[size]}"
            )
            if args.baseline:
                base_ratios = [r[5] / r[1] for r in rows]
                line += (
                    f"\n           baseline: {min(r[5] for r in rows):.2f}-{max(r[5] for r in rows):.2f} s;"
                    f" ratio {min(base_ratios):.2f}-{max(base_ratios):.2f}x (median "
                    f"{statistics.median(base_ratios):.2f}x); CPU {min(r[6] for r in rows):.1f}-"
                    f"{max(r[6] for r in rows):.1f} s"
                )
                # The same round's two runs, paired: the machine's speed drifts between
                # rounds by more than a change of 0.1 s (benchmarks/run_phases.py).
                wall = sorted(r[0] - r[5] for r in rows)
                cpu = sorted(r[3] - r[6] for r in rows)
                quarter = len(rows) // 4
                line += (
                    f"\n           this - baseline, paired by round: wall median "
                    f"{statistics.median(wall):+.2f} s (interquartile {wall[quarter]:+.2f}.."
                    f"{wall[-1 - quarter]:+.2f}), CPU median {statistics.median(cpu):+.2f} s; "
                    f"faster in {sum(d < 0 for d in wall)} of {len(rows)} rounds"
                )
            print(line)
    finally:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for child in work.iterdir():
                if child.name != "discarded":
                    shutil.move(str(child), args.keep / child.name)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
