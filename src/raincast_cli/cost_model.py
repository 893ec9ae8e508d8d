"""What AWS would bill for a run: measured usage (``RunUsage``) times unit prices (the
data file ``data/aws_prices.json``, with the date and the pages they were read from).

``raincast cost`` measures the usage on the local runtime; this module only prices it, so
it is plain arithmetic, tested against usage written by hand. Every ``Line`` is
``quantity x unit_price_usd = usd`` and a run's lines add up to its total.

How a local measurement becomes an AWS quantity:

* Lambda: each invocation's handler time, measured in the worker around the handler call
  (what its REPORT line says), rounded up to the next 1 ms as Lambda bills it, times the
  function's MemorySize from the template, priced at its architecture's rate. A cold
  start adds the handler module's import time as billed INIT duration (billed since
  2025-08-01). Local CPU is not Lambda's: a 512 MB function gets about 0.3 of a vCPU, so
  CPU-bound work may take longer there, and S3 calls take longer than against the local
  endpoint; the measured durations are the local ones, not scaled.
* Step Functions: the parent execution's state transitions from its history (every state
  entered, plus every retry), one more per child execution the Distributed Map starts; the
  children run as Express workflows: one request each, and their duration (from the
  Lambda calls it waits on: a warm batch's (the batch functions' mean warm durations)
  rounded up to 100 ms, plus what cold starts add, billed at one 64 MB chunk (50 MB + the
  definition + at most 256 KiB of state data is always under 64 MB). Not the local wall
  time: locally the children also queue for the few local workers, which AWS's do not.
* S3: the requests the embedded S3 served during the run, by class (PUT, COPY, POST and
  LIST; GET and the rest; DELETE is free), and one month of storage for what the run left.
* CloudWatch Logs: the bytes the handlers wrote, plus Lambda's own START/END/REPORT lines
  as AWS writes them (longer than the local ones).
* X-Ray (tracing is on in the template): one trace per execution, parent and children (an
  upper bound: the default sampling rule records fewer).
* The trigger: one Scheduler invocation (schedule), one REST API request (api), or an S3
  event on the default event bus, which is free (s3; the upload's PUT is counted).

A projection to N cities scales each line by what drives it: per run (Prepare,
Summarize, the parent's own transitions, the trigger, run-level S3 objects), per batch
(the batch functions, the children, per-batch objects), per city (per-city objects,
storage) or per cold start (a run starts about MaxConcurrency environments of each batch
function). A list holds at most 10,000 cities, so N cities are ceil(N / 10,000) runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("data") / "aws_prices.json"

MAX_CITIES_PER_RUN = 10_000
TRIGGERS = ("schedule", "s3", "api", "cli")
LAYOUTS = ("batch", "city")
PROJECTION_SIZES = (1_000, 10_000, 100_000, 1_000_000)

# S3 operations billed in the PUT, COPY, POST, LIST class (the rest, HEAD included, are
# billed as GET and other requests; deletes are free).
S3_PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "PostObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "ListObjects",
        "ListObjectsV2",
        "ListBuckets",
        "ListParts",
        "CreateBucket",
    }
)

# Lambda's platform log lines as AWS writes them (text log format), for one invocation;
# sized with typical values. XRAY line only with active tracing, Init Duration only cold.
_START = "START RequestId: 8f5c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b Version: $LATEST\n"
_END = "END RequestId: 8f5c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\n"
_REPORT = (
    "REPORT RequestId: 8f5c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\tDuration: 12.34 ms\t"
    "Billed Duration: 13 ms\tMemory Size: 1024 MB\tMax Memory Used: 123 MB\t\n"
)
_INIT = "Init Duration: 456.78 ms\t"
_XRAY = "XRAY TraceId: 1-5e1b4151-5ac6c58f5b5daa5532e2e5e2\tSegmentId: 6a9e1a5b3c2d1e0f\tSampled: true\n"


def platform_log_bytes(cold: bool, tracing: bool) -> int:
    """Bytes of Lambda's START/END/REPORT lines for one invocation, in AWS's format."""
    size = len(_START) + len(_END) + len(_REPORT)
    return size + (len(_INIT) if cold else 0) + (len(_XRAY) if tracing else 0)


def is_platform_line(line: str) -> bool:
    return line.startswith(("START RequestId:", "END RequestId:", "REPORT RequestId:"))


class UnknownRegion(ValueError):
    pass


def load_prices(region: str) -> dict[str, Any]:
    """The unit prices of one region (``UnknownRegion`` names the regions priced)."""
    data = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    regions = data["regions"]
    if region not in regions:
        raise UnknownRegion(
            f"no prices for region {region!r}: priced regions are {', '.join(sorted(regions))} "
            "(add one to src/raincast_cli/data/aws_prices.json)"
        )
    return {**regions[region], "prices_as_of": data["prices_as_of"], "region": region}


@dataclass
class FunctionUsage:
    """One function's invocations in the run. ``scale``: ``"run"`` for a function called
    once per run, ``"batch"`` for one called per batch."""

    logical_id: str
    memory_mb: int
    architecture: str
    scale: str
    durations_ms: list[float] = field(default_factory=list)  # warm invocations
    # The first invocation of each new environment (lazy loads land here) and its init.
    first_durations_ms: list[float] = field(default_factory=list)
    init_ms: list[float] = field(default_factory=list)
    log_bytes: int = 0  # as AWS would ingest them: handler lines + platform lines

    @property
    def requests(self) -> int:
        return len(self.durations_ms) + len(self.first_durations_ms)

    @property
    def warm_mean_ms(self) -> float:
        """A warm invocation's mean duration (the first ones' when none was warm)."""
        durations = self.durations_ms or self.first_durations_ms
        return sum(durations) / len(durations) if durations else 0.0

    @property
    def cold_extra_ms(self) -> float:
        """What the cold starts added to the run's time beyond warm invocations."""
        cold = sum(self.first_durations_ms) + sum(self.init_ms)
        return max(0.0, cold - self.warm_mean_ms * len(self.first_durations_ms))


