"""What the Lambda handlers share: clients, providers, the model and secrets, each created
once per execution environment (module-level caches survive warm invocations), plus the
batch-event schema and the metrics every step reports.

Nothing here is needed by the domain code; only ``functions/*/app.py`` import it.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from raincast.pipeline.records import Batch, reason_category

# The event a per-batch step accepts (validated with powertools' validator): either the
# Map's ItemBatcher shape or the previous step's output.
BATCH_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "oneOf": [
        {
            "required": ["Items"],
            "properties": {"Items": {"type": "array", "items": {"type": "object"}}},
        },
        {
            "required": ["items", "batch"],
            "properties": {
                "items": {"type": "array", "items": {"type": "object"}},
                "batch": {"type": "object", "required": ["run_id", "date"]},
            },
        },
    ],
}

LOCATIONIQ_KEY_ENV = "LOCATIONIQ_API_KEY"  # a key given directly (local runs)
LOCATIONIQ_PARAMETER_ENV = "LOCATIONIQ_API_KEY_PARAMETER"  # SSM SecureString name (AWS)
LOCATIONIQ_SECRET_ENV = "LOCATIONIQ_API_KEY_SECRET"  # or a Secrets Manager secret id
SECRET_MAX_AGE_SECONDS = 300  # rotate-friendly, yet one fetch per environment per 5 minutes


def results_bucket() -> str:
    bucket = os.environ.get("RESULTS_BUCKET")
    if not bucket:
        raise RuntimeError("RESULTS_BUCKET is not set: the function's environment is incomplete")
    return bucket


@functools.cache
def s3_client() -> Any:
    import boto3

    # boto3 honours AWS_ENDPOINT_URL, which the local runtime points at its embedded S3.
    return boto3.client("s3")


@functools.cache
def geocoder(name: str) -> Any:
    from raincast.geocoding import get_geocoder

    config: dict[str, Any] = {}
    if name == "locationiq":
        config["api_key"] = locationiq_api_key()
    return get_geocoder(name, **config)


@functools.cache
def weather_source(name: str) -> Any:
    from raincast.weather import get_weather_source

    return get_weather_source(name)


@functools.cache
def rain_model() -> Any:
    try:
        from raincast.model import RainModel  # type: ignore[attr-defined]  # not there: the except
    except ImportError:  # the class lives in raincast.model.artifact
        from raincast.model.artifact import RainModel

    return RainModel.load()


def default_date(weather: str) -> str:
    """The observation date when the request gives none: the last day the offline replay
    covers, or today (UTC) for a live source."""
    if weather == "replay":
        latest = weather_source("replay").latest_date
        return latest.isoformat() if hasattr(latest, "isoformat") else str(latest)
    from raincast.pipeline.prepare import today_utc

    return today_utc()


def locationiq_api_key() -> str:
    """The LocationIQ key: from the environment (local), else an SSM SecureString or a
    Secrets Manager secret named by the environment, cached by powertools Parameters.
    Never logged."""
    direct = os.environ.get(LOCATIONIQ_KEY_ENV)
    if direct:
        return direct
    from aws_lambda_powertools.utilities import parameters

    parameter = os.environ.get(LOCATIONIQ_PARAMETER_ENV)
    if parameter:
        return str(
            parameters.get_parameter(parameter, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
        )
    secret = os.environ.get(LOCATIONIQ_SECRET_ENV)
    if secret:
        return str(parameters.get_secret(secret, max_age=SECRET_MAX_AGE_SECONDS))
    from raincast.errors import ProviderError

    raise ProviderError(
        "locationiq",
        f"no API key: set {LOCATIONIQ_KEY_ENV}, or {LOCATIONIQ_PARAMETER_ENV} (SSM SecureString) "
        f"or {LOCATIONIQ_SECRET_ENV} (Secrets Manager)",
    )


def parse_batch(event: Any, logger: Any) -> Batch:
    """Validates a per-batch event, parses it, and puts the run and batch ids into every
    log line of this invocation."""
    from aws_lambda_powertools.utilities.validation import validate

    validate(event=event, schema=BATCH_EVENT_SCHEMA)
    batch = Batch.from_event(event)
    logger.append_keys(
        run_id=batch.settings.run_id,
        batch_id=batch.batch_id,
        execution=batch.settings.execution,
    )
    return batch


def record_outcomes(metrics: Any, rows: list[dict[str, Any]]) -> None:
    """Metrics for stored results: cities forecast, and errors by reason category."""
    from aws_lambda_powertools.metrics import MetricUnit

    ok = sum(1 for r in rows if r.get("status") == "ok")
    metrics.add_metric(name="CitiesForecast", unit=MetricUnit.Count, value=ok)
    metrics.add_metric(name="CityErrors", unit=MetricUnit.Count, value=len(rows) - ok)
    by_reason: dict[str, int] = {}
    for row in rows:
        if row.get("status") != "ok":
            category = reason_category(row.get("reason"))
            by_reason[category] = by_reason.get(category, 0) + 1
    for category, count in sorted(by_reason.items()):
        # One EMF document per reason, with the reason as a dimension (few distinct values).
        with _single_metric("CityErrorsByReason", count) as metric:
            metric.add_dimension(name="reason", value=category[:200])


def _single_metric(name: str, value: int) -> Any:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    return single_metric(name=name, unit=MetricUnit.Count, value=value)


def count_failed(batch: Batch) -> dict[str, int]:
    """Failed items of a batch by reason category (for the step's log line)."""
    counts: dict[str, int] = {}
    for item in batch.items:
        if item.get("status") == "error":
            category = reason_category(item.get("reason"))
            counts[category] = counts.get(category, 0) + 1
    return counts
