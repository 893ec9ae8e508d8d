"""Weather step: the observations of the run's date at each place of one batch.

No observations near a place (offline replay far from any station) becomes that city's
error; a retryable provider failure is raised so the state machine retries the batch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast.pipeline import handler_support as support
from raincast.pipeline.steps import weather_batch

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = support.parse_batch(event, logger)
    weather_batch(batch, support.weather_source(batch.settings.weather))
    logger.info(
        "observed", extra={"items": len(batch.items), "failed": support.count_failed(batch)}
    )
    return batch.to_event()
