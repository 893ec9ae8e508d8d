"""Lambda emulation speed: cold start vs warm invoke of a worker, and a Map of no-op Lambda
tasks through ``LocalRuntime`` against calling the same handler in a plain loop across the
same number of worker processes (target: within 2x).

    PYTHONPATH=src python benchmarks/lambda_bench.py [--items 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sfnstack.lambdas import LambdaPool, function_from_callable  # noqa: E402

HANDLER_SOURCE = "def noop(event, context):\n    return event\n"
_handler: Callable[[Any, Any], Any] | None = None


def _init_baseline(code_dir: str) -> None:
    global _handler
    sys.path.insert(0, code_dir)
    _handler = importlib.import_module("bench_handlers").noop


def _call_baseline(item: dict) -> dict:
    # What a worker does per item at the least: decode the event, call, encode the result.
    assert _handler is not None  # _init_baseline ran in this worker
    return json.loads(json.dumps(_handler(json.loads(json.dumps(item)), None)))


def baseline(items: list[dict], workers: int, code_dir: str) -> float:
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_baseline, initargs=(code_dir,)) as pool:
        pool.map(_call_baseline, items[: workers * 4], chunksize=1)  # warm
        started = time.perf_counter()
        results = pool.map(_call_baseline, items, chunksize=1)
        elapsed = time.perf_counter() - started
    assert results == items
    return elapsed


def _serve_baseline(code_dir: str, conn: Any) -> None:
    _init_baseline(code_dir)
    while True:
        item = conn.recv()
        if item is None:
            return
        conn.send(_call_baseline(item))


def baseline_synchronous(items: list[dict], workers: int, code_dir: str) -> float:
    """A plain loop per worker process, one call at a time and waiting for each answer (as
    a Lambda environment serves one invocation at a time): N threads, each driving one
    process over a multiprocessing Pipe."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(workers):
        parent, child = context.Pipe()
        process = context.Process(target=_serve_baseline, args=(code_dir, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    for conn in pipes:  # warm: imported and answering
        conn.send({"warm": True})
        conn.recv()
    shares = [items[i::workers] for i in range(workers)]

    def drive(conn: Any, share: list[dict]) -> None:
        for item in share:
            conn.send(item)
            conn.recv()

    started = time.perf_counter()
    threads = [
        threading.Thread(target=drive, args=pair) for pair in zip(pipes, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for conn, process in zip(pipes, processes, strict=True):
        conn.send(None)
        process.join()
    return elapsed


def pool_threads(pool: LambdaPool, items: list[dict], workers: int) -> float:
    """The Lambda pool alone (no interpreter): one thread per worker, one item at a time."""
    cursor = iter(items)
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            pool.invoke("noop", item)

    started = time.perf_counter()
    threads = [threading.Thread(target=drain) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def cold_and_warm(code_dir: Path, samples: int) -> tuple[list[float], list[float]]:
    function = function_from_callable("noop", "bench_handlers:noop", code_dir=code_dir)
    cold = []
    for _ in range(samples):
        with LambdaPool({"noop": function}, max_workers=1) as pool:
            started = time.perf_counter()
            pool.invoke("noop", {})
            cold.append(time.perf_counter() - started)
    warm = []
    with LambdaPool({"noop": function}, max_workers=1) as pool:
        pool.invoke("noop", {})
        for i in range(2000):
            started = time.perf_counter()
            pool.invoke("noop", {"i": i})
            warm.append(time.perf_counter() - started)
    return cold, warm


MAP_DEFINITION = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 0,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Noop",
                "States": {
                    "Noop": {
                        "Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:noop",
                        "End": True,
                    }
                },
            },
            "End": True,
        }
    },
}


def runtime_map(
    items: list[dict],
    workers: int,
    code_dir: Path,
    repeats: int,
    map_workers: int | None = None,
    record_history: bool = True,
    collections: dict[int, int] | None = None,
) -> tuple[float, float, float]:
    """Best (wall, this process's CPU) seconds of a Map execution through LocalRuntime,
    and the median wall time. ``collections`` (generation -> count) is filled with the
    garbage collections during the timed runs."""
    from sfnstack.local import LocalRuntime

    function = function_from_callable("noop", "bench_handlers:noop", code_dir=code_dir)
    best: tuple[float, float] | None = None
    walls: list[float] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and collections is not None:
            generation = info["generation"]
            collections[generation] = collections.get(generation, 0) + 1

    with LocalRuntime(
        None, workers=workers, functions={"noop": function}, map_workers=map_workers
    ) as runtime:
        runtime.add_state_machine(MAP_DEFINITION, name="bench")
        runtime.lambdas.warm("noop", workers)
        # Workers get the S3 endpoint's URL, so warming starts it, in the background; wait
        # for it to be up, or the first timed runs share the CPU with its start.
        runtime.s3_client().list_buckets()
        for _ in range(repeats):
            started, cpu = time.perf_counter(), time.process_time()
            gc.callbacks.append(count)
            try:
                result = runtime.execute("bench", {"items": items}, record_history=record_history)
            finally:
                gc.callbacks.remove(count)
            sample = (time.perf_counter() - started, time.process_time() - cpu)
            walls.append(sample[0])
            assert result.status == "SUCCEEDED", (result.error, result.cause)
            assert result.output == items
            best = sample if best is None or sample[0] < best[0] else best
    assert best is not None
    return best[0], best[1], statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        code_dir = Path(tmp)
        (code_dir / "bench_handlers.py").write_text(HANDLER_SOURCE)
        items = [{"i": i} for i in range(args.items)]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, workers={args.workers}")

        cold, warm = cold_and_warm(code_dir, samples=5)
        print(
            f"cold start (spawn + import + first invoke): median {statistics.median(cold) * 1000:.1f} ms"
            f" (min {min(cold) * 1000:.1f}, max {max(cold) * 1000:.1f}, n={len(cold)})"
        )
        warm_ms = sorted(w * 1000 for w in warm)
        print(
            f"warm invoke: median {statistics.median(warm_ms):.3f} ms,"
            f" p99 {warm_ms[int(len(warm_ms) * 0.99)]:.3f} ms (n={len(warm_ms)})"
        )

        base = min(baseline(items, args.workers, tmp) for _ in range(args.repeats))
        print(
            f"plain loop, {args.items} items across {args.workers} worker processes"
            f" (multiprocessing.Pool.map, chunksize=1, pipelined): {base * 1000:.0f} ms"
        )
        syncs = [baseline_synchronous(items, args.workers, tmp) for _ in range(args.repeats)]
        sync = min(syncs)
        print(
            f"plain loop, {args.items} items across {args.workers} worker processes"
            f" (one call at a time per process, over a Pipe): {sync * 1000:.0f} ms"
            f" (median {statistics.median(syncs) * 1000:.0f} ms)"
        )
        function = function_from_callable("noop", "bench_handlers:noop", code_dir=code_dir)
        with LambdaPool({"noop": function}, max_workers=args.workers) as pool:
            pool.warm("noop", args.workers)
            direct = min(pool_threads(pool, items, args.workers) for _ in range(args.repeats))
        print(
            f"LambdaPool.invoke from {args.workers} threads (no interpreter): {direct * 1000:.0f} ms"
        )
        try:
            collections: dict[int, int] = {}
            best, cpu, median = runtime_map(
                items, args.workers, code_dir, args.repeats, collections=collections
            )
        except ImportError as exc:
            print(f"LocalRuntime Map: skipped, the ASL interpreter is not available ({exc})")
            return
        print(
            f"LocalRuntime: Map of {args.items} no-op Lambda tasks (defaults): {best * 1000:.0f} ms"
            f" (best of {args.repeats}; {best / args.items * 1e6:.0f} us/item;"
            f" runtime process CPU {cpu * 1000:.0f} ms; median {median * 1000:.0f} ms)"
        )
        print(
            f"  garbage collections in those {args.repeats} runs: "
            + ", ".join(f"gen{g} {collections.get(g, 0)}" for g in range(3))
        )
        for map_workers, history in ((args.workers, True), (args.workers, False), (1, False)):
            wall, cpu, _ = runtime_map(
                items, args.workers, code_dir, args.repeats, map_workers, history
            )
            print(
                f"  variant map_workers={map_workers} record_history={history}:"
                f" {wall * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)"
            )
        for label, reference in (("pipelined Pool.map", base), ("one-at-a-time loop", sync)):
            ratio = best / reference
            verdict = "within" if ratio <= 2 else "NOT within"
            print(f"ratio LocalRuntime / {label}: {ratio:.2f}x ({verdict} the 2x target)")
        print(
            f"ratio of medians LocalRuntime / one-at-a-time loop:"
            f" {median / statistics.median(syncs):.2f}x"
        )


if __name__ == "__main__":
    main()
