"""Writes events/<function>.json: one sample event per function, as the state machine sends
it (the SAM layout: `sam local invoke GeocodeFunction -e events/geocode.json`).

Each event is what the real pipeline produces for events/cities.csv, made with the local
stack: Prepare's event is the one the state machine builds for an upload of that list
under incoming/; each batch step's event is the previous step's real output; Summarize's
is taken from a real execution (its map run id is that run's). Bucket names are the local
stack's (`raincast serve` has the same ones); on AWS, use your stack's.

    .venv/bin/python scripts/sample_events.py          # rewrite events/*.json
    tests/integration/test_sample_events.py checks that they are still what the code sends.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
CITY_LIST = EVENTS / "cities.csv"
CITY_LIST_KEY = "incoming/cities.csv"
RUN_ID = "example"
EXECUTION_NAME = "example"
LOCAL_ENV = {"POWERTOOLS_TRACE_DISABLED": "true"}
BATCH_SETTINGS = ("run_id", "date", "weather", "geocoder", "trigger", "execution", "recalibrate")


def upload_city_list(runtime: Any) -> dict[str, Any]:
    """Puts events/cities.csv where Prepare's event points; returns the execution input."""
    bucket = runtime.buckets["InputBucket"]
    runtime.s3_client().put_object(Bucket=bucket, Key=CITY_LIST_KEY, Body=CITY_LIST.read_bytes())
    return {
        "bucket": bucket,
        "key": CITY_LIST_KEY,
        "trigger": "s3",
        "run_id": RUN_ID,
        "date": "2016-06-01",
    }


def task_payloads(execution: Any) -> dict[str, Any]:
    """Function logical id -> the Payload the execution sent it (first call of each)."""
    payloads: dict[str, Any] = {}
    for event in execution.history:
        if event["type"] == "TaskScheduled":
            parameters = json.loads(event["taskScheduledEventDetails"]["parameters"])
            function = parameters["FunctionName"].rsplit(":", 1)[-1].removeprefix("local-")
            payloads.setdefault(function, parameters["Payload"])
    return payloads


def generate(runtime: Any) -> dict[str, Any]:
    """events/<name>.json contents, by name, made by running the real handlers."""
    execution_input = upload_city_list(runtime)
    execution = runtime.start_execution(
        "ForecastStateMachine", execution_input, name=EXECUTION_NAME
    )
    result = execution.wait()
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"the sample run {result.status}: {result.error} {result.cause}")
    sent = task_payloads(execution)
    prepare = sent["PrepareFunction"]
    prepared = runtime.invoke("PrepareFunction", prepare)
    s3 = runtime.s3_client()
    body = s3.get_object(Bucket=prepared["items"]["bucket"], Key=prepared["items"]["key"])["Body"]
    items = [json.loads(line) for line in body.read().decode().splitlines() if line]
    # The Map's ItemBatcher: BatchInput from the run's settings, then the batch's items.
    geocode = {
        "BatchInput": {key: prepared["settings"][key] for key in BATCH_SETTINGS},
        "Items": items,
    }
    weather = runtime.invoke("GeocodeFunction", geocode)
    predict = runtime.invoke("WeatherFunction", weather)
    store = runtime.invoke("PredictFunction", predict)
    return {
        "prepare": prepare,
        "geocode": geocode,
        "weather": weather,
        "predict": predict,
        "store": store,
        "summarize": sent["SummarizeFunction"],
    }


def dumps(event: Any) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.path.insert(0, str(ROOT / "sfnstack" / "src"))
    from sfnstack.local import LocalRuntime

    with LocalRuntime(ROOT / "template.yaml", env_overrides={"*": LOCAL_ENV}) as runtime:
        events = generate(runtime)
    for name, event in events.items():
        (EVENTS / f"{name}.json").write_text(dumps(event), encoding="utf-8")
        print(f"wrote events/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
