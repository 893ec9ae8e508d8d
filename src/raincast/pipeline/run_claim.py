"""Who owns ``runs/<run_id>/``: the first request that claims a run id.

A run id names where results go, and callers choose it (``run_id`` in the API body, the
execution name otherwise). Two executions with one run id would write into the same
prefix and Summarize would delete each other's per-city results while both report
SUCCEEDED. So Prepare claims the prefix first, with a conditional write of
``runs/<run_id>/claim.json`` (S3 ``If-None-Match: *``: exactly one writer wins):

* the same request again (same cities, date, weather source and geocoder) is the same
  run: it goes ahead and overwrites identical results (idempotent re-runs, retries,
  redrives);
* a different request under a claimed run id is refused with ``RunIdInUse`` before it
  writes anything, naming the execution that owns the id.

Refusing was chosen over keeping the runs apart (a prefix per execution) because the run
id is the caller's handle on the results: ``runs/<run_id>/summary.json`` must mean one
thing, and a silent second prefix would leave the caller reading the other run's results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from raincast.pipeline.records import RunSettings, run_prefix

__all__ = ["claim_key", "claim_run", "request_fingerprint"]

_CONFLICT_RETRIES = 3


def claim_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}claim.json"


def request_fingerprint(settings: RunSettings, cities_jsonl: bytes) -> str:
    """What makes two requests the same run: the normalised city list and the settings
    that change results (not the trigger or the execution)."""
    document = {
        "cities": hashlib.sha256(cities_jsonl).hexdigest(),
        "date": settings.date,
        "weather": settings.weather,
        "geocoder": settings.geocoder,
        "recalibrate": settings.recalibrate,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def claim_run(
    s3: Any, bucket: str, settings: RunSettings, cities_jsonl: bytes, source: dict[str, Any]
) -> str | None:
    """Claims the run id for this request. ``None`` when this request may write the run's
    results (it claimed the id, or it is the request that did); otherwise the reason it
    may not, for the execution's error cause."""
    fingerprint = request_fingerprint(settings, cities_jsonl)
    key = claim_key(settings.run_id)
    body = json.dumps(
        {
            "run_id": settings.run_id,
            "fingerprint": fingerprint,
            "execution": settings.execution,
            "trigger": settings.trigger,
            "source": source,
            "claimed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        ensure_ascii=False,
    ).encode("utf-8")
    for _attempt in range(_CONFLICT_RETRIES):
        try:
            s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
            )
            return None
        except Exception as exc:  # botocore ClientError
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ConditionalRequestConflict":  # a concurrent claim: look again
                continue
            if code not in ("PreconditionFailed", "412"):
                raise
        owner = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if owner.get("fingerprint") == fingerprint:
            return None
        return (
            f"run id {settings.run_id!r} already holds the results of a different request "
            f"(execution {owner.get('execution') or 'unknown'}, claimed "
            f"{owner.get('claimed_at') or 'earlier'}); choose another run_id, or repeat "
            "that run's exact request to re-run it"
        )
    raise RuntimeError(f"could not claim run id {settings.run_id!r}: concurrent claims")
