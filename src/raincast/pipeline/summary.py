"""The final step: gather every city's result and write the run's summary files.

Results come from the Distributed Map's ResultWriter output (the manifest and its
SUCCEEDED/FAILED/PENDING files, in AWS's layout): a succeeded batch's output is Store's
result rows; a failed batch's input names the cities it carried, which are recorded as
errors. When the Map itself failed (its Catch gives no results), the per-city objects Store
wrote during this run are read back instead, so cities that were forecast stay forecast.
Any city of the normalised list still unaccounted for is recorded as "not processed". So
every row of the list gets exactly one line in the CSV.

Written under ``runs/<run_id>/``: ``forecast.csv``, ``summary.json``, ``manifest.json``
(which lists the result objects: ``batch`` objects with the indices of their cities, or
``city`` objects, by the run's result layout). Result objects (``batches/``, ``cities/``)
left over from an earlier run with the same run id that this run did not write again are
deleted, so a re-run never leaves stale results next to fresh ones.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from raincast.pipeline.prepare import read_jsonl
from raincast.pipeline.records import (
    RESULT_FIELDS,
    csv_key,
    fail,
    manifest_key,
    reason_category,
    result_row,
    run_prefix,
    summary_key,
)
from raincast.pipeline.steps import describe_failure
from raincast.sanitize import spreadsheet_cell


def summarize_run(event: dict[str, Any], s3: Any, bucket: str) -> dict[str, Any]:
    settings = event["settings"]
    run_id, date = settings["run_id"], settings["date"]
    listing = event["items"]
    expected = read_jsonl(_read(s3, listing["bucket"], listing["key"]))
    rows: dict[int, dict[str, Any]] = {}

    map_result = event.get("map")
    if isinstance(map_result, dict) and map_result.get("ResultWriterDetails"):
        _rows_from_result_writer(s3, map_result["ResultWriterDetails"], rows)
    elif isinstance(map_result, list):  # a Map without ResultWriter: its outputs inline
        for output in map_result:
            _rows_from_output(output, rows)

    map_error = event.get("map_error")
    if map_error and not rows:
        _rows_from_city_objects(s3, bucket, settings, _last_modified(s3, listing), rows)
    missing_reason = (
        "not processed: " + describe_failure(map_error) if map_error else "not processed: no result"
    )
    for item in expected:
        index = int(item["index"])
        if index not in rows:
            rows[index] = {**result_row(fail(dict(item), missing_reason), date), "key": None}

    ordered = [rows[i] for i in sorted(rows)]
    by_status = Counter(str(r["status"]) for r in ordered)
    errors_by_reason = Counter(reason_category(r["reason"]) for r in ordered if r["status"] != "ok")
    summary = {
        "run_id": run_id,
        "date": date,
        "weather": settings.get("weather"),
        "geocoder": settings.get("geocoder"),
        "recalibrate": settings.get("recalibrate"),
        "trigger": settings.get("trigger"),
        "source": event.get("source"),
        "completed": map_error is None,
        "total": len(ordered),
        "by_status": dict(sorted(by_status.items())),
        "errors_by_reason": dict(errors_by_reason.most_common()),
    }
    if map_error:
        summary["error"] = describe_failure(map_error)

    city_keys = [r["key"] for r in ordered if r.get("key")]
    # A batch object holds several cities' documents: listed once, with their indices.
    result_objects: dict[str, dict[str, Any]] = {}
    for r in ordered:
        if not r.get("key"):
            continue
        if "/batches/" in r["key"]:
            entry = result_objects.setdefault(
                r["key"], {"key": r["key"], "kind": "batch", "indices": []}
            )
            entry["indices"].append(r["index"])
        else:
            result_objects[r["key"]] = {
                "key": r["key"],
                "kind": "city",
                "index": r["index"],
                "status": r["status"],
            }
    keys = {
        "csv": csv_key(run_id),
        "summary": summary_key(run_id),
        "manifest": manifest_key(run_id),
    }
    _put(s3, bucket, keys["csv"], forecast_csv(ordered), "text/csv; charset=utf-8")
    _put(s3, bucket, keys["summary"], _json(summary), "application/json")
    removed = remove_stale_city_objects(s3, bucket, run_id, set(city_keys))
    manifest = {
        "run_id": run_id,
        "bucket": bucket,
        "objects": [
            {"key": listing["key"], "kind": "input"},
            *result_objects.values(),
            {"key": keys["csv"], "kind": "csv"},
            {"key": keys["summary"], "kind": "summary"},
            {"key": keys["manifest"], "kind": "manifest"},
        ],
        "map_results": (map_result or {}).get("ResultWriterDetails")
        if isinstance(map_result, dict)
        else None,
        "removed_stale": removed,
    }
    _put(s3, bucket, keys["manifest"], _json(manifest), "application/json")
    return {**summary, "bucket": bucket, "keys": keys}


def forecast_csv(rows: list[dict[str, Any]]) -> bytes:
    """The run's CSV. Text cells (city, place, country, reason) come from the list and the
    providers, so each goes through ``spreadsheet_cell``: none can start a formula."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=RESULT_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: "" if row.get(k) is None else spreadsheet_cell(row[k]) for k in RESULT_FIELDS}
        )
    return out.getvalue().encode("utf-8")


