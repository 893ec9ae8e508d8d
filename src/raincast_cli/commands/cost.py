"""``raincast cost CITIES``: what AWS would bill for forecasting a list, measured locally.

The list runs through the real state machine and handlers on the local runtime (offline
providers, as ``raincast run`` does), with the Lambda pool recording every invocation and
the embedded S3 counting every request; the run's history, invocation records, S3
requests, stored objects and logs become AWS quantities, priced by
``raincast_cli.cost_model`` (see there for how each is measured). It prints the run's
lines, the cost per 10,000 cities and a projection to 1k / 10k / 100k / 1M cities beside
the original tutorial's design. ``--json`` prints the same as one object.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from raincast.cities import CityListError, load_city_list
from raincast.pipeline.records import InvalidRequest, validate_run_id
from raincast_cli import cost_model
from raincast_cli.commands.run import (
    INPUT_BUCKET,
    LOCAL_ENV,
    RESULTS_BUCKET,
    STATE_MACHINE,
    Progress,
    batch_size,
    default_run_id,
    find_template,
)

MAP_STATE = "ForecastCities"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cities", metavar="CITIES", help="city list (as for raincast run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--region", default="us-east-1", help="prices of this region")
    parser.add_argument(
        "--trigger",
        choices=cost_model.TRIGGERS,
        default="schedule",
        help="what starts the run: schedule (default), s3 upload, api, cli (no trigger)",
    )
    parser.add_argument(
        "--layout",
        choices=cost_model.LAYOUTS,
        default="batch",
        help="the template's ResultLayout: batch (one object per batch, default) or city",
    )
    parser.add_argument("--workers", type=int, help="Lambda worker processes (default: CPUs)")
    parser.add_argument("--template", type=Path, help="template.yaml (default: the project's)")


def run(args: argparse.Namespace) -> int:
    try:
        cities = load_city_list(args.cities)
        prices = cost_model.load_prices(args.region)
        template = Path(args.template) if args.template else find_template()
        if args.workers is not None and args.workers < 1:
            raise InvalidRequest("--workers must be at least 1")
        run_id = validate_run_id(default_run_id(args.cities))
    except (CityListError, InvalidRequest, cost_model.UnknownRegion, FileNotFoundError) as exc:
        print(f"raincast cost: error: {exc}", file=sys.stderr)
        return 2
    data = Path(args.cities).read_bytes()
    print(
        f"raincast cost: running {len(cities)} cities from {Path(args.cities).name} locally...",
        file=sys.stderr,
    )
    try:
        usage = measure(template, data, Path(args.cities).name, run_id, len(cities), args)
    except RunFailed as exc:
        print(f"raincast cost: the run failed: {exc}", file=sys.stderr)
        return 1
    report = build_report(usage.usage, usage.batch_size, prices, args.trigger)
    report["layout"] = args.layout
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


class RunFailed(Exception):
    pass


class Measured:
    def __init__(self, usage: cost_model.RunUsage, batch_size: int) -> None:
        self.usage = usage
        self.batch_size = batch_size


def measure(
    template: Path, data: bytes, filename: str, run_id: str, count: int, args: Any
) -> Measured:
    from sfnstack.local import LocalRuntime

    runtime = LocalRuntime(
        template,
        workers=args.workers,
        env_overrides={"*": LOCAL_ENV},
        parameter_overrides={"ResultLayout": args.layout},
    )
    try:
        runtime.lambdas.record_invocations = True
        s3 = runtime.s3_client()
        counter = runtime.s3.requests
        assert counter is not None  # the embedded endpoint counts
        input_bucket = runtime.buckets[INPUT_BUCKET]
        key = f"incoming/{run_id}/{filename}"
        counter.reset()  # the buckets' creation is not part of the run
        s3.put_object(Bucket=input_bucket, Key=key, Body=data)
        if args.trigger != "s3":  # only an upload-triggered run pays for the upload
            counter.reset()
        definition = runtime.state_machine(STATE_MACHINE).definition
        size = batch_size(runtime)
        progress = Progress(count, size, sys.stderr)
        execution = runtime.start_execution(
            STATE_MACHINE,
            {"run_id": run_id, "trigger": args.trigger, "bucket": input_bucket, "key": key},
            name=f"{run_id[:60]}-{uuid.uuid4().hex[:8]}",
            listener=progress.on_event,
        )
        result = execution.wait()
        progress.finish()
        if result.status != "SUCCEEDED":
            raise RunFailed(f"{result.status}: {result.error}: {result.cause}")
        requests = counter.snapshot()
        stored = sum(
            obj["Size"]
            for bucket in (input_bucket, runtime.buckets[RESULTS_BUCKET])
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        )
        functions = function_usage(runtime, definition)
        history = result.history
        cities = int((result.output or {}).get("total", count))
    finally:
        runtime.close()
    usage = cost_model.RunUsage(
        cities=cities,
        batches=child_executions(history),
        max_concurrency=int(definition["States"][MAP_STATE].get("MaxConcurrency") or 1000),
        functions=functions,
        run_transitions=state_transitions(history),
        s3_requests=s3_requests_by_scale(requests),
        stored_bytes=stored,
        trigger=args.trigger,
        tracing=_tracing(runtime),
    )
    return Measured(usage, size)


def _tracing(runtime: Any) -> bool:
    resource = runtime.template.resources.get(STATE_MACHINE, {}) if runtime.template else {}
    return bool(((resource.get("Properties") or {}).get("Tracing") or {}).get("Enabled"))


def batch_functions(runtime: Any, definition: dict[str, Any]) -> set[str]:
    """Logical ids of the functions the Map's item processor invokes (once per batch)."""
    found: set[str] = set()
    states = definition["States"][MAP_STATE]["ItemProcessor"]["States"]
    for state in states.values():
        name = (state.get("Parameters") or {}).get("FunctionName")
        if isinstance(name, str):
            found.add(runtime.lambdas.lookup(name).logical_id)
    return found


