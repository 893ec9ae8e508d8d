"""The Lambda adapter: everything AWS-specific the handlers in ``functions/*/app.py``
share, kept out of the domain code (``raincast.pipeline``, ``raincast.geocoding``,
``raincast.weather`` never import it). The handlers share code only through the shared
layer, so it lives in the raincast package, but only the handlers import it.

What is here: the function's environment (``RESULTS_BUCKET``, the LocationIQ key from the
environment, SSM or Secrets Manager through powertools Parameters), the boto3 S3 client,
the providers and the model (each created once per execution environment: module-level
caches survive warm invocations), the batch-event schema, the time budget a step gets from
the Lambda context, and the metrics every step reports.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
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
# Of the invocation's remaining time, what a step keeps back from its provider lookups to
# return the batch (serialise, log, flush metrics) before Lambda's Timeout kills it.
RESERVE_SECONDS = 5.0


def deadline(context: Any) -> float | None:
    """The ``time.monotonic()`` by which a step's lookups must be done: the invocation's
    remaining time (``context.get_remaining_time_in_millis()``; the local runtime's context
    gives it too) less ``RESERVE_SECONDS``. None when the context cannot tell."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + float(remaining()) / 1000.0 - RESERVE_SECONDS


def results_bucket() -> str:
    bucket = os.environ.get("RESULTS_BUCKET")
    if not bucket:
        raise RuntimeError("RESULTS_BUCKET is not set: the function's environment is incomplete")
    return bucket


def recalibration_store() -> Any:
    """Where Predict keeps places' recalibration offsets for later runs: the results
    bucket's ``cache/recalibration/`` (None without RESULTS_BUCKET: the environment's own
    cache only). The S3 client is made at the first use, not at import."""
    bucket = os.environ.get("RESULTS_BUCKET")
    if not bucket:
        return None
    from raincast.model.recalibration import S3OffsetStore

    return S3OffsetStore(s3_client, bucket)


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


def load_at_init(make: Callable[[str], Any], name: str, logger: Any) -> None:
    """Makes provider ``name`` with ``make`` (``geocoder`` or ``weather_source``: cached, the
    one the invocations then get) and reads its data now, in the init phase, as Predict
    loads its model: the first batch does not wait for it, and a Map's second batch does
    not start another environment meanwhile. A failure is logged; the invocations that use
    the provider report it as before."""
    try:
        make(name).load()
    except Exception as exc:  # anything: the invocations report it
        logger.warning(
            "provider data not loaded at init",
            extra={"provider": name, "error": f"{type(exc).__name__}: {exc}"},
        )


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
    validate_batch_event(event)
    batch = Batch.from_event(event)
    logger.append_keys(
        run_id=batch.settings.run_id,
        batch_id=batch.batch_id,
        execution=batch.settings.execution,
    )
    return batch


@functools.cache
def _batch_event_validator() -> Any:
    # fastjsonschema as powertools' validation module holds it: the layer has it as
    # powertools[validation]'s dependency, not as a requirement of its own.
    from aws_lambda_powertools.utilities.validation.base import fastjsonschema

    return fastjsonschema.compile(BATCH_EVENT_SCHEMA)


def validate_batch_event(event: Any) -> None:
    """Powertools' ``validate`` for ``BATCH_EVENT_SCHEMA``, with the schema compiled once per
    environment: ``validate`` compiles it on every call (fastjsonschema generates and
    ``exec``s a module each time: about 4-9 ms, more than a warm step's own work on a batch).
    Raises powertools' ``SchemaValidationError``, as ``validate`` does."""
    from aws_lambda_powertools.utilities.validation.base import fastjsonschema
    from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

    try:
        _batch_event_validator()(event)
    except fastjsonschema.JsonSchemaValueException as e:
        raise SchemaValidationError(
            f"Failed schema validation. Error: {e.message}, Path: {e.path}, Data: {e.value}",
            validation_message=e.message,
            name=e.name,
            path=e.path,
            value=e.value,
            definition=e.definition,
            rule=e.rule,
            rule_definition=e.rule_definition,
        ) from None


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