def remove_stale_city_objects(s3: Any, bucket: str, run_id: str, keep: set[str]) -> list[str]:
    """Deletes the run's result objects (per city or per batch) not in ``keep``."""
    prefix = run_prefix(run_id)
    folders = (f"{prefix}batches/", f"{prefix}cities/")
    stale: list[str] = []
    # One listing of the run (a LIST request per 1,000 keys), not one per folder.
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        stale.extend(
            o["Key"]
            for o in page.get("Contents", [])
            if o["Key"].startswith(folders) and o["Key"] not in keep
        )
    for start in range(0, len(stale), 1000):
        chunk = stale[start : start + 1000]
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
        )
    return stale


def _rows_from_result_writer(
    s3: Any, details: dict[str, Any], rows: dict[int, dict[str, Any]]
) -> None:
    manifest = json.loads(_read(s3, details["Bucket"], details["Key"]))
    files = manifest.get("ResultFiles") or {}
    bucket = manifest.get("DestinationBucket") or details["Bucket"]
    for entry in files.get("SUCCEEDED", []):
        for execution in json.loads(_read(s3, bucket, entry["Key"])):
            _rows_from_output(_maybe_json(execution.get("Output")), rows)
    for status in ("FAILED", "PENDING"):
        for entry in files.get(status, []):
            for execution in json.loads(_read(s3, bucket, entry["Key"])):
                batch_input = _maybe_json(execution.get("Input")) or {}
                reason = (
                    "batch failed: " + describe_failure(execution)
                    if status == "FAILED"
                    else "not processed: the batch was still pending when the run ended"
                )
                date = (batch_input.get("BatchInput") or {}).get("date")
                for item in batch_input.get("Items") or []:
                    index = int(item["index"])
                    if index not in rows:
                        rows[index] = {**result_row(fail(dict(item), reason), date), "key": None}


def _rows_from_city_objects(
    s3: Any, bucket: str, settings: dict[str, Any], since: Any, rows: dict[int, dict[str, Any]]
) -> None:
    """The rows of the result objects (per city, or per batch: one document a line)
    written since this run's list was (by this run, not an earlier one with the same run
    id; S3 times are to the second)."""
    run_id, date = settings["run_id"], settings["date"]
    for folder in ("cities/", "batches/"):
        prefix = f"{run_prefix(run_id)}{folder}"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                if since is not None and entry["LastModified"] < since:
                    continue
                text = _read(s3, bucket, entry["Key"]).decode("utf-8", "replace")
                documents = text.splitlines() if folder == "batches/" else [text]
                for document in documents:
                    record = _maybe_json(document)
                    if (
                        not isinstance(record, dict)
                        or record.get("run_id") != run_id
                        or record.get("date") != date
                        or not isinstance(record.get("index"), int)
                    ):
                        continue
                    row = {**result_row(record, date), "key": entry["Key"]}
                    rows.setdefault(record["index"], row)


def _last_modified(s3: Any, location: dict[str, Any]) -> Any:
    try:
        head = s3.head_object(Bucket=location["bucket"], Key=location["key"])
    except Exception:  # botocore ClientError: then every object counts
        return None
    return head["LastModified"].replace(microsecond=0)


def _rows_from_output(output: Any, rows: dict[int, dict[str, Any]]) -> None:
    output = _maybe_json(output)
    if isinstance(output, dict):
        for row in output.get("rows") or []:
            rows[int(row["index"])] = row


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _read(s3: Any, bucket: str, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _put(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
