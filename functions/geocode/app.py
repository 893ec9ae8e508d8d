"""Geocode step: city names -> places (coordinates, country, timezone) for one batch.

A name that does not resolve becomes that city's error ("not found: ..."); a retryable
provider failure (timeout, 429, 5xx) is raised so the state machine retries the batch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast.pipeline import handler_support as support
from raincast.pipeline.steps import geocode_batch

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = support.parse_batch(event, logger)
    geocode_batch(batch, support.geocoder(batch.settings.geocoder))
    logger.info(
        "geocoded", extra={"items": len(batch.items), "failed": support.count_failed(batch)}
    )
    return batch.to_event()
