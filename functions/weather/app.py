"""Weather step: the observations of the run's date at each place of one batch.

No observations near a place (offline replay far from any station) becomes that city's
error. Each request is retried where it fails, within the invocation's remaining time; a
city whose request still fails gets the error as its reason. Only a provider that answered
none of the batch's requests fails the invocation (the state machine retries the batch).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast import lambda_adapter as adapter
from raincast.pipeline.records import DEFAULT_WEATHER, count_failed
from raincast.pipeline.steps import weather_batch

logger = Logger()
tracer = Tracer()
# The default source's data (the replayed observations) at init, not in the first batch.
adapter.load_at_init(adapter.weather_source, DEFAULT_WEATHER, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = adapter.parse_batch(event, logger)
    weather_batch(batch, adapter.weather_source(batch.settings.weather), adapter.deadline(context))
    logger.info("observed", extra={"items": len(batch.items), "failed": count_failed(batch)})
    return batch.to_event()
