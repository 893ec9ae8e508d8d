"""The pricing model on usage written by hand: every quantity, unit price and total can be
derived on paper from the usage and the price file."""

from __future__ import annotations

import json
import math

import pytest

from raincast_cli import cost_model
from raincast_cli.cost_model import FunctionUsage, RunUsage

PRICES = cost_model.load_prices("us-east-1")


def hand_usage(**overrides) -> RunUsage:
    fields = dict(
        cities=50,
        batches=2,
        max_concurrency=10,
        functions=[
            # once per run: 1 cold invocation of 99.2 ms after a 300.4 ms init, 256 MB
            FunctionUsage("PrepareFunction", 256, "arm64", "run", [], [99.2], [300.4], 1000),
            # per batch: 1 cold + 1 warm invocation, 1,024 MB; 10.1 ms warm -> 11 ms billed
            FunctionUsage("GeocodeFunction", 1024, "arm64", "batch", [10.1], [500.0], [200.0], 3000),
        ],
        run_transitions=4,
        s3_requests={("PutObject", "batch"): 2, ("GetObject", "run"): 3, ("PutObject", "run"): 4,
                     ("DeleteObjects", "run"): 1, ("ListObjectsV2", "run"): 1},
        stored_bytes=2**20,  # 1 MiB
        trigger="schedule",
        tracing=True,
    )  # fmt: skip
    fields.update(overrides)
    return RunUsage(**fields)


def by_item(lines: list[cost_model.Line]) -> dict[str, cost_model.Line]:
    return {f"{line.service}: {line.item}": line for line in lines}


def test_lambda_quantities_round_each_invocation_up_to_a_millisecond() -> None:
    lines = by_item(cost_model.price_run(hand_usage(), PRICES))
    assert lines["Lambda: PrepareFunction requests"].quantity == 1
    assert lines["Lambda: GeocodeFunction requests"].quantity == 2
    # warm: 10.1 ms -> 11 ms x 1 GB = 0.011 GB-s at the arm64 rate
    warm = lines["Lambda: GeocodeFunction (1024 MB, arm64) warm duration"]
    assert warm.quantity == pytest.approx(0.011)
    assert warm.unit_price_usd == 0.0000133334
    # cold: 500 + 200 ms x 1 GB; Prepare: (100 + 301 ms) x 0.25 GB
    cold = lines["Lambda: GeocodeFunction (1024 MB, arm64) init + first invocation, 1 cold starts"]
    assert cold.quantity == pytest.approx(0.7) and cold.cold_starts == 1
    prepare = lines[
        "Lambda: PrepareFunction (256 MB, arm64) init + first invocation, 1 cold starts"
    ]
    assert prepare.quantity == pytest.approx(0.401 * 0.25)


def test_step_functions_transitions_and_express_children() -> None:
    lines = by_item(cost_model.price_run(hand_usage(), PRICES))
    assert lines["Step Functions: parent state transitions"].quantity == 4
    assert lines["Step Functions: Distributed Map child executions started"].quantity == 2
    assert lines["Step Functions: Express child requests"].quantity == 2
    # A warm child waits on Geocode's 10.1 ms mean: 100 ms billed, 64 MB = 1/16 GB, 2 children
    warm = lines["Step Functions: Express child duration, warm (64 MB, 100 ms steps)"]
    assert warm.quantity == pytest.approx(2 * 0.1 / 16)
    # the cold start added 500 + 200 - 10.1 ms
    cold = lines["Step Functions: Express child duration added by 1 cold starts"]
    assert cold.quantity == pytest.approx((700 - 10.1) / 1000 / 16)


def test_s3_requests_by_class_deletes_free_and_storage() -> None:
    lines = by_item(cost_model.price_run(hand_usage(), PRICES))
    assert lines["S3: PUT/COPY/POST/LIST requests (per batch)"].quantity == 2
    assert lines["S3: PUT/COPY/POST/LIST requests (per run)"].quantity == 5  # 4 PUT + 1 LIST
    assert lines["S3: GET/other requests (per run)"].quantity == 3
    assert lines["S3: PUT/COPY/POST/LIST requests (per run)"].unit_price_usd == 0.005 / 1000
    assert not any("DeleteObjects" in key for key in lines)
    storage = lines["S3: storage of the run's objects, one month"]
    assert storage.quantity == pytest.approx(1 / 1024) and storage.unit_price_usd == 0.023


