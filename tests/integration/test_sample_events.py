"""events/: one sample event per function (the SAM layout), each still what the state
machine sends, and each run through its handler in the local Lambda emulation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
FUNCTIONS = {
    name.name: f"{name.name.capitalize()}Function"
    for name in (ROOT / "functions").iterdir()
    if name.is_dir()
}


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "sample_events", ROOT / "scripts" / "sample_events.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sample_events = load_script()


def event(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runtime():
    from sfnstack.local import LocalRuntime

    with LocalRuntime(
        ROOT / "template.yaml", workers=2, env_overrides={"*": sample_events.LOCAL_ENV}
    ) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def generated(runtime) -> dict[str, Any]:
    return sample_events.generate(runtime)


def test_one_event_per_function() -> None:
    assert {p.stem for p in EVENTS.glob("*.json")} == set(FUNCTIONS)


def test_the_events_are_what_the_pipeline_sends(generated: dict[str, Any]) -> None:
    stale = []
    for name in FUNCTIONS:
        expected, committed = dict(generated[name]), dict(event(name))
        if name == "summarize":  # the map run's id is new in every run
            assert set(committed["map"]) == set(expected["map"])
            expected.pop("map"), committed.pop("map")
        if committed != expected:
            stale.append(name)
    assert not stale, f"events/{stale}.json are stale: run scripts/sample_events.py"


def test_each_event_runs_through_its_handler(runtime, generated: dict[str, Any]) -> None:
    prepared = runtime.invoke("PrepareFunction", event("prepare"))
    assert prepared["ok"] is True and prepared["count"] == 3
    # Each batch step's output is the next step's sample event.
    assert runtime.invoke("GeocodeFunction", event("geocode")) == event("weather")
    assert runtime.invoke("WeatherFunction", event("weather")) == event("predict")
    assert runtime.invoke("PredictFunction", event("predict")) == event("store")
    stored = runtime.invoke("StoreFunction", event("store"))
    assert [row["status"] for row in stored["rows"]] == ["ok", "ok", "error"]
    # Summarize reads the Map's results: those of the run the fixture made.
    summary = runtime.invoke(
        "SummarizeFunction", {**event("summarize"), "map": generated["summarize"]["map"]}
    )
    assert summary["total"] == 3 and summary["by_status"] == {"ok": 2, "error": 1}
