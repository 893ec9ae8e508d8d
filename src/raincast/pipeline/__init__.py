"""The domain code behind the pipeline's Lambda handlers.

The state machine moves *batches* of city *items* (plain JSON dicts) through five steps:
prepare (validate + normalise the list), geocode, weather, predict, store, and a final
summarize. Each step here is plain Python over plain data, testable without AWS; the
handlers in ``functions/*/app.py`` only parse the event and call these.
"""

from raincast.pipeline.records import (
    GEOCODERS,
    WEATHER_SOURCES,
    Batch,
    RunSettings,
    city_key,
    reason_category,
    run_prefix,
)

__all__ = [
    "GEOCODERS",
    "WEATHER_SOURCES",
    "Batch",
    "RunSettings",
    "city_key",
    "reason_category",
    "run_prefix",
]
