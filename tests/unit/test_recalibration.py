"""History recalibration (raincast.model.recalibration) and the Predict step's use of it:
offsets from a place's past, applied after the model; a place without history keeps the
model's probability and says why; nothing fails a city or the batch."""

from __future__ import annotations

import datetime as dt
import math
import threading

import numpy as np
import pytest

from raincast.errors import ProviderRateLimited, ProviderUnavailable
from raincast.model.artifact import RainModel
from raincast.model.recalibration import (
    HISTORY_DAYS,
    HISTORY_LAG_DAYS,
    MIN_LABELLED_DAYS,
    SHRINK_DAYS,
    HistoryOffsets,
    HistoryRecalibration,
    history_offsets,
    history_period,
    labelled_days,
    logit,
    recalibrate_series,
    sigmoid,
)
from raincast.pipeline.records import Batch
from raincast.pipeline.steps import predict_batch, weather_batch
from raincast.weather.base import HistoryResult, Observation
from raincast.weather.replay import ReplayWeather

SYDNEY = (-33.8688, 151.2093)
SCILLY = (49.91, -6.32)  # no weatherAUS station within reach


class HistoryReplay(ReplayWeather):
    """The offline replay with recalibration on (as an online source has it), counting
    its history requests."""

    history_recalibration = True

    def __init__(self) -> None:
        super().__init__()
        self.history_requests: list[tuple[float, float, dt.date, dt.date]] = []
        self._count_lock = threading.Lock()

    def _history(self, lat, lon, start, end):
        with self._count_lock:
            self.history_requests.append((lat, lon, start, end))
        return super()._history(lat, lon, start, end)


class DownHistory(HistoryReplay):
    def _history(self, lat, lon, start, end):
        raise ProviderUnavailable("archive", "HTTP 503")


@pytest.fixture(scope="module")
def model() -> RainModel:
    return RainModel.load()


def test_offsets_make_the_mean_forecast_the_past_rain_rate() -> None:
    rng = np.random.default_rng(0)
    months = np.repeat(np.arange(1, 13), 60)
    forecasts = np.full(len(months), 0.2)
    rained = rng.random(len(months)) < 0.35
    offsets = HistoryOffsets.fit(forecasts, rained, months)
    rate = (rained.sum() + 0.5) / (len(rained) + 1)
    assert offsets.overall == pytest.approx(logit(rate) - logit(0.2))
    assert offsets.days == len(months) and offsets.mean_forecast == pytest.approx(0.2)
    corrected = offsets.apply(forecasts, months)
    assert corrected.mean() == pytest.approx(rained.mean(), abs=0.01)
    assert not np.allclose(corrected, forecasts)


def test_a_month_is_shrunk_towards_the_place_and_a_month_without_days_gets_the_place() -> None:
    months = np.array([1] * 60 + [7] * 60)
    rained = np.array([True] * 30 + [False] * 30 + [False] * 60)
    offsets = HistoryOffsets.fit(np.full(120, 0.25), rained, months)
    january = logit(30.5 / 61) - logit(0.25)
    w = 60 / (60 + SHRINK_DAYS)
    assert offsets.offset(1) == pytest.approx(w * january + (1 - w) * offsets.overall)
    assert offsets.offset(4) == offsets.overall  # no April in the history
    assert offsets.offset(7) < offsets.overall < offsets.offset(1)
    # a month that never rained is pushed down, but not to nothing
    assert 0.005 < float(offsets.apply(0.25, 7)) < 0.25


def test_bad_inputs_to_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        HistoryOffsets.fit([0.2, 0.3], [True], [1, 1])
    with pytest.raises(ValueError, match="non-empty"):
        HistoryOffsets.fit([], [], [])


def test_history_period_ends_before_the_forecast_date() -> None:
    start, end = history_period(dt.date(2026, 11, 20))
    assert end == dt.date(2026, 11, 20) - dt.timedelta(days=HISTORY_LAG_DAYS)
    assert (end - start).days == HISTORY_DAYS - 1


