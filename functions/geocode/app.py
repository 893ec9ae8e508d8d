"""Geocode step: city names -> places (coordinates, country, timezone) for one batch.

A name that does not resolve becomes that city's error ("not found: ..."). Each lookup is
retried where it fails, within the invocation's remaining time; a city whose lookup still
fails gets the error as its reason. Only a provider that answered none of the batch's
lookups fails the invocation (the state machine retries the batch later).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast import lambda_adapter as adapter
from raincast.pipeline.records import DEFAULT_GEOCODER, count_failed
from raincast.pipeline.steps import geocode_batch

logger = Logger()
tracer = Tracer()
# The default geocoder's data (the GeoNames index) at init, not in the first batch.
adapter.load_at_init(adapter.geocoder, DEFAULT_GEOCODER, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = adapter.parse_batch(event, logger)
    geocode_batch(batch, adapter.geocoder(batch.settings.geocoder), adapter.deadline(context))
    logger.info("geocoded", extra={"items": len(batch.items), "failed": count_failed(batch)})
    return batch.to_event()
