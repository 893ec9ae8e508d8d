"""Summarize step: the run's forecast.csv, summary.json and manifest.json.

Its output (counts by status and by error reason, and the keys written) is the
execution's output.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast import lambda_adapter as adapter
from raincast.pipeline.summary import summarize_run

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
    settings = event["settings"]
    logger.append_keys(run_id=settings["run_id"], execution=settings.get("execution"))
    summary = summarize_run(event, adapter.s3_client(), adapter.results_bucket())
    metrics.add_metric(name="RunsSummarized", unit=MetricUnit.Count, value=1)
    logger.info(
        "run summarized",
        extra={
            "total": summary["total"],
            "by_status": summary["by_status"],
            "completed": summary["completed"],
        },
    )
    return summary