def test_each_day_is_labelled_by_the_next_days_rain_and_gaps_are_skipped() -> None:
    d = dt.date(2020, 3, 1)

    def day(offset: int, rainfall: float | None) -> Observation:
        return Observation(date=d + dt.timedelta(days=offset), rainfall=rainfall, max_temp=20.0)

    history = [day(0, 0.0), day(1, 5.0), day(2, 1.0), day(4, 3.0), day(5, None), day(6, 2.0)]
    days, before, rained = labelled_days(history)
    # day 2's next day (3) is missing, day 4's next day has no rainfall, day 6 is the last
    assert [o.date for o in days] == [d, d + dt.timedelta(days=1), d + dt.timedelta(days=5)]
    assert rained.tolist() == [True, False, True]  # 5.0 > 1 mm; 1.0 is not a rain day
    assert before[0] is None and before[1] == history[0] and before[2] == history[3]


def test_too_short_a_history_is_a_reason_not_offsets(model) -> None:
    d = dt.date(2020, 1, 1)
    history = [Observation(date=d + dt.timedelta(days=i), rainfall=float(i % 3)) for i in range(50)]
    found = history_offsets(model, history, -30.0)
    assert isinstance(found, str) and f"{MIN_LABELLED_DAYS} needed" in found


def test_offsets_from_real_history_with_the_shipped_model(model) -> None:
    source = HistoryReplay()
    recalibration = HistoryRecalibration(model)
    found = recalibration.for_place(source, *SYDNEY, source.latest_date)
    assert found.offsets is not None and found.reason is None
    offsets = found.offsets
    assert offsets.days >= MIN_LABELLED_DAYS
    # the model was fitted on this station: the offsets are small
    assert abs(offsets.overall) < 0.5 and all(abs(o) < 1.0 for o in offsets.by_month)
    again = recalibration.for_place(source, *SYDNEY, source.latest_date)
    assert again is found and len(source.history_requests) == 1  # cached
    far = recalibration.for_place(source, *SCILLY, source.latest_date)
    assert far.offsets is None and "no history near here" in (far.reason or "")


def test_replay_history_is_the_stations_days_of_the_period() -> None:
    source = ReplayWeather()
    end = source.latest_date
    start = end - dt.timedelta(days=29)
    history = source.history(*SYDNEY, start, end)
    assert isinstance(history, HistoryResult) and history.found
    dates = [o.date for o in history.observations]
    assert dates == sorted(dates) and start <= dates[0] and dates[-1] <= end
    assert len(dates) >= 25
    day = history.observations[-1]
    assert source.observe(*SYDNEY, day.date).observation == day  # mapped as observe maps it
    with pytest.raises(ValueError, match="before it starts"):
        source.history(*SYDNEY, end, start)
    with pytest.raises(TypeError):
        source.history(*SYDNEY, "2017-01-01", end)  # type: ignore[arg-type]
    old = source.history(*SYDNEY, dt.date(1990, 1, 1), dt.date(1990, 12, 31))
    assert not old.found and "no observations from 1990-01-01" in (old.reason or "")


def batch_at(date: dt.date, places: list[tuple[str, float, float]]) -> Batch:
    items = [
        {"index": i, "line": i + 2, "city": city, "country": "AU", "lat": lat, "lon": lon,
         "status": "ok", "reason": None}
        for i, (city, lat, lon) in enumerate(places)
    ]  # fmt: skip
    return Batch.from_event(
        {"Items": items, "BatchInput": {"run_id": "r1", "date": date.isoformat(),
                                        "geocoder": "open-meteo", "weather": "open-meteo"}}
    )  # fmt: skip


def observed(source: ReplayWeather, places: list[tuple[str, float, float]]) -> Batch:
    batch = batch_at(source.latest_date, places)
    for item in batch.items:
        item["place"] = {"name": item["city"], "lat": item["lat"], "lon": item["lon"]}
    return weather_batch(batch, source)


