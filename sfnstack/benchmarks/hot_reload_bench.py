"""What serve's hot reload costs: a Map of no-op Lambda tasks through ``LocalRuntime`` with
the runtime's ``before_invoke`` hook off (the baseline) and on (``CodeWatcher``: its scan
thread running once a second, the flag looked at before every invocation), alternating
in one run; and the time of one scan of the function's code directory.

    PYTHONPATH=src python benchmarks/hot_reload_bench.py [--items 1000] [--workers 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sfnstack.lambdas import function_from_callable  # noqa: E402
from sfnstack.local import LocalRuntime  # noqa: E402
from sfnstack.serve.hot_reload import CodeWatcher, fingerprint  # noqa: E402

HANDLER_SOURCE = "def noop(event, context):\n    return event\n"
MAP_DEFINITION = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        code_dir = Path(tmp)
        (code_dir / "bench_handlers.py").write_text(HANDLER_SOURCE)
        # a template's function (its code directory is watched), not a caller's callable
        function = dataclasses.replace(
            function_from_callable("noop", "bench_handlers:noop", code_dir=code_dir),
            keep_caller_path=False,
        )
        items = [{"i": i} for i in range(args.items)]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, workers={args.workers}")
        with LocalRuntime(None, workers=args.workers, functions={"noop": function}) as runtime:
            runtime.add_state_machine(MAP_DEFINITION, name="bench")
            runtime.lambdas.warm("noop", args.workers)
            runtime.s3_client().list_buckets()  # the S3 endpoint up before timing
            watcher = CodeWatcher(runtime.functions, runtime.lambdas).start()
            times: dict[str, list[float]] = {"off": [], "on": []}
            try:
                for _ in range(args.repeats):
                    for mode in ("off", "on"):
                        runtime.before_invoke = watcher.before_invoke if mode == "on" else None
                        started = time.perf_counter()
                        result = runtime.execute("bench", {"items": items}, record_history=False)
                        times[mode].append(time.perf_counter() - started)
                        assert result.status == "SUCCEEDED" and result.output == items
            finally:
                watcher.stop()
            cold_starts = runtime.lambdas.cold_starts
        scans = []
        for _ in range(50):
            started = time.perf_counter()
            fingerprint(code_dir)
            scans.append(time.perf_counter() - started)
    for mode, label in (("off", "hot reload off (baseline)"), ("on", "hot reload on")):
        walls = times[mode]
        per_item = [w / args.items * 1e6 for w in walls]
        print(
            f"{label}: Map of {args.items} no-op Lambda tasks {min(walls) * 1000:.0f}-"
            f"{max(walls) * 1000:.0f} ms (median {statistics.median(walls) * 1000:.0f} ms, "
            f"{min(per_item):.0f}-{max(per_item):.0f} us an invocation, n={len(walls)})"
        )
    ratio = statistics.median(times["on"]) / statistics.median(times["off"])
    best = min(times["on"]) / min(times["off"])
    print(
        f"on / off: medians {ratio:.3f}, best runs {best:.3f}; cold starts: {cold_starts}"
        " (no code change)"
    )
    calls = 200_000
    started = time.perf_counter()
    for _ in range(calls):
        watcher.before_invoke("noop")
    hook_ns = (time.perf_counter() - started) / calls * 1e9
    print(f"the hook itself, nothing changed: {hook_ns:.0f} ns a call")
    print(f"one scan of the code directory: median {statistics.median(scans) * 1e6:.0f} us")


if __name__ == "__main__":
    main()
