"""The four per-batch steps: geocode, weather, predict, store (and recording a crashed batch).

Every step works on ``Batch.pending()`` items only and never raises for one city's
problem: that city gets ``status: "error"`` and a ``reason`` and flows on. Each provider
request is retried where it fails (by the provider base, within the step's ``deadline``,
the Lambda's remaining time); a city whose request still fails gets the provider's error
as its reason and the rest of the batch is forecast. The batch itself fails only when the
provider looks down: a ``RetryableProviderError`` escapes (and the state machine retries
the whole batch later) when no lookup of the batch got an answer, or when the first
``CIRCUIT_OPEN_AFTER`` lookups all failed (the circuit opens: the remaining lookups are not
tried). Genuine bugs escape too (the state machine's Catch records the batch).

Lookups of web providers run ``parallel_requests`` at a time (threads: the time is spent
waiting on the network), so one city's backoff or ``Retry-After`` does not hold up the rest.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from raincast.errors import ProviderError, ProviderRateLimited, RetryableProviderError
from raincast.pipeline.records import (
    DEFAULT_RESULT_LAYOUT,
    RESULT_LAYOUTS,
    Batch,
    batch_document,
    batch_key,
    city_document,
    city_key,
    fail,
    result_row,
)
from raincast.weather.base import Observation, WeatherSource

if TYPE_CHECKING:  # numpy: not for the steps that never predict
    from raincast.model.recalibration import HistoryRecalibration, Recalibration

log = logging.getLogger(__name__)

MAX_ALTERNATIVES = 3
# Consecutive failed lookups, with no answer yet, after which a batch stops asking.
CIRCUIT_OPEN_AFTER = 8
# A provider that is down fails the step (for the state machine's retry, which waits up to
# a minute) only while at least this much of the batch's lookup budget is left: later, the
# retry could not help before the child workflow's 5 minutes run out, so the batch's cities
# get the error as their reason and the batch goes on to Store.
RETRY_LATER_SECONDS = 60.0

T = TypeVar("T")


class _Geocoder(Protocol):
    def geocode(self, query: str, *, deadline: float | None = None) -> Any: ...


class _WeatherSource(Protocol):
    def observe(
        self, lat: float, lon: float, date: dt.date, *, deadline: float | None = None
    ) -> Any: ...


class _Lookups:
    """Runs one batch's lookups (``parallel`` at a time) and decides whether the provider
    is down: see the module docstring."""

    def __init__(
        self,
        what: str,
        parallel: int,
        budget_end: float | None = None,
        on_failure: Callable[[dict[str, Any], str], Any] = fail,
        can_fail_batch: bool = True,
    ) -> None:
        self.what = what
        self.parallel = max(1, parallel)
        self.budget_end = budget_end  # time.monotonic() the batch's lookups end by, if known
        # what a failed lookup does to its item (default: the city fails with the reason),
        # and whether a provider that looks down fails the step (for the state machine's
        # retry) or only its items
        self.on_failure = on_failure
        self.can_fail_batch = can_fail_batch
        self.answered = 0
        self.failed_in_a_row = 0
        self.last_error: RetryableProviderError | None = None
        self._lock = threading.Lock()

    def run(
        self,
        jobs: list[tuple[dict[str, Any], Callable[[], T]]],
        use: Callable[[dict[str, Any], T], None],
    ) -> None:
        """Calls each job's lookup and ``use(item, result)``, or fails the item with why."""

        def one(job: tuple[dict[str, Any], Callable[[], T]]) -> None:
            item, lookup = job
            with self._lock:
                if self.circuit_open:
                    self.on_failure(item, f"{self.what} failed: not tried, the provider looks down")
                    return
            try:
                result = lookup()
            except RetryableProviderError as exc:
                with self._lock:
                    self.failed_in_a_row += 1
                    self.last_error = exc
                self.on_failure(item, f"{self.what} failed: {exc}")
                return
            except ProviderError as exc:
                with self._lock:
                    self.answered += 1  # the provider answered, just not usefully
                    self.failed_in_a_row = 0
                self.on_failure(item, f"{self.what} failed: {exc}")
                return
            except (
                TypeError,
                ValueError,
            ) as exc:  # this city's input (e.g. lat 95), not the provider
                self.on_failure(item, f"{self.what} failed: {exc}")
                return
            with self._lock:
                self.answered += 1
                self.failed_in_a_row = 0
            use(item, result)

        if self.parallel == 1 or len(jobs) <= 1:
            for job in jobs:
                one(job)
        else:
            with ThreadPoolExecutor(max_workers=min(self.parallel, len(jobs))) as pool:
                list(pool.map(one, jobs))
        if (
            self.can_fail_batch
            and self.last_error is not None
            and self.answered == 0
            and self._retry_can_help()
        ):
            raise self.last_error

    def _retry_can_help(self) -> bool:
        return self.budget_end is None or time.monotonic() + RETRY_LATER_SECONDS < self.budget_end

    @property
    def circuit_open(self) -> bool:
        return self.answered == 0 and self.failed_in_a_row >= CIRCUIT_OPEN_AFTER


