"""The four per-batch steps: geocode, weather, predict, store (and recording a crashed batch).

Every step works on ``Batch.pending()`` items only and never raises for one city's
problem: that city gets ``status: "error"`` and a ``reason`` and flows on. The only
exceptions that escape are ``RetryableProviderError`` subclasses (the state machine retries
the batch with backoff) and genuine bugs (the state machine's Catch records the batch).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import Any, Protocol

from raincast.errors import ProviderError, RetryableProviderError
from raincast.pipeline.records import Batch, city_key, fail, result_row
from raincast.weather.base import Observation

log = logging.getLogger(__name__)

MAX_ALTERNATIVES = 3


class _Geocoder(Protocol):
    def geocode(self, query: str) -> Any: ...


class _WeatherSource(Protocol):
    def observe(self, lat: float, lon: float, date: dt.date) -> Any: ...


class _Model(Protocol):
    metadata: dict[str, Any]

    def predict_observations(
        self,
        observations: list[Observation],
        latitudes: Any = None,
        previous: list[Observation | None] | None = None,
    ) -> Any: ...


def geocode_batch(batch: Batch, geocoder: _Geocoder) -> Batch:
    for item in batch.pending():
        if item.get("lat") is not None and item.get("lon") is not None:
            # The list gave coordinates: trust them, no lookup.
            item["place"] = {
                "name": item["city"],
                "country_code": item.get("country"),
                "admin1": None,
                "lat": float(item["lat"]),
                "lon": float(item["lon"]),
                "timezone": None,
                "population": None,
                "geonameid": None,
            }
            continue
        query = f"{item['city']}, {item['country']}" if item.get("country") else item["city"]
        try:
            result = geocoder.geocode(query)
        except RetryableProviderError:
            raise
        except ProviderError as exc:
            fail(item, f"geocoder failed: {exc}")
            continue
        if result.place is None:
            fail(item, result.reason or f"not found: {query!r}")
            continue
        item["place"] = result.place.to_dict()
        if result.alternatives:
            item["alternatives"] = [p.to_dict() for p in result.alternatives[:MAX_ALTERNATIVES]]
    return batch


def weather_batch(batch: Batch, source: _WeatherSource) -> Batch:
    date = dt.date.fromisoformat(batch.settings.date)
    for item in batch.pending():
        place = item.get("place") or {}
        if place.get("lat") is None or place.get("lon") is None:
            fail(item, "no coordinates: the geocode step did not run for this city")
            continue
        try:
            result = source.observe(float(place["lat"]), float(place["lon"]), date)
        except RetryableProviderError:
            raise
        except ProviderError as exc:
            fail(item, f"weather source failed: {exc}")
            continue
        if result.observation is None:
            fail(item, result.reason or f"no observations near here on {date.isoformat()}")
            continue
        item["observation"] = result.observation.to_dict()
        # the day before (the model's 24 h changes); None when the source has no such day
        item["previous_observation"] = result.previous.to_dict() if result.previous else None
    return batch


def predict_batch(batch: Batch, model: _Model) -> Batch:
    ready = []
    for item in batch.pending():
        if not item.get("observation"):
            fail(item, "no observations: the weather step did not run for this city")
        else:
            ready.append(item)
    if not ready:
        return batch
    observations = [Observation.from_dict(item["observation"]) for item in ready]
    latitudes = [float(item["place"]["lat"]) for item in ready]
    previous = [
        Observation.from_dict(item["previous_observation"])
        if item.get("previous_observation")
        else None
        for item in ready
    ]
    probabilities = model.predict_observations(observations, latitudes=latitudes, previous=previous)
    metadata = getattr(model, "metadata", {}) or {}
    threshold = float(metadata.get("threshold", 0.5))
    version = metadata.get("version") or metadata.get("model_version")
    for item, probability in zip(ready, probabilities, strict=True):
        p = float(probability)
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            fail(item, f"model failed: probability {p!r} is not in [0, 1]")
            continue
        item["p_rain_tomorrow"] = round(p, 4)
        item["rain_tomorrow"] = "yes" if p >= threshold else "no"
        item["model"] = {"version": version, "threshold": threshold}
    return batch


def record_failed_batch(batch: Batch) -> Batch:
    """A step crashed for the whole batch (after its retries): mark every item that has not
    already failed with why, so Store still writes a result for each city."""
    reason = "batch failed: " + describe_failure(batch.failure or {})
    for item in batch.pending():
        fail(item, reason)
    return batch


def describe_failure(failure: dict[str, Any]) -> str:
    """Turns a Catch's ``{"Error": ..., "Cause": ...}`` into one readable line. A Lambda
    error's Cause is a JSON document; its ``errorMessage`` is the useful part."""
    error = str(failure.get("Error") or "unknown error")
    cause = failure.get("Cause")
    message = None
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            message = cause
        else:
            message = parsed.get("errorMessage") if isinstance(parsed, dict) else cause
    text = f"{error}: {message}" if message else error
    return text[:500]


def store_batch(batch: Batch, s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Writes one JSON document per city and returns the batch's result rows (each with the
    ``key`` it was written to). Error items are written too: every city gets a result."""
    settings = batch.settings
    forecast_for = (dt.date.fromisoformat(settings.date) + dt.timedelta(days=1)).isoformat()
    rows = []
    for item in batch.items:
        key = city_key(settings.run_id, int(item["index"]), str(item.get("city") or ""))
        record = {
            "run_id": settings.run_id,
            "batch_id": batch.batch_id,
            "date": settings.date,
            "forecast_for": forecast_for,
            "providers": {"geocoder": settings.geocoder, "weather": settings.weather},
            **item,
        }
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"),
            ContentType="application/json",
        )
        rows.append({**result_row(item, settings.date), "key": key})
    return rows