def test_predict_recalibrates_each_place_once_and_keeps_the_models_probability(model) -> None:
    source = HistoryReplay()
    places = [("Sydney", *SYDNEY), ("Sydney again", *SYDNEY), ("Perth", -31.95, 115.86)]
    plain = predict_batch(observed(source, places), model)
    batch = predict_batch(observed(source, places), model, HistoryRecalibration(model), source)
    assert len(source.history_requests) == 2  # one per distinct place
    expected = HistoryRecalibration(model).for_place(source, *SYDNEY, source.latest_date)
    month = source.latest_date.month
    for item, before in zip(batch.items, plain.items, strict=True):
        assert item["status"] == "ok"
        calibration = item["calibration"]
        assert calibration["method"] == "history" and calibration["history_days"] >= 180
        assert calibration["p_model"] == before["p_rain_tomorrow"]
        assert "calibration" not in before
        shifted = sigmoid(logit(calibration["p_model"]) + calibration["offset"])
        assert item["p_rain_tomorrow"] == pytest.approx(float(shifted), abs=1e-3)
        assert item["rain_tomorrow"] == ("yes" if item["p_rain_tomorrow"] >= 0.5 else "no")
    sydney = batch.items[0]["calibration"]
    assert expected.offsets is not None
    assert sydney["offset"] == round(expected.offsets.offset(month), 4)
    assert sydney["offset"] != 0.0


def test_a_source_without_recalibration_is_not_asked(model) -> None:
    source = HistoryReplay()
    source.history_recalibration = False
    batch = predict_batch(
        observed(source, [("Sydney", *SYDNEY)]), model, HistoryRecalibration(model), source
    )
    assert source.history_requests == [] and "calibration" not in batch.items[0]


def test_history_that_fails_keeps_the_forecast_and_says_why(model) -> None:
    from raincast.retry import RetryPolicy

    source = DownHistory()
    source.retry = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)
    places = [("Sydney", *SYDNEY), ("Perth", -31.95, 115.86)]
    plain = predict_batch(observed(source, places), model)
    batch = predict_batch(observed(source, places), model, HistoryRecalibration(model), source)
    for item, before in zip(batch.items, plain.items, strict=True):
        assert item["status"] == "ok"  # the city is still forecast, by the model alone
        assert item["p_rain_tomorrow"] == before["p_rain_tomorrow"]
        assert item["calibration"]["method"] == "none"
        assert item["calibration"]["reason"].startswith("history failed: ")
        assert "HTTP 503" in item["calibration"]["reason"]
        assert math.isfinite(item["p_rain_tomorrow"])


def sydney_days(
    model, days_back: int
) -> tuple[ReplayWeather, list, np.ndarray, np.ndarray, np.ndarray]:
    """Sydney's replayed labelled days up to the last one: the source, the days, the model's
    forecasts, whether it rained the next day, and the dates."""
    source = ReplayWeather()
    latest = source.latest_date
    history = source.history(*SYDNEY, latest - dt.timedelta(days=days_back), latest)
    days, before, rained = labelled_days(history.observations)
    forecasts = model.predict_observations(days, latitudes=SYDNEY[0], previous=before)
    dates = np.array([o.date.isoformat() for o in days], dtype="datetime64[D]")
    return source, days, forecasts, rained, dates


def test_the_replayed_series_is_what_the_predict_step_does(model) -> None:
    source, days, forecasts, rained, dates = sydney_days(model, 420)
    series = recalibrate_series(forecasts, rained, dates, ["Sydney"] * len(days))
    assert np.isnan(series[:150]).all()  # not a year of history yet
    last = days[-1]
    found = HistoryRecalibration(model).for_place(source, *SYDNEY, last.date)
    assert found.offsets is not None
    step = found.offsets.apply(forecasts[-1], last.date.month)
    assert series[-1] == pytest.approx(float(step), abs=1e-12)
    assert series[-1] != pytest.approx(float(forecasts[-1]), abs=1e-4)


def test_a_run_that_asks_for_none_is_not_recalibrated(model) -> None:
    source = HistoryReplay()
    batch = observed(source, [("Sydney", *SYDNEY)])
    batch = Batch.from_event(
        {"Items": batch.items,
         "BatchInput": {**batch.settings.to_dict(), "recalibrate": "none"}}
    )  # fmt: skip
    predict_batch(batch, model, HistoryRecalibration(model), source)
    assert source.history_requests == [] and "calibration" not in batch.items[0]


