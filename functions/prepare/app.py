"""Prepare step: validate the request and the city list, write it as JSON Lines for the Map.

A bad list or request is returned as ``{"ok": false, "error": ..., "message": ...}`` (the
state machine turns it into a clear execution failure before any city runs).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.validation import validate

from raincast import lambda_adapter as adapter
from raincast.pipeline.prepare import prepare_run

logger = Logger()
tracer = Tracer()

# The S3 client is made at init (Lambda's init phase; the local runtime's prewarm), not
# in the first invocation: making one loads botocore's S3 model, about 0.2 s.
adapter.s3_client()

EVENT_SCHEMA = {
    "type": "object",
    "required": ["input", "execution_name"],
    "properties": {"execution_name": {"type": "string"}, "execution_id": {"type": "string"}},
}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    validate(event=event, schema=EVENT_SCHEMA)
    logger.append_keys(execution=event.get("execution_id"))
    prepared = prepare_run(
        event["input"],
        event["execution_name"],
        event.get("execution_id"),
        adapter.s3_client(),
        adapter.results_bucket(),
        adapter.default_date,
    )
    if prepared["ok"]:
        logger.append_keys(run_id=prepared["settings"]["run_id"])
        logger.info(
            "city list ready",
            extra={"count": prepared["count"], "invalid_rows": prepared["invalid_rows"]},
        )
    else:
        logger.warning(
            "rejected input", extra={"error": prepared["error"], "reason": prepared["message"]}
        )
    return prepared
