"""Backtesting: replay real station days through the pipeline and score each forecast against
what happened the next day at the station whose observations it used.

For each day of the range, the city list runs through the real ``ForecastStateMachine`` on
the local runtime (``sfnstack.local.LocalRuntime``: the real handlers in Lambda-like worker
processes, the offline providers: GeoNames and the Bureau of Meteorology replay), exactly
as ``raincast run --date DAY`` would. One runtime serves the whole range, so the workers'
cold start (imports, indexes, model) is paid once, and a few days run at once
(``days_in_flight``): a day's Prepare and Summarize steps are one Lambda each and would
otherwise leave the other worker idle. ``benchmarks/backtest_bench.py`` measures these
choices against a fresh runtime per day.

Why one run per day rather than one run over all (city, day) pairs: the day is a run-level
setting of the state machine (the Map's BatchInput), as it is on AWS; one run per day replays
exactly what a daily scheduled run does, with no change to the pipeline.

The outcome is read from the same replay data: the station's rainfall on the next day, rain
being more than 1 mm (the model's label). A forecast whose station has no rainfall
recorded for the next day is reported (status ``unscored``), never scored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from raincast.cities import CityList
from raincast.pipeline.records import read_batch_document, reason_category
from raincast.sanitize import spreadsheet_cell
from raincast.weather.replay import ReplayData, cached_replay_data
from raincast_cli.commands.run import LOCAL_ENV, PRELOAD
from raincast_cli.model_headline import ModelHeadline
from raincast_cli.scoring import forecast_scores

STATE_MACHINE = "ForecastStateMachine"
INPUT_BUCKET = "InputBucket"
RESULTS_BUCKET = "ResultsBucket"
RAIN_MM = 1.0  # "rain": more than this in the 24 h to 9 am (the model's label)
DEFAULT_DAYS_IN_FLIGHT = 3

CSV_FIELDS = (
    "date",
    "city",
    "station",
    "p_rain_tomorrow",
    "rained_tomorrow",
    "status",
    "reason",
    "rainfall_tomorrow_mm",
    "lat",
    "lon",
)


class BacktestRangeError(ValueError):
    """The requested days are outside the offline observations (or the range is empty)."""


@dataclass
class BacktestRow:
    date: str  # the day whose observations were used; the forecast is for the next day
    city: str
    status: str  # "ok" (scored), "error" (the pipeline's), "unscored" (no next-day rainfall)
    reason: str = ""
    station: str = ""  # weatherAUS station (Location) whose observations were used
    p_rain_tomorrow: float | None = None
    rained_tomorrow: str = ""  # "yes" / "no" / "" when unknown
    rainfall_tomorrow_mm: float | None = None
    lat: float | None = None
    lon: float | None = None

    def to_csv(self) -> dict[str, str]:
        values = {
            "date": self.date,
            "city": _cell(self.city),
            "station": _cell(self.station),
            "p_rain_tomorrow": "" if self.p_rain_tomorrow is None else f"{self.p_rain_tomorrow:g}",
            "rained_tomorrow": self.rained_tomorrow,
            "status": self.status,
            "reason": _cell(self.reason),
            "rainfall_tomorrow_mm": ""
            if self.rainfall_tomorrow_mm is None
            else f"{self.rainfall_tomorrow_mm:g}",
            "lat": "" if self.lat is None else f"{self.lat:g}",
            "lon": "" if self.lon is None else f"{self.lon:g}",
        }
        return values

    @classmethod
    def from_csv(cls, record: dict[str, str]) -> BacktestRow:
        return cls(
            date=record["date"],
            city=record["city"],
            status=record["status"],
            reason=record.get("reason") or "",
            station=record.get("station") or "",
            p_rain_tomorrow=_float(record.get("p_rain_tomorrow")),
            rained_tomorrow=record.get("rained_tomorrow") or "",
            rainfall_tomorrow_mm=_float(record.get("rainfall_tomorrow_mm")),
            lat=_float(record.get("lat")),
            lon=_float(record.get("lon")),
        )


def _cell(text: str) -> str:
    """A text cell no spreadsheet runs as a formula (the one rule: raincast.sanitize)."""
    return str(spreadsheet_cell(text))


def _float(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    return value if math.isfinite(value) else None


# ---- the range ----------------------------------------------------------------------------


def available_range(data: ReplayData | None = None) -> tuple[dt.date, dt.date]:
    data = data or cached_replay_data()
    return data.first_date, data.latest_date


def check_range(start: dt.date, end: dt.date, available: tuple[dt.date, dt.date]) -> list[dt.date]:
    """The days from ``start`` to ``end`` inclusive, or BacktestRangeError saying why not."""
    first, last = available
    if end < start:
        raise BacktestRangeError(f"--to {end} is before --from {start}")
    if start < first or end > last:
        raise BacktestRangeError(
            f"{start} to {end} is outside the offline observations, which cover "
            f"{first} to {last} (the last day has no next day to score against)"
        )
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# ---- replaying days through the state machine ---------------------------------------------


def backtest_runtime(template: Path, workers: int | None = None, **options: Any) -> Any:
    """A LocalRuntime for many runs in a row: it keeps a warm environment for each function
    and concurrency slot (six functions x workers), so no day pays a cold start. (The
    runtime's default, 8 environments, is fewer than one run of two batches touches, and
    each run would retire and restart some of them.) The environments are forked from a
    zygote that preloaded the handlers' libraries, as in ``raincast run``."""
    from sfnstack.lambdas import default_worker_count
    from sfnstack.lambdas.functions import resolve_functions
    from sfnstack.local import LocalRuntime
    from sfnstack.template import load_template

    workers = workers or default_worker_count()
    functions = resolve_functions(load_template(template))
    return LocalRuntime(
        template,
        workers=workers,
        max_environments=len(functions) * workers,
        env_overrides={"*": LOCAL_ENV},
        **{"preload": PRELOAD, **options},
    )