class _Model(Protocol):
    @property
    def metadata(self) -> dict[str, Any]: ...

    def predict_observations(
        self,
        observations: list[Observation],
        latitudes: Any = None,
        previous: list[Observation | None] | None = None,
    ) -> Any: ...


def geocode_batch(batch: Batch, geocoder: _Geocoder, deadline: float | None = None) -> Batch:
    deadline = batch.lookup_deadline(deadline)
    jobs: list[tuple[dict[str, Any], Callable[[], Any]]] = []
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
        jobs.append((item, functools.partial(geocoder.geocode, query, deadline=deadline)))

    def use(item: dict[str, Any], result: Any) -> None:
        if result.place is None:
            fail(item, result.reason or f"not found: {result.query!r}")
            return
        item["place"] = result.place.to_dict()
        if result.alternatives:
            item["alternatives"] = [p.to_dict() for p in result.alternatives[:MAX_ALTERNATIVES]]

    lookups = _Lookups(
        "geocoder", getattr(geocoder, "parallel_requests", 1), batch.lookup_deadline()
    )
    lookups.run(jobs, use)
    return batch


def weather_batch(batch: Batch, source: _WeatherSource, deadline: float | None = None) -> Batch:
    date = dt.date.fromisoformat(batch.settings.date)
    deadline = batch.lookup_deadline(deadline)
    jobs: list[tuple[dict[str, Any], Callable[[], Any]]] = []
    for item in batch.pending():
        place = item.get("place") or {}
        if place.get("lat") is None or place.get("lon") is None:
            fail(item, "no coordinates: the geocode step did not run for this city")
            continue
        lat, lon = float(place["lat"]), float(place["lon"])
        jobs.append((item, functools.partial(source.observe, lat, lon, date, deadline=deadline)))

    def use(item: dict[str, Any], result: Any) -> None:
        if result.observation is None:
            fail(item, result.reason or f"no observations near here on {date.isoformat()}")
            return
        item["observation"] = result.observation.to_dict()
        # the day before (the model's 24 h changes); None when the source has no such day
        item["previous_observation"] = result.previous.to_dict() if result.previous else None

    parallel = getattr(source, "parallel_requests", 1)
    _Lookups("weather source", parallel, batch.lookup_deadline()).run(jobs, use)
    return batch


def predict_batch(
    batch: Batch,
    model: _Model,
    recalibration: HistoryRecalibration | None = None,
    source: WeatherSource | None = None,
    deadline: float | None = None,
) -> Batch:
    """The model's probability for each city that has its observations. With a
    ``recalibration`` and a ``source`` that keeps history (``history_recalibration``), each
    place's forecast is then shifted by its history offsets (``raincast.model.recalibration``;
    one history request per distinct place, ``parallel_requests`` at a time, within the
    deadline); a place whose history cannot be had keeps the model's probability, and its
    record says why (``calibration``). That never fails a city or the batch."""
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
    recalibrations: list[Recalibration | None] = [None] * len(ready)
    if (
        recalibration is not None
        and source is not None
        and source.history_recalibration
        and batch.settings.recalibrate != "none"  # "auto" only if Prepare did not resolve it
    ):
        recalibrations = _place_recalibrations(batch, ready, recalibration, source, deadline)
    metadata = getattr(model, "metadata", {}) or {}
    threshold = float(metadata.get("threshold", 0.5))
    version = metadata.get("version") or metadata.get("model_version")
    for item, observation, probability, found in zip(
        ready, observations, probabilities, recalibrations, strict=True
    ):
        p = float(probability)
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            fail(item, f"model failed: probability {p!r} is not in [0, 1]")
            continue
        if found is not None:
            month = observation.date.month
            if found.offsets is None:
                item["calibration"] = {"method": "none", "reason": found.reason}
            else:
                item["calibration"] = {**found.offsets.summary(month), "p_model": round(p, 4)}
                p = float(found.offsets.apply(p, month))
        item["p_rain_tomorrow"] = round(p, 4)
        item["rain_tomorrow"] = "yes" if p >= threshold else "no"
        item["model"] = {"version": version, "threshold": threshold}
    return batch