class RateLimitedHistory(HistoryReplay):
    def _history(self, lat, lon, start, end):
        super()._history(lat, lon, start, end)  # counted
        raise ProviderRateLimited("archive", "HTTP 429", retry_after=0.01)


def test_a_429_on_history_is_not_waited_out_and_ends_the_batchs_history_requests(model) -> None:
    """The archive's quota is the forecasts' too: a history request that gets a 429 gives
    up at once (the forecast requests' policy would wait Retry-After and try again), and
    the batch's other places are not asked; every city keeps its forecast."""
    source = RateLimitedHistory()
    places = [("Sydney", *SYDNEY), ("Perth", -31.95, 115.86), ("Hobart", -42.88, 147.33)]
    batch = observed(source, places)
    assert source.retry.max_attempts > 1 and source.retry.max_retry_after > 0.01
    predict_batch(batch, model, HistoryRecalibration(model), source)
    assert len(source.history_requests) == 1  # one attempt, and no other place asked
    reasons = [item["calibration"]["reason"] for item in batch.items]
    assert "HTTP 429" in reasons[0]
    assert all("not asked: the provider is rate-limiting" in r for r in reasons[1:])
    assert all(
        item["status"] == "ok" and item["p_rain_tomorrow"] is not None for item in batch.items
    )


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="results")
        yield client


def test_offsets_are_kept_in_s3_for_the_month_and_other_environments(model, s3) -> None:
    from raincast.model.recalibration import S3OffsetStore

    source = HistoryReplay()
    store = S3OffsetStore(lambda: s3, "results")
    day = source.latest_date  # 2016-06-30: the history period ends 2016-06-23
    first = HistoryRecalibration(model, store=store).for_place(source, *SYDNEY, day)
    assert first.offsets is not None and len(source.history_requests) == 1
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="results")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("cache/recalibration/replay/")
    assert "/2016-06/" in keys[0] and keys[0].endswith("-33.8688_151.2093.json")
    # another environment, another day whose period ends in the same month: no request
    other = HistoryRecalibration(model, store=store)
    again = other.for_place(source, *SYDNEY, day - dt.timedelta(days=5))
    assert again.offsets == first.offsets and len(source.history_requests) == 1
    # the next month's period: asked again
    other.for_place(source, *SYDNEY, day + dt.timedelta(days=10))
    assert len(source.history_requests) == 2


def test_a_bad_or_unreadable_cache_entry_is_a_miss(model, s3, caplog) -> None:
    from raincast.model.recalibration import S3OffsetStore

    source = HistoryReplay()
    store = S3OffsetStore(lambda: s3, "results")
    recalibration = HistoryRecalibration(model, store=store)
    key = recalibration._store_key(source, *SYDNEY, source.latest_date - dt.timedelta(days=7))
    s3.put_object(Bucket="results", Key=store.prefix + key, Body=b'{"offsets": {"overall": 1}}')
    found = recalibration.for_place(source, *SYDNEY, source.latest_date)
    assert found.offsets is not None and len(source.history_requests) == 1  # recomputed
    assert "cache entry ignored" in caplog.text
    assert store.get("no/such.json") is None
    broken = S3OffsetStore(lambda: s3, "no-such-bucket")
    assert broken.get("x.json") is None
    broken.put("x.json", {"a": 1})  # logged, not raised
    assert "not written" in caplog.text
    assert HistoryOffsets.from_dict(found.offsets.to_dict()) == found.offsets


def test_the_replayed_series_with_older_offsets_is_what_a_cached_entry_gives(model) -> None:
    source, days, forecasts, rained, dates = sydney_days(model, 450)
    older = recalibrate_series(forecasts, rained, dates, ["Sydney"] * len(days), age_days=30)
    last = days[-1]
    cached = HistoryRecalibration(model).for_place(
        source, *SYDNEY, last.date - dt.timedelta(days=30)
    )
    assert cached.offsets is not None
    expected = cached.offsets.apply(forecasts[-1], last.date.month)  # the day's own month
    assert older[-1] == pytest.approx(float(expected), abs=1e-12)
    exact = recalibrate_series(forecasts, rained, dates, ["Sydney"] * len(days))
    assert older[-1] != pytest.approx(float(exact[-1]), abs=1e-6)