@dataclass
class DayResult:
    date: dt.date
    documents: list[dict[str, Any]]  # the run's per-city records, in list order
    seconds: float


def replay_days(
    runtime: Any,
    cities: CityList,
    list_bytes: bytes,
    list_name: str,
    days: list[dt.date],
    days_in_flight: int = DEFAULT_DAYS_IN_FLIGHT,
    request: dict[str, Any] | None = None,
) -> Iterator[DayResult]:
    """Runs the list once per day on ``runtime`` (a ``LocalRuntime`` on template.yaml), up to
    ``days_in_flight`` executions at once, and yields each day's per-city records in day
    order. A failed execution raises RuntimeError (the pipeline itself broke: a backtest
    must not silently skip days)."""
    s3 = runtime.s3_client()
    input_bucket = runtime.buckets[INPUT_BUCKET]
    results_bucket = runtime.buckets[RESULTS_BUCKET]
    token = uuid.uuid4().hex[:8]
    key = f"backtests/{token}/{list_name}"
    s3.put_object(Bucket=input_bucket, Key=key, Body=list_bytes)
    base = {"weather": "replay", "geocoder": "geonames", "trigger": "backtest", **(request or {})}
    pending: list[tuple[dt.date, str, Any, float]] = []
    queue = list(days)
    while queue or pending:
        while queue and len(pending) < max(1, days_in_flight):
            day = queue.pop(0)
            run_id = f"backtest-{token}-{day:%Y%m%d}"
            execution = runtime.start_execution(
                STATE_MACHINE,
                {**base, "run_id": run_id, "date": day.isoformat(),
                 "bucket": input_bucket, "key": key},
                name=f"{run_id}-{uuid.uuid4().hex[:6]}",
                record_history=False,
            )  # fmt: skip
            pending.append((day, run_id, execution, time.monotonic()))
        day, run_id, execution, started = pending.pop(0)
        result = execution.wait()
        if result.status != "SUCCEEDED":
            raise RuntimeError(f"the run for {day} {result.status}: {result.error}: {result.cause}")
        documents = _city_documents(s3, results_bucket, run_id)
        if len(documents) != len(cities):
            raise RuntimeError(
                f"the run for {day} returned {len(documents)} results for {len(cities)} cities"
            )
        yield DayResult(day, documents, time.monotonic() - started)