def _place_recalibrations(
    batch: Batch,
    ready: list[dict[str, Any]],
    recalibration: HistoryRecalibration,
    source: WeatherSource,
    deadline: float | None,
) -> list[Recalibration | None]:
    """Each ready item's place recalibration: one lookup per distinct point."""
    from raincast.model.recalibration import Recalibration

    date = dt.date.fromisoformat(batch.settings.date)
    deadline = batch.lookup_deadline(deadline)
    places: dict[tuple[float, float], dict[str, Any]] = {}
    for item in ready:
        point = (float(item["place"]["lat"]), float(item["place"]["lon"]))
        places.setdefault(point, {"found": None})
    # The first 429 ends the batch's history requests: the provider's quota is shared with
    # the forecasts' own requests (the rest of this run's batches, later runs).
    rate_limited = threading.Event()

    def history(lat: float, lon: float) -> Recalibration:
        if rate_limited.is_set():
            raise ProviderError(source.name, "not asked: the provider is rate-limiting (HTTP 429)")
        try:
            return recalibration.for_place(source, lat, lon, date, deadline=deadline)
        except ProviderRateLimited:
            rate_limited.set()
            raise

    jobs: list[tuple[dict[str, Any], Callable[[], Any]]] = [
        (place, functools.partial(history, lat, lon)) for (lat, lon), place in places.items()
    ]

    def use(place: dict[str, Any], found: Recalibration) -> None:
        place["found"] = found

    def missed(place: dict[str, Any], reason: str) -> None:
        place["found"] = Recalibration(None, reason)

    lookups = _Lookups(
        "history",
        getattr(source, "parallel_requests", 1),
        batch.lookup_deadline(),
        on_failure=missed,
        can_fail_batch=False,
    )
    lookups.run(jobs, use)
    return [
        places[(float(item["place"]["lat"]), float(item["place"]["lon"]))]["found"]
        for item in ready
    ]


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


def store_batch(
    batch: Batch, s3: Any, bucket: str, layout: str = DEFAULT_RESULT_LAYOUT
) -> list[dict[str, Any]]:
    """Writes the batch's city documents, one JSON Lines object for the batch (``layout``
    "batch") or one JSON object per city ("city"), and returns the batch's result rows
    (each with the ``key`` its document is in). Error items are written too: every city
    gets a result."""
    if layout not in RESULT_LAYOUTS:
        raise ValueError(
            f"unknown result layout {layout!r}: use one of {', '.join(RESULT_LAYOUTS)}"
        )
    settings = batch.settings
    forecast_for = (dt.date.fromisoformat(settings.date) + dt.timedelta(days=1)).isoformat()
    rows = []
    records = []
    shared_key = batch_key(settings.run_id, batch.batch_id)
    for item in batch.items:
        key = (
            shared_key
            if layout == "batch"
            else city_key(settings.run_id, int(item["index"]), str(item.get("city") or ""))
        )
        record = {
            "run_id": settings.run_id,
            "batch_id": batch.batch_id,
            "date": settings.date,
            "forecast_for": forecast_for,
            "providers": {"geocoder": settings.geocoder, "weather": settings.weather},
            **item,
        }
        if layout == "city":
            s3.put_object(
                Bucket=bucket, Key=key, Body=city_document(record), ContentType="application/json"
            )
        records.append(record)
        rows.append({**result_row(item, settings.date), "key": key})
    if layout == "batch":
        s3.put_object(
            Bucket=bucket,
            Key=shared_key,
            Body=batch_document(records),
            ContentType="application/x-ndjson",
        )
    return rows
