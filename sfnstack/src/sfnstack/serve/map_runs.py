"""DescribeMapRun and ListMapRuns: a Distributed Map's map run as AWS describes it, counted
from the execution's own history (MapRunStarted, MapIterationStarted / Succeeded / Failed /
Aborted, MapRunSucceeded / MapRunFailed, in order) and the facts the interpreter reports
when the run starts (``Progress.map_run_started``: how many child executions, the items
of each when an ItemBatcher batches them, MaxConcurrency, the tolerated failures).

A child execution started but not ended is RUNNING; one never started is PENDING (also
when the run ended early, its tolerated failures exceeded, as the ResultWriter's
PENDING records say). Items count as their child execution does."""

from __future__ import annotations

from typing import Any

__all__ = ["describe", "summary"]

_ENDS = {"MapRunSucceeded": "SUCCEEDED", "MapRunFailed": "FAILED"}
_ITERATION_ENDS = {
    "MapIterationSucceeded": "succeeded",
    "MapIterationFailed": "failed",
    "MapIterationAborted": "aborted",
}


def _span(history: list[dict[str, Any]], run: dict[str, Any]) -> tuple[int, int | None] | None:
    """Indices in ``history`` of the run's MapRunStarted and its end event (None while it
    runs or when the execution ended without one); None if the history has no such run."""
    start = next(
        (
            i
            for i, event in enumerate(history)
            if event.get("type") == "MapRunStarted"
            and (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn") == run["mapRunArn"]
        ),
        None,
    )
    if start is None:
        return None
    # Its end event follows it on the Map state's own chain of events (the iterations'
    # events are on chains of their own), so it names it as its previous event.
    start_id = history[start].get("id")
    for i in range(start + 1, len(history)):
        event = history[i]
        if event.get("type") in _ENDS and event.get("previousEventId") == start_id:
            return start, i
    return start, None


def _counts(
    history: list[dict[str, Any]],
    run: dict[str, Any],
    span: tuple[int, int | None] | None,
    closed: bool,
) -> tuple[str, dict[str, int], dict[str, int]]:
    """(status, executionCounts, itemCounts)."""
    total = int(run.get("executions") or 0)
    sizes = run.get("itemsPerExecution")
    state = run.get("state")
    outcome: dict[int, str] = {}  # iteration index -> running | succeeded | failed | aborted
    status = "RUNNING"
    if span is not None:
        start, end = span
        for event in history[start + 1 : end if end is not None else len(history)]:
            kind = event.get("type", "")
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), None)
            if not isinstance(details, dict) or details.get("name") != state:
                continue
            index = details.get("index")
            if not isinstance(index, int):
                continue
            if kind == "MapIterationStarted":
                outcome.setdefault(index, "running")
            elif kind in _ITERATION_ENDS:
                outcome[index] = _ITERATION_ENDS[kind]
        if end is not None:
            status = _ENDS[history[end]["type"]]
        elif closed:
            status = "ABORTED"  # the execution ended (stopped, timed out) during the run
    if status == "ABORTED":  # what was running was stopped with the execution
        outcome = {i: ("aborted" if o == "running" else o) for i, o in outcome.items()}
    keys = ("pending", "running", "succeeded", "failed", "timedOut", "aborted")
    executions = dict.fromkeys(keys, 0)
    items = dict.fromkeys(keys, 0)
    for index in range(total):
        kind = outcome.get(index, "pending")
        executions[kind] += 1
        items[kind] += sizes[index] if isinstance(sizes, list) and index < len(sizes) else 1
    for counts in (executions, items):
        counts["total"] = sum(counts[k] for k in keys)
        counts["resultsWritten"] = 0
        counts["failuresNotRedrivable"] = 0
        counts["pendingRedrive"] = 0
    if run.get("resultWriter") and status in ("SUCCEEDED", "FAILED"):
        items["resultsWritten"] = items["succeeded"] + items["failed"]
        executions["resultsWritten"] = executions["succeeded"] + executions["failed"]
    return status, executions, items


def describe(
    run: dict[str, Any],
    record: Any,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """DescribeMapRun's answer for ``run`` of the execution ``record``."""
    closed = record.status != "RUNNING"
    span = _span(history, run)
    status, execution_counts, item_counts = _counts(history, run, span, closed)
    body: dict[str, Any] = {
        "mapRunArn": run["mapRunArn"],
        "executionArn": record.execution_arn,
        "status": status,
        "startDate": history[span[0]]["timestamp"] if span else record.start_date,
        "maxConcurrency": int(run.get("maxConcurrency") or 0),
        "toleratedFailurePercentage": float(run.get("toleratedFailurePercentage") or 0),
        "toleratedFailureCount": int(run.get("toleratedFailureCount") or 0),
        "itemCounts": item_counts,
        "executionCounts": execution_counts,
        "redriveCount": 0,
    }
    if span is not None and span[1] is not None:
        body["stopDate"] = history[span[1]]["timestamp"]
    elif closed and record.stop_date is not None:
        body["stopDate"] = record.stop_date
    return body


def summary(run: dict[str, Any], record: Any, history: list[dict[str, Any]]) -> dict[str, Any]:
    """ListMapRuns' item for ``run``."""
    described = describe(run, record, history)
    item = {
        "executionArn": record.execution_arn,
        "mapRunArn": run["mapRunArn"],
        "stateMachineArn": f"{record.state_machine_arn}/{run.get('label') or run.get('state')}",
        "startDate": described["startDate"],
    }
    if "stopDate" in described:
        item["stopDate"] = described["stopDate"]
    return item