def _city_documents(s3: Any, bucket: str, run_id: str) -> list[dict[str, Any]]:
    prefix = f"runs/{run_id}/"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")["Body"].read())
    documents: list[dict[str, Any]] = []
    for entry in manifest["objects"]:
        if entry["kind"] not in ("city", "batch"):
            continue
        body = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
        # A batch object (the default result layout) holds its cities' documents, a line each.
        documents.extend(
            read_batch_document(body) if entry["kind"] == "batch" else [json.loads(body)]
        )
    return sorted(documents, key=lambda d: int(d["index"]))


# ---- outcomes and rows --------------------------------------------------------------------


def rows_for_day(day: DayResult, data: ReplayData) -> list[BacktestRow]:
    """One row per city of the day's run, with what happened the next day at its station."""
    rows = []
    tomorrow = day.date + dt.timedelta(days=1)
    for doc in day.documents:
        place = doc.get("place") or {}
        row = BacktestRow(
            date=day.date.isoformat(),
            city=str(doc.get("city") or ""),
            status=str(doc.get("status") or "error"),
            reason=str(doc.get("reason") or ""),
            lat=_coordinate(place.get("lat")),
            lon=_coordinate(place.get("lon")),
        )
        source = (doc.get("observation") or {}).get("source") or {}
        row.station = str(source.get("station") or "")
        if row.status != "ok":
            rows.append(row)
            continue
        row.p_rain_tomorrow = float(doc["p_rain_tomorrow"])
        series = data.series.get(row.station)
        values = series.row(tomorrow) if series is not None else None
        rainfall = None if values is None else float(values[_RAINFALL])
        if rainfall is None or math.isnan(rainfall):
            row.status = "unscored"
            row.reason = (
                f"no next-day observation: {row.station or 'the station'} has no rainfall "
                f"recorded on {tomorrow}"
            )
        else:
            row.rainfall_tomorrow_mm = rainfall
            row.rained_tomorrow = "yes" if rainfall > RAIN_MM else "no"
        rows.append(row)
    return rows


def _coordinate(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rainfall_index() -> int:
    from raincast.weather.base import OBSERVATION_FIELDS

    return OBSERVATION_FIELDS.index("rainfall")


_RAINFALL = _rainfall_index()


# ---- scores -------------------------------------------------------------------------------


def score_rows(
    rows: list[BacktestRow], headline: ModelHeadline, days: list[dt.date]
) -> dict[str, Any]:
    """scores.json: ``overall`` and ``per_city`` (each n, auc, brier, brier_skill against
    the training base rate, accuracy, rain_rate, reliability), and what was not scored."""
    scored = [r for r in rows if r.status == "ok"]
    by_city: dict[str, list[BacktestRow]] = defaultdict(list)
    for row in scored:
        by_city[row.city].append(row)

    def scores_of(group: list[BacktestRow]) -> dict[str, Any]:
        labels = np.array([r.rained_tomorrow == "yes" for r in group], dtype=np.float64)
        probabilities = np.array([r.p_rain_tomorrow for r in group], dtype=np.float64)
        return forecast_scores(labels, probabilities, headline.climatology)

    per_city = {}
    for city in dict.fromkeys(r.city for r in rows):  # list order, every city present
        group = by_city.get(city, [])
        stations = sorted({r.station for r in group if r.station})
        per_city[city] = {**scores_of(group), "stations": stations}
    start, end = days[0], days[-1]
    in_sample = in_training_period(headline, start, end)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": len(days),
        "forecasts": len(rows),
        "scored": len(scored),
        "unscored": sum(r.status == "unscored" for r in rows),
        "errors": sum(r.status == "error" for r in rows),
        "not_scored_by_reason": dict(
            Counter(reason_kind(r.reason) for r in rows if r.status != "ok").most_common()
        ),
        "climatology": headline.climatology,
        "in_training_period": in_sample,
        "in_sample_note": in_sample_note(headline) if in_sample else None,
        "model": headline.to_dict(),
        "overall": scores_of(scored),
        "per_city": per_city,
    }


