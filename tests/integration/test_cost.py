"""`raincast cost` end to end: a small run on the local runtime whose AWS quantities can be
derived by hand from the state machine and the handlers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def raincast_cost(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")]
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "raincast_cli", "cost", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


def quantity(report: dict, service: str, item: str) -> float:
    found = [
        line["quantity"]
        for line in report["lines"]
        if line["service"] == service and line["item"] == item
    ]
    assert len(found) == 1, (service, item, [line["item"] for line in report["lines"]])
    return found[0]


@pytest.fixture(scope="module")
def three_cities(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cities = tmp_path_factory.mktemp("cost") / "three.txt"
    cities.write_text("Sydney\nPerth\nXyzzyville\n")
    result = raincast_cost(cities, "--json", "--trigger", "s3", "--workers", "2")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_counts_match_what_the_state_machine_does(three_cities: dict) -> None:
    report = three_cities
    assert report["cities"] == 3 and report["batches"] == 1  # 3 cities: one batch of 25
    # Every function once: Prepare, the four batch steps for the one batch, Summarize.
    for function in ("Prepare", "Geocode", "Weather", "Predict", "Store", "Summarize"):
        assert quantity(report, "Lambda", f"{function}Function requests") == 1
    # Prepare, IsInputValid, ForecastCities, Summarize; one child, started once.
    assert quantity(report, "Step Functions", "parent state transitions") == 4
    assert quantity(report, "Step Functions", "Express child requests") == 1
    # Run-level S3: the upload (s3 trigger), Prepare's run-id claim and its list, the
    # ResultWriter's results file and manifest, Summarize's CSV, summary and manifest (8 PUTs)
    # and its stale listing (1 LIST); GETs: Prepare reads the upload, the ItemReader the list, Summarize the
    # list, the ResultWriter manifest and its results file.
    assert quantity(report, "S3", "PUT/COPY/POST/LIST requests (per run)") == 9
    assert quantity(report, "S3", "GET/other requests (per run)") == 5
    assert quantity(report, "EventBridge", "S3 Object Created event (AWS service event)") == 1
    # The default layout: one PUT for the batch's documents, none per city.
    assert quantity(report, "S3", "PUT/COPY/POST/LIST requests (per batch)") == 1
    assert not [line for line in report["lines"] if "(per city)" in line["item"]]


def test_per_city_layout_puts_one_object_per_city(tmp_path: Path) -> None:
    cities = tmp_path / "two.txt"
    cities.write_text("Hobart\nDarwin\n")
    result = raincast_cost(cities, "--json", "--layout", "city", "--workers", "2")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layout"] == "city"
    assert quantity(report, "S3", "PUT/COPY/POST/LIST requests (per city)") == 2
    assert not [line for line in report["lines"] if "(per batch)" in line["item"]]
    # schedule trigger (the default): the list was already there, its upload is not
    # counted: Prepare's claim and list, the ResultWriter's 2, Summarize's 3 and its listing.
    assert quantity(report, "S3", "PUT/COPY/POST/LIST requests (per run)") == 8
    assert quantity(report, "EventBridge Scheduler", "scheduled invocation") == 1


def test_json_lines_multiply_and_add_up(three_cities: dict) -> None:
    report = three_cities
    assert set(report) >= {"cities", "total_usd", "per_10000_cities_usd", "prices_as_of", "lines"}
    for line in report["lines"]:
        assert set(line) == {"service", "item", "quantity", "unit", "unit_price_usd", "usd"}
        assert line["usd"] == pytest.approx(line["quantity"] * line["unit_price_usd"])
    assert report["total_usd"] == pytest.approx(sum(line["usd"] for line in report["lines"]))
    assert 0 < report["total_usd"] < report["per_10000_cities_usd"]
    sizes = [row["cities"] for row in report["projection"]]
    assert sizes == [1_000, 10_000, 100_000, 1_000_000]
    assert report["tutorial_per_10000_cities"]["usd"] == pytest.approx(0.4203, abs=1e-4)


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    cities = tmp_path / "ok.txt"
    cities.write_text("Sydney\n")
    region = raincast_cost(cities, "--region", "mars-north-1")
    assert region.returncode == 2
    assert region.stderr.strip().splitlines() == [
        "raincast cost: error: no prices for region 'mars-north-1': priced regions are "
        "us-east-1 (add one to src/raincast_cli/data/aws_prices.json)"
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = raincast_cost(empty)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
