"""Store step: the city documents of one batch, as one JSON Lines object under
runs/<run_id>/batches/ (RESULT_LAYOUT "batch", the default) or one JSON object per city
under runs/<run_id>/cities/ ("city"; the template's ResultLayout parameter sets it).

Also the state machine's RecordFailedBatch step: when the event carries a Catch's
``failure``, every city of the batch not already failed is stored with that failure as its
reason, so a crashed batch is recorded rather than lost. Returns the batch's result rows
(the CSV columns plus each object's key), which the Map's ResultWriter keeps.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast import lambda_adapter as adapter
from raincast.pipeline.records import count_failed
from raincast.pipeline.steps import record_failed_batch, store_batch

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# The S3 client is made at init (Lambda's init phase; the local runtime's prewarm), not
# in the first invocation: making one loads botocore's S3 model, about 0.2 s.
adapter.s3_client()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = adapter.parse_batch(event, logger)
    if batch.failure is not None:
        logger.warning("recording a failed batch", extra={"failure": batch.failure.get("Error")})
        record_failed_batch(batch)
    layout = os.environ.get("RESULT_LAYOUT", "batch")
    rows = store_batch(batch, adapter.s3_client(), adapter.results_bucket(), layout)
    adapter.record_outcomes(metrics, rows)
    logger.info("stored", extra={"items": len(rows), "failed": count_failed(batch)})
    return {"batch": batch.to_event()["batch"], "rows": rows}