@dataclass
class RunUsage:
    """What one run did, measured (see the module docstring for how)."""

    cities: int
    batches: int  # = the Distributed Map's child executions
    max_concurrency: int
    functions: list[FunctionUsage]
    run_transitions: int  # the parent's own (not the one per child)
    # (operation, scale) -> count; scale "run", "batch" or "city"
    s3_requests: dict[tuple[str, str], int]
    stored_bytes: int
    trigger: str = "schedule"
    tracing: bool = True


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price_usd: float
    scale: str = "run"  # what the quantity grows with: run, batch, city, cold-start
    cold_starts: int = 0  # for a cold-start line: how many cold starts it covers

    @property
    def usd(self) -> float:
        return self.quantity * self.unit_price_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unit_price_usd": self.unit_price_usd,
            "usd": self.usd,
        }


def billed_ms(duration_ms: float, step_ms: int) -> int:
    """A duration rounded up to the billing step (1 ms for Lambda, 100 ms for Express)."""
    return max(1, math.ceil(duration_ms / step_ms)) * step_ms


def price_run(usage: RunUsage, prices: dict[str, Any]) -> list[Line]:
    lam, sfn, s3 = prices["lambda"], prices["stepfunctions"], prices["s3"]
    lines: list[Line] = []
    log_bytes = {"run": 0, "batch": 0}
    for fn in usage.functions:
        rate = lam["gb_second"][fn.architecture]
        gb = fn.memory_mb / 1024
        label = f"{fn.logical_id} ({fn.memory_mb} MB, {fn.architecture})"
        cold_scale = "cold-start" if fn.scale == "batch" else "run"
        cold = len(fn.first_durations_ms)
        # A run's requests: per batch, except a run function's (once per run).
        lines.append(
            Line(
                "Lambda",
                f"{fn.logical_id} requests",
                fn.requests,
                "request",
                lam["request"],
                fn.scale,
            )
        )
        if fn.durations_ms:
            seconds = sum(billed_ms(d, 1) for d in fn.durations_ms) / 1000
            lines.append(
                Line("Lambda", f"{label} warm duration", seconds * gb, "GB-second", rate, fn.scale)
            )
        if cold:
            seconds = sum(billed_ms(d, 1) for d in fn.first_durations_ms + fn.init_ms) / 1000
            lines.append(
                Line(
                    "Lambda",
                    f"{label} init + first invocation, {cold} cold starts",
                    seconds * gb,
                    "GB-second",
                    rate,
                    cold_scale,
                    cold,
                )
            )
        log_bytes[fn.scale] += fn.log_bytes

    children = usage.batches
    per_batch = [fn for fn in usage.functions if fn.scale == "batch"]
    lines.append(
        Line(
            "Step Functions",
            "parent state transitions",
            usage.run_transitions,
            "transition",
            sfn["standard_state_transition"],
        )
    )
    if children:
        lines.append(
            Line(
                "Step Functions",
                "Distributed Map child executions started",
                children,
                "transition",
                sfn["standard_state_transition"],
                "batch",
            )
        )
        lines.append(
            Line(
                "Step Functions",
                "Express child requests",
                children,
                "request",
                sfn["express_request"],
                "batch",
            )
        )
        # A child lasts as long as the Lambda calls it waits on (see the module docstring):
        # a warm batch's, rounded up to 100 ms, plus what cold starts add.
        chunk_gb = sfn["express_memory_chunk_mb"] / 1024
        warm_ms = billed_ms(
            sum(fn.warm_mean_ms for fn in per_batch), sfn["express_duration_step_ms"]
        )
        lines.append(
            Line(
                "Step Functions",
                "Express child duration, warm (64 MB, 100 ms steps)",
                children * warm_ms / 1000 * chunk_gb,
                "GB-second",
                sfn["express_gb_second"],
                "batch",
            )
        )
        cold = max((len(fn.first_durations_ms) for fn in per_batch), default=0)
        extra_ms = sum(fn.cold_extra_ms for fn in per_batch)
        if cold and extra_ms:
            lines.append(
                Line(
                    "Step Functions",
                    f"Express child duration added by {cold} cold starts",
                    extra_ms / 1000 * chunk_gb,
                    "GB-second",
                    sfn["express_gb_second"],
                    "cold-start",
                    cold,
                )
            )

    free = set(s3["free_operations"])
    by_class: dict[tuple[str, str], int] = {}
    for (operation, scale), count in sorted(usage.s3_requests.items()):
        if operation in free:
            continue
        kind = "PUT/COPY/POST/LIST" if operation in S3_PUT_CLASS else "GET/other"
        by_class[(kind, scale)] = by_class.get((kind, scale), 0) + count
    for (kind, scale), count in sorted(by_class.items()):
        price = (
            s3["put_copy_post_list_request"]
            if kind.startswith("PUT")
            else s3["get_and_other_request"]
        )
        lines.append(Line("S3", f"{kind} requests ({_PER[scale]})", count, "request", price, scale))
    lines.append(
        Line(
            "S3",
            "storage of the run's objects, one month",
            usage.stored_bytes / 2**30,
            "GB-month",
            s3["standard_gb_month"],
            "city",
        )
    )

    for scale in ("run", "batch"):
        if log_bytes[scale]:
            lines.append(
                Line(
                    "CloudWatch Logs",
                    f"Lambda logs ingested ({_PER[scale]} functions)",
                    log_bytes[scale] / 2**30,
                    "GB",
                    prices["cloudwatch_logs"]["ingested_gb"],
                    scale,
                )
            )
    if usage.tracing:
        lines.append(
            Line(
                "X-Ray",
                "traces recorded, parent execution",
                1,
                "trace",
                prices["xray"]["trace_recorded"],
            )
        )
        if children:
            lines.append(
                Line(
                    "X-Ray",
                    "traces recorded, child executions (upper bound)",
                    children,
                    "trace",
                    prices["xray"]["trace_recorded"],
                    "batch",
                )
            )
    lines.extend(trigger_lines(usage.trigger, prices))
    return lines


