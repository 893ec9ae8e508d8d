"""Predict step: the probability of rain tomorrow for every city of one batch.

The model comes from the model layer (/opt/python/raincast_model) and is loaded once per
execution environment, at import time, so its cost lands in the cold start (Lambda's init
phase gets a full CPU burst) rather than in the first invocation.

When the run's weather source keeps history (Open-Meteo's archive; not the offline replay,
whose stations the model was fitted on), each place's forecast is recalibrated with its own
past year (``raincast.model.recalibration``): one history request per new place, retried
within the invocation's remaining time; a place whose history fails keeps the model's
probability and its record says why. The offsets are cached for the environment's life
and in the results bucket (``cache/recalibration/``, per place and month), so the next
runs, in other environments, do not ask the archive again that month.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from raincast import lambda_adapter as adapter
from raincast.model.recalibration import HistoryRecalibration
from raincast.pipeline.records import count_failed
from raincast.pipeline.steps import predict_batch

logger = Logger()
tracer = Tracer()

MODEL = adapter.rain_model()
RECALIBRATION = HistoryRecalibration(MODEL, store=adapter.recalibration_store())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = adapter.parse_batch(event, logger)
    source = adapter.weather_source(batch.settings.weather)
    predict_batch(batch, MODEL, RECALIBRATION, source, adapter.deadline(context))
    logger.info("predicted", extra={"items": len(batch.items), "failed": count_failed(batch)})
    return batch.to_event()