def test_logs_tracing_and_trigger_lines() -> None:
    lines = by_item(cost_model.price_run(hand_usage(), PRICES))
    assert (
        lines["CloudWatch Logs: Lambda logs ingested (per run functions)"].quantity == 1000 / 2**30
    )
    assert (
        lines["CloudWatch Logs: Lambda logs ingested (per batch functions)"].quantity
        == 3000 / 2**30
    )
    assert lines["X-Ray: traces recorded, child executions (upper bound)"].quantity == 2
    assert lines["EventBridge Scheduler: scheduled invocation"].unit_price_usd == 1e-6
    api = by_item(cost_model.price_run(hand_usage(trigger="api", tracing=False), PRICES))
    assert api["API Gateway: POST /forecasts (REST API)"].unit_price_usd == 3.5e-6
    assert not any(key.startswith(("X-Ray", "EventBridge")) for key in api)
    s3 = by_item(cost_model.price_run(hand_usage(trigger="s3"), PRICES))
    assert s3["EventBridge: S3 Object Created event (AWS service event)"].usd == 0


def test_lines_multiply_and_add_up() -> None:
    lines = cost_model.price_run(hand_usage(), PRICES)
    for line in lines:
        entry = line.to_dict()
        assert set(entry) == {"service", "item", "quantity", "unit", "unit_price_usd", "usd"}
        assert entry["usd"] == pytest.approx(entry["quantity"] * entry["unit_price_usd"])
    assert cost_model.total(lines) == pytest.approx(sum(line.usd for line in lines))


def test_projection_scales_each_line_by_what_drives_it() -> None:
    usage = hand_usage()
    lines = cost_model.price_run(usage, PRICES)
    by_scale: dict[str, float] = {}
    for line in lines:
        by_scale[line.scale] = by_scale.get(line.scale, 0.0) + line.usd
    # 10,000 cities = 1 run, 400 batches of 25, 10 cold starts (MaxConcurrency) of the
    # one cold start measured; 2 batches and 50 cities were measured.
    expected = (
        by_scale["run"] + by_scale["batch"] * 400 / 2 + by_scale["city"] * 10_000 / 50
        + by_scale["cold-start"] * 10
    )  # fmt: skip
    assert cost_model.project(usage, lines, 10_000, 25) == pytest.approx(expected)
    # 1M cities are 100 such runs
    assert cost_model.project(usage, lines, 1_000_000, 25) == pytest.approx(100 * expected)
    # the measured size itself: batches and cities as measured; cold starts min(2, 10)
    at_50 = cost_model.project(usage, lines, 50, 25)
    assert at_50 == pytest.approx(cost_model.total(lines) + by_scale["cold-start"])


def test_tutorial_design_per_10000_cities() -> None:
    lines = cost_model.tutorial_lines(10_000, PRICES)
    # API Gateway $0.035, Lambda requests $0.002, 20,000 GB-s x86 $0.3333, S3 PUTs $0.05
    assert cost_model.total(lines) == pytest.approx(0.035 + 0.002 + 20_000 * 0.0000166667 + 0.05)


def test_unknown_region_is_refused_with_the_priced_ones() -> None:
    with pytest.raises(cost_model.UnknownRegion, match="us-east-1"):
        cost_model.load_prices("mars-north-1")


def test_price_file_records_its_date_and_sources() -> None:
    data = json.loads(cost_model.PRICES_FILE.read_text())
    assert data["prices_as_of"] == PRICES["prices_as_of"]
    for service in ("lambda", "stepfunctions", "s3", "cloudwatch_logs", "xray", "apigateway"):
        assert PRICES[service]["source"].startswith("https://")


def test_billed_steps() -> None:
    assert cost_model.billed_ms(0.2, 1) == 1 and cost_model.billed_ms(10.1, 1) == 11
    assert cost_model.billed_ms(101, 100) == 200 and cost_model.billed_ms(100, 100) == 100
    assert math.isclose(cost_model.platform_log_bytes(True, True) - cost_model.platform_log_bytes(False, False),
                        len(cost_model._INIT) + len(cost_model._XRAY))  # fmt: skip