def function_usage(runtime: Any, definition: dict[str, Any]) -> list[cost_model.FunctionUsage]:
    per_batch = batch_functions(runtime, definition)
    tracing = _tracing(runtime)
    usages: dict[str, cost_model.FunctionUsage] = {}
    for logical_id, function in runtime.functions.items():
        usages[logical_id] = cost_model.FunctionUsage(
            logical_id=logical_id,
            memory_mb=function.memory_size,
            architecture=(function.architectures or ["x86_64"])[0],
            scale="batch" if logical_id in per_batch else "run",
        )
    for record in runtime.lambdas.invocations:
        fn = usages[record.function]
        if record.init_ms is None:
            fn.durations_ms.append(record.duration_ms)
        else:
            fn.first_durations_ms.append(record.duration_ms)
            fn.init_ms.append(record.init_ms)
        fn.log_bytes += cost_model.platform_log_bytes(record.init_ms is not None, tracing)
    for fn in usages.values():
        if fn.requests:
            text = runtime.lambdas.read_log(fn.logical_id)
            fn.log_bytes += sum(
                len(line.encode()) + 1
                for line in text.splitlines()
                if not cost_model.is_platform_line(line)
            )
    return [fn for fn in usages.values() if fn.requests]


def state_transitions(history: list[dict[str, Any]]) -> int:
    """The parent's billed transitions: every state entered, and every retry (a Task
    scheduled again after its first attempt)."""
    kinds = Counter(str(event.get("type")) for event in history)
    entered = sum(n for kind, n in kinds.items() if kind.endswith("StateEntered"))
    retries = max(0, kinds["TaskScheduled"] - kinds["TaskStateEntered"])
    return entered + retries


def child_executions(history: list[dict[str, Any]]) -> int:
    """The Distributed Map's child executions started (its MapIterationStarted events)."""
    return sum(1 for event in history if event.get("type") == "MapIterationStarted")


def s3_requests_by_scale(requests: Counter[Any]) -> dict[tuple[str, str], int]:
    """Operation counts, each attributed to what its object is per: a batch's object
    (``batches/``), a city's (``cities/``), or the run's (the rest)."""
    counts: dict[tuple[str, str], int] = {}
    for request, count in requests.items():
        folder = request.folder
        scale = (
            "batch"
            if folder.endswith("/batches/")
            else "city"
            if folder.endswith("/cities/")
            else "run"
        )
        key = (request.operation, scale)
        counts[key] = counts.get(key, 0) + count
    return counts


def build_report(
    usage: cost_model.RunUsage, size: int, prices: dict[str, Any], trigger: str
) -> dict[str, Any]:
    lines = cost_model.price_run(usage, prices)
    projection = [
        {
            "cities": n,
            "usd": cost_model.project(usage, lines, n, size),
            "tutorial_usd": cost_model.total(cost_model.tutorial_lines(n, prices)),
        }
        for n in cost_model.PROJECTION_SIZES
    ]
    tutorial = cost_model.tutorial_lines(10_000, prices)
    return {
        "cities": usage.cities,
        "batches": usage.batches,
        "total_usd": cost_model.total(lines),
        "per_10000_cities_usd": cost_model.project(usage, lines, 10_000, size),
        "prices_as_of": prices["prices_as_of"],
        "region": prices["region"],
        "trigger": trigger,
        "lines": [line.to_dict() for line in lines],
        "projection": projection,
        "tutorial_per_10000_cities": {
            "usd": cost_model.total(tutorial),
            "lines": [line.to_dict() for line in tutorial],
        },
    }


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.6f}"
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.6g}"


def format_report(report: dict[str, Any]) -> str:
    header = ("service", "item", "quantity", "unit", "unit price", "usd")
    rows = [
        (
            line["service"],
            line["item"],
            _quantity(line["quantity"]),
            line["unit"],
            f"${line['unit_price_usd']:.10g}",
            _usd(line["usd"]),
        )
        for line in report["lines"]
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    right = {2, 4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [
        f"AWS cost of this run ({report['cities']} cities, {report['batches']} batches, "
        f"trigger {report['trigger']}, layout {report.get('layout', 'batch')}), "
        f"{report['region']} on-demand prices as of "
        f"{report['prices_as_of']}, no free tier:",
        fmt(header),
        *(fmt(r) for r in rows),
        f"total: {_usd(report['total_usd'])}",
        "",
        f"per 10,000 cities: {_usd(report['per_10000_cities_usd'])}"
        f" (the tutorial's design: {_usd(report['tutorial_per_10000_cities']['usd'])})",
        "",
        "projection (per-run, per-batch, per-city and cold-start usage scaled; "
        f"ceil(N / {cost_model.MAX_CITIES_PER_RUN:,}) runs):",
        f"{'cities':>10}  {'raincast':>12}  {'tutorial design':>15}",
    ]
    for row in report["projection"]:
        out.append(f"{row['cities']:>10,}  {_usd(row['usd']):>12}  {_usd(row['tutorial_usd']):>15}")
    out.append(
        "tutorial design: one API Gateway request and one 1,024 MB x86_64 Lambda of ~2 s per "
        "city, one S3 PUT per city."
    )
    return "\n".join(out)
