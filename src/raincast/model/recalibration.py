"""History recalibration: the model's forecasts at a place set against how often it rained
there, from the place's own recent past.

Outside Australia the model ranks well but its mean forecast is off (Seattle: 3-4 points
low). ``benchmarks/climatology_screen.py`` screened corrections that know a place's climate,
on Australian climate regions held out of the fit, and this one transferred (held-out
Brier skill +0.025, mean absolute gap 2.9 -> 1.2 points; +0.002 where the model was fitted):
run the model over the place's past days, and shift its forecasts by

    offset[m] = w * (logit(rain rate in month m) - logit(mean forecast in month m))
                + (1 - w) * (logit(rain rate) - logit(mean forecast)),   w = n_m / (n_m + 30)

in logit space, for the calendar month ``m`` of the day forecast (``n_m``: the labelled
past days in that month; a month with none gets the place's overall offset; rain rates
counted with half a rain day in one extra day, see ``_rate``). No station identity enters
the model: the correction is applied after it, from data any place has.

The past: the ``HISTORY_DAYS`` days ending ``HISTORY_LAG_DAYS`` before the forecast date
(archive APIs lag a few days), each day labelled by whether the next day had more than
1 mm of rain, with the day before as its ``previous`` (the history is asked from the day
before the period), exactly as the Predict step builds a forecast's features. Fewer than
``MIN_LABELLED_DAYS`` labelled days: no recalibration.

``HistoryRecalibration`` asks a weather source for that history (``WeatherSource.history``,
retried there, but not after a 429: the provider's quota is shared with the forecasts' own
requests, which matter more) and caches the offsets per place and period, not the
observations. With an ``OffsetStore`` (``S3OffsetStore``: the results bucket's
``cache/recalibration/``) the offsets outlive the environment: they are kept per source,
model artifact, point and the calendar month the history period ends in, so a daily run
asks the archive once a month per place; within that month a forecast may use offsets
whose history ends up to a month before its own would. ``recalibrate_series``, the
benchmarks' replay, uses each day's own period, and with ``age_days=30`` the cache's worst
case (``benchmarks/model_bench.py`` prints both).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from raincast.weather.base import Observation, WeatherSource

logger = logging.getLogger(__name__)

HISTORY_DAYS = 365
HISTORY_LAG_DAYS = 7
MIN_LABELLED_DAYS = 180
SHRINK_DAYS = 30.0
RAIN_MM = 1.0  # the Bureau's rain day: more than 1 mm
# Rates and forecasts are clipped to [EPS, 1 - EPS] before the logit, so a place where it
# never rained in a month gets a large but finite offset (the shrinkage then bounds it).
_EPS = 1e-4


class _Model(Protocol):
    def predict_observations(
        self,
        observations: Sequence[Observation],
        latitudes: Any = None,
        previous: Sequence[Observation | None] | None = None,
    ) -> np.ndarray: ...


def logit(p: Any) -> Any:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _rate(rained: np.ndarray) -> float:
    """How often it rained, with half a rain day added to one day's worth of days: a month
    of a single dry year (Darwin's July) is "rarely", not "never" (its raw logit offset
    would be about -7, pushing every forecast to nothing)."""
    return float((rained.sum() + 0.5) / (len(rained) + 1.0))


def history_period(date: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the history used for a forecast made on ``date``."""
    end = date - dt.timedelta(days=HISTORY_LAG_DAYS)
    return end - dt.timedelta(days=HISTORY_DAYS - 1), end