_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def reason_kind(reason: str) -> str:
    """The pipeline's reason category, with its dates taken out: "no observations on
    2016-01-08 within 50 km" and the same on another day are one kind across a backtest."""
    return _ISO_DATE.sub("that day", reason_category(reason))


def in_sample_note(headline: ModelHeadline) -> str:
    """What to tell about a backtest that replays days the model was trained on (the
    command's note and the report's warning). A shipped model refitted on everything has
    no held-out period of its own: the model card's test-period scores are then those of
    the same settings trained on less (``holdout_trained_period``)."""
    note = (
        f"The model was trained on {headline.trained_period}: days in it score in-sample "
        "(optimistic)."
    )
    if headline.refitted:
        return note + (
            f" The model card's out-of-sample scores, on {headline.test_period}, are of the "
            f"same settings trained on {headline.holdout_trained_period}; this model was "
            "refitted on every day since, so no offline day is held out from it."
        )
    return note + f" Its held-out test period is {headline.test_period}."


def in_training_period(headline: ModelHeadline, start: dt.date, end: dt.date) -> bool:
    """Whether any day from ``start`` to ``end`` is one the model was trained on (its scores
    there are in-sample)."""
    first, _, last = (headline.trained_period or "").partition(" to ")
    try:
        return start <= dt.date.fromisoformat(last) and end >= dt.date.fromisoformat(first)
    except ValueError:
        return False


# ---- files --------------------------------------------------------------------------------


def backtest_csv(rows: list[BacktestRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.to_csv())
    return out.getvalue()


# What a backtest's report reads of backtest.csv and scores.json (``backtest_scores``
# writes these and more; ``in_sample_note`` is missing from older scores.json files).
REQUIRED_COLUMNS = ("date", "city", "status")
REQUIRED_SCORES = (
    "from", "to", "days", "forecasts", "unscored", "errors", "not_scored_by_reason",
    "climatology", "in_training_period", "model", "overall", "per_city",
)  # fmt: skip


def read_backtest(directory: Path) -> tuple[list[BacktestRow], dict[str, Any]]:
    """backtest.csv and scores.json of a backtest's folder. Raises ValueError naming the
    file (and line) that is not a backtest's, and what is wrong with it."""
    csv_path, scores_path = directory / "backtest.csv", directory / "scores.json"
    reader = csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8")))
    missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ValueError(f"{csv_path} has no {', '.join(missing)} column{plural}")
    rows = []
    for record in reader:
        try:
            rows.append(BacktestRow.from_csv(record))
        except ValueError as exc:
            raise ValueError(f"{csv_path} line {reader.line_num}: {exc}") from None
    try:
        scores = json.loads(scores_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{scores_path} is not JSON ({exc})") from None
    if not isinstance(scores, dict):
        raise ValueError(f"{scores_path} is not a backtest's scores (not a JSON object)")
    if missing := [key for key in REQUIRED_SCORES if key not in scores]:
        raise ValueError(f"{scores_path} is not a backtest's scores (no {', '.join(missing)})")
    return rows, scores


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# ---- progress -----------------------------------------------------------------------------


class DayProgress:
    """Days done / total on stderr: one rewritten line on a terminal, else a line at most
    once a second (and the last)."""

    def __init__(self, total_days: int, cities: int, stream: TextIO | None = None) -> None:
        self.total_days = total_days
        self.cities = cities
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_print = 0.0
        self.done = 0
        self.counts: Counter[str] = Counter()

    def day_done(self, day: dt.date, rows: list[BacktestRow]) -> None:
        self.done += 1
        self.counts.update(r.status for r in rows)
        now = time.monotonic()
        if not self.tty and now - self._last_print < 1.0 and self.done < self.total_days:
            return
        self._last_print = now
        elapsed = now - self.started
        line = (
            f"backtest: day {self.done}/{self.total_days} ({day}), "
            f"{self.counts['ok']} scored, {self.counts['unscored']} unscored, "
            f"{self.counts['error']} errors, {elapsed:.1f} s"
        )
        self.stream.write(f"\r\033[K{line}" if self.tty else line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