_PER = {"run": "per run", "batch": "per batch", "city": "per city"}


def trigger_lines(trigger: str, prices: dict[str, Any]) -> list[Line]:
    if trigger == "schedule":
        return [
            Line(
                "EventBridge Scheduler",
                "scheduled invocation",
                1,
                "invocation",
                prices["scheduler"]["invocation"],
            )
        ]
    if trigger == "api":
        return [
            Line(
                "API Gateway",
                "POST /forecasts (REST API)",
                1,
                "request",
                prices["apigateway"]["rest_request"],
            )
        ]
    if trigger == "s3":
        return [
            Line(
                "EventBridge",
                "S3 Object Created event (AWS service event)",
                1,
                "event",
                prices["eventbridge"]["aws_service_event"],
            )
        ]
    return []


def total(lines: list[Line]) -> float:
    return sum(line.usd for line in lines)


def project(usage: RunUsage, lines: list[Line], cities: int, batch_size: int) -> float:
    """The cost of ``cities`` cities: ceil(cities / 10,000) runs of equal size, each line
    scaled by what drives it (see the module docstring)."""
    runs = math.ceil(cities / MAX_CITIES_PER_RUN)
    per_run = cities / runs
    batches = math.ceil(per_run / batch_size) * runs
    cold_per_run = min(math.ceil(per_run / batch_size), usage.max_concurrency)
    result = 0.0
    for line in lines:
        if line.scale == "run":
            factor = float(runs)
        elif line.scale == "batch":
            factor = batches / max(usage.batches, 1)
        elif line.scale == "city":
            factor = cities / max(usage.cities, 1)
        else:  # cold-start: about MaxConcurrency environments per batch function per run
            factor = cold_per_run * runs / max(line.cold_starts, 1)
        result += line.usd * factor
    return result


def tutorial_lines(cities: int, prices: dict[str, Any]) -> list[Line]:
    """The original tutorial's design for ``cities`` cities: one API Gateway request and
    one 1,024 MB Lambda invocation of about 2 s per city (x86_64, the default then), and
    one S3 PUT per city."""
    lam = prices["lambda"]
    return [
        Line(
            "API Gateway",
            "one REST request per city",
            cities,
            "request",
            prices["apigateway"]["rest_request"],
            "city",
        ),
        Line("Lambda", "one invocation per city", cities, "request", lam["request"], "city"),
        Line(
            "Lambda",
            "2 s x 1,024 MB per city (x86_64)",
            cities * 2.0,
            "GB-second",
            lam["gb_second"]["x86_64"],
            "city",
        ),
        Line(
            "S3",
            "one PUT per city",
            cities,
            "request",
            prices["s3"]["put_copy_post_list_request"],
            "city",
        ),
    ]