@dataclass(frozen=True)
class HistoryOffsets:
    """A place's logit offsets: ``by_month[m - 1]`` for calendar month ``m``."""

    overall: float
    by_month: tuple[float, ...]
    days: int  # labelled past days
    rain_rate: float  # of those days' next days
    mean_forecast: float  # the model's, over those days

    @classmethod
    def fit(cls, forecasts: Any, rained: Any, months: Any) -> HistoryOffsets:
        """Offsets from the model's ``forecasts`` of past days, whether it ``rained`` the
        day after each, and each day's calendar month (1-12)."""
        p = np.asarray(forecasts, dtype=np.float64)
        y = np.asarray(rained, dtype=np.float64)
        month = np.asarray(months, dtype=np.int64)
        if not (len(p) == len(y) == len(month)) or len(p) == 0:
            raise ValueError("forecasts, outcomes and months must be non-empty and equal length")
        overall = float(logit(_rate(y)) - logit(p.mean()))
        by_month = []
        for m in range(1, 13):
            mine = month == m
            n = float(mine.sum())
            if n == 0:
                by_month.append(overall)
                continue
            own = float(logit(_rate(y[mine])) - logit(p[mine].mean()))
            w = n / (n + SHRINK_DAYS)
            by_month.append(w * own + (1.0 - w) * overall)
        return cls(overall, tuple(by_month), len(p), float(y.mean()), float(p.mean()))

    def offset(self, month: int) -> float:
        return self.by_month[month - 1]

    def apply_offsets(self, months: Any) -> np.ndarray:
        """The offset of each calendar month in ``months``."""
        shift: np.ndarray = np.asarray(self.by_month)[np.asarray(months, dtype=np.int64) - 1]
        return shift

    def apply(self, forecasts: Any, months: Any) -> np.ndarray:
        """The recalibrated forecasts: ``sigmoid(logit(p) + offset[month])``."""
        result: np.ndarray = sigmoid(logit(forecasts) + self.apply_offsets(months))
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "by_month": list(self.by_month),
            "days": self.days,
            "rain_rate": self.rain_rate,
            "mean_forecast": self.mean_forecast,
        }

    @classmethod
    def from_dict(cls, data: Any) -> HistoryOffsets:
        """``ValueError`` unless ``data`` is what ``to_dict`` wrote."""
        try:
            by_month = tuple(float(v) for v in data["by_month"])
            found = cls(
                float(data["overall"]),
                by_month,
                int(data["days"]),
                float(data["rain_rate"]),
                float(data["mean_forecast"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not history offsets: {exc!r}") from None
        values = (found.overall, *by_month, found.rain_rate, found.mean_forecast)
        if len(by_month) != 12 or not all(np.isfinite(values)) or found.days < 1:
            raise ValueError("not history offsets: 12 finite monthly offsets needed")
        return found

    def summary(self, month: int) -> dict[str, Any]:
        """What a forecast record says about its recalibration."""
        return {
            "method": "history",
            "offset": round(self.offset(month), 4),
            "history_days": self.days,
            "history_rain_rate": round(self.rain_rate, 4),
            "history_mean_forecast": round(self.mean_forecast, 4),
        }


def labelled_days(
    observations: Sequence[Observation], first: dt.date | None = None
) -> tuple[list[Observation], list[Observation | None], np.ndarray]:
    """The days of a history (from ``first`` on, if given: an earlier day only serves as
    the day before) whose next day's rainfall is known, the day before each (None where
    absent), and whether the next day rained (more than ``RAIN_MM``)."""
    by_date = {o.date: o for o in observations}
    days: list[Observation] = []
    before: list[Observation | None] = []
    rained: list[bool] = []
    one_day = dt.timedelta(days=1)
    for o in observations:
        if first is not None and o.date < first:
            continue
        following = by_date.get(o.date + one_day)
        if following is None or following.rainfall is None:
            continue
        days.append(o)
        before.append(by_date.get(o.date - one_day))
        rained.append(following.rainfall > RAIN_MM)
    return days, before, np.array(rained, dtype=bool)


def history_offsets(
    model: _Model,
    history: Sequence[Observation],
    latitude: float | None,
    first: dt.date | None = None,
) -> HistoryOffsets | str:
    """The place's offsets from its past days (from ``first`` on), or why there are none."""
    days, before, rained = labelled_days(history, first)
    if len(days) < MIN_LABELLED_DAYS:
        return (
            f"{len(days)} past days with a known next day, {MIN_LABELLED_DAYS} needed "
            "to recalibrate"
        )
    forecasts = model.predict_observations(days, latitudes=latitude, previous=before)
    months = [o.date.month for o in days]
    return HistoryOffsets.fit(forecasts, rained, months)


@dataclass(frozen=True)
class Recalibration:
    """A place's offsets for one forecast date, or the reason it has none."""

    offsets: HistoryOffsets | None
    reason: str | None = None


class OffsetStore(Protocol):
    """Where offsets outlive an environment: ``get`` gives None for anything it cannot give
    (missing, unreadable); neither call raises."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


class S3OffsetStore:
    """An ``OffsetStore`` of JSON objects under ``prefix`` in an S3 bucket. ``make_client``
    makes the boto3 S3 client on first use (not at the handler's import). A failed read is
    a miss and a failed write is skipped, both logged: the forecast never fails on the
    cache."""

    def __init__(
        self, make_client: Callable[[], Any], bucket: str, prefix: str = "cache/recalibration/"
    ) -> None:
        self._make_client = make_client
        self._client: Any = None
        self.bucket = bucket
        self.prefix = prefix

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
            value = json.loads(body.read())
        except Exception as exc:  # missing (AccessDenied without s3:ListBucket), bad JSON
            if "NoSuchKey" not in str(exc) and "AccessDenied" not in str(exc):
                logger.warning("recalibration cache not read: %s: %s", key, exc)
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=json.dumps(value).encode(),
                ContentType="application/json",
            )
        except Exception as exc:
            logger.warning("recalibration cache not written: %s: %s", key, exc)


class HistoryRecalibration:
    """Per-place history offsets for one model, from a weather source's history; cached
    (least recently used first out) per source, point and period, in ``store`` too when
    given (see the module docstring), and safe to share between threads."""

    def __init__(
        self, model: _Model, cache_size: int = 2048, store: OffsetStore | None = None
    ) -> None:
        self.model = model
        self.store = store
        self._cache: collections.OrderedDict[tuple[Any, ...], Recalibration] = (
            collections.OrderedDict()
        )
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def for_place(
        self,
        source: WeatherSource,
        lat: float,
        lon: float,
        date: dt.date,
        *,
        deadline: float | None = None,
    ) -> Recalibration:
        """Raises the source's ProviderError when its history request fails (after the
        retries); a history too short is a ``Recalibration`` without offsets."""
        start, end = history_period(date)
        key = (source.name, round(float(lat), 4), round(float(lon), 4), start, end)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        stored = self._stored(source, lat, lon, end)
        if stored is not None:
            return self._remember(key, Recalibration(stored))
        # from the day before the period: its first day's features need their day before;
        # a 429 is not waited out: the quota is the forecasts' too
        retry = dataclasses.replace(source.retry, retry_rate_limited=False)
        history = source.history(
            lat, lon, start - dt.timedelta(days=1), end, deadline=deadline, retry=retry
        )
        if not history.found:
            found = Recalibration(None, history.reason or "no history here")
        else:
            offsets = history_offsets(self.model, history.observations, float(lat), start)
            found = (
                Recalibration(None, offsets) if isinstance(offsets, str) else Recalibration(offsets)
            )
            if found.offsets is not None and self.store is not None:
                value = {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "offsets": found.offsets.to_dict(),
                }
                self.store.put(self._store_key(source, lat, lon, end), value)
        return self._remember(key, found)

    def _remember(self, key: tuple[Any, ...], found: Recalibration) -> Recalibration:
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    def _store_key(self, source: WeatherSource, lat: float, lon: float, end: dt.date) -> str:
        metadata = getattr(self.model, "metadata", None) or {}
        model = str(metadata.get("artifact_id") or "model")
        point = f"{float(lat):.4f}_{float(lon):.4f}"
        return f"{source.name}/{model}/{end.strftime('%Y-%m')}/{point}.json"

    def _stored(
        self, source: WeatherSource, lat: float, lon: float, end: dt.date
    ) -> HistoryOffsets | None:
        if self.store is None:
            return None
        value = self.store.get(self._store_key(source, lat, lon, end))
        if value is None:
            return None
        try:
            return HistoryOffsets.from_dict(value.get("offsets"))
        except ValueError as exc:
            logger.warning("recalibration cache entry ignored: %s", exc)
            return None


def recalibrate_series(
    forecasts: Any, rained: Any, dates: Any, places: Any, age_days: int = 0
) -> np.ndarray:
    """The Predict step's recalibration replayed over labelled days (evaluation: the model
    card's and ``benchmarks/model_bench.py``'s scores outside Australia): each day's
    forecast shifted by the offsets of its place's ``history_period``, from the model's
    ``forecasts`` of those days and whether it ``rained`` the next day, as the Predict step
    would have had them. NaN where the place has fewer than ``MIN_LABELLED_DAYS`` such days.

    As in the Predict step, a history day counts only if its next day is in the history
    too (the last day of the period does not). ``age_days``: offsets as if computed that
    many days earlier (what a cached entry can be: up to a month)."""
    p = np.asarray(forecasts, dtype=np.float64)
    y = np.asarray(rained, dtype=np.float64)
    day = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    place = np.asarray(places)
    month = (np.asarray(dates, dtype="datetime64[M]").astype(np.int64) % 12) + 1
    out = np.full(len(p), np.nan)
    epoch = dt.date(1970, 1, 1)
    for here in np.unique(place):
        rows = np.flatnonzero(place == here)
        rows = rows[np.argsort(day[rows], kind="stable")]
        days = day[rows]
        for i in rows:
            start, end = history_period(epoch + dt.timedelta(days=int(day[i]) - age_days))
            lo, hi = np.searchsorted(days, [(start - epoch).days, (end - epoch).days])
            past = rows[lo:hi]  # start .. end - 1: each one's next day is in the period
            if len(past) < MIN_LABELLED_DAYS:
                continue
            offsets = HistoryOffsets.fit(p[past], y[past], month[past])
            out[i] = offsets.apply(p[i], month[i])
    return out
