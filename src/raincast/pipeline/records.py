"""The shapes that travel through the state machine, and where results are stored.

An *item* is one city: the dict made by ``CityRow.to_item`` (index, line, city, country,
lat, lon, status, reason) that each step enriches (``place``, ``observation`` and
``previous_observation`` (the day before, or None), ``p_rain_tomorrow``, ...). ``status`` is ``"ok"`` until a step fails for that city, then
``"error"`` with a ``reason``; later steps pass error items through untouched, so one bad
city never fails its batch.

A *batch* is what one child workflow of the Distributed Map handles. The Map's ItemBatcher
hands the first step ``{"Items": [...], "BatchInput": {...run settings...}}``; every step
returns ``{"batch": {...run settings + batch_id...}, "items": [...]}``, which the next step
reads. ``Batch.from_event`` accepts both.

Result keys are deterministic (run id + row index + slug, or run id + batch id), so
re-running a run id overwrites the same objects instead of adding new ones.

Result layouts: ``"batch"`` (the default) stores each batch's city documents as one JSON
Lines object, ``runs/<run_id>/batches/<batch_id>.jsonl``, one PUT per batch; ``"city"``
stores one JSON object per city, ``runs/<run_id>/cities/<index>-<slug>.json``, one PUT
per city (25 times the PUT requests, S3's largest cost for a run). The documents are the
same either way; ``raincast run`` writes them out as ``cities/*.json`` from both.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from raincast.cities import slugify
from raincast.geocoding import GEOCODERS as GEOCODERS
from raincast.providers import Registry
from raincast.weather import WEATHER_SOURCES as WEATHER_SOURCES

# The providers a run may name are the registries' (re-exported here for the CLI).
DEFAULT_GEOCODER = GEOCODERS.default
DEFAULT_WEATHER = WEATHER_SOURCES.default
RESULT_LAYOUTS = ("batch", "city")
DEFAULT_RESULT_LAYOUT = "batch"

# Execution names and S3 keys: keep run ids to a safe, portable alphabet.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

RESULT_FIELDS = (
    "index",
    "city",
    "place",
    "country",
    "lat",
    "lon",
    "date",
    "p_rain_tomorrow",
    "rain_tomorrow",
    "status",
    "reason",
)


class InvalidRequest(ValueError):
    """The execution input is unusable (bad run id, unknown provider, bad date)."""


# Predict's history recalibration (raincast.model.recalibration), the request's
# "recalibrate": "history" (each place's past year, when the weather source keeps history),
# "none", or "auto" (the default): "history" for a list of at most AUTO_RECALIBRATE_CITIES
# cities, "none" beyond. A place's year of history is one archive request that Open-Meteo
# counts as about 31 of its API calls (12 variables x 366 days: (12 / 10) x (366 / 14)), and
# its free tier allows 600 a minute and 10,000 a day, which the day's forecasts share: a
# long list would spend them on history and leave its own forecast requests rate-limited.
RECALIBRATIONS = ("auto", "history", "none")
AUTO_RECALIBRATE_CITIES = 100


def resolve_recalibration(asked: str, cities: int) -> str:
    """``history`` or ``none`` for a run of ``cities`` that asked for ``asked``."""
    if asked == "auto":
        return "history" if cities <= AUTO_RECALIBRATE_CITIES else "none"
    return asked


def validate_recalibration(value: Any) -> str:
    if value is None:
        return "auto"
    if not isinstance(value, str) or value.strip().lower() not in RECALIBRATIONS:
        raise InvalidRequest(f"recalibrate {value!r} is not one of {', '.join(RECALIBRATIONS)}")
    return value.strip().lower()


@dataclass(frozen=True)
class RunSettings:
    run_id: str
    date: str  # ISO date of the observations; the forecast is for the day after
    weather: str = DEFAULT_WEATHER
    geocoder: str = DEFAULT_GEOCODER
    trigger: str | None = None  # "s3", "schedule", "api", "cli", ... (for logs and summary)
    execution: str | None = None  # the parent execution's ARN (for logs)
    # "history" or "none" once Prepare has resolved the request's "auto"
    recalibrate: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "date": self.date,
            "weather": self.weather,
            "geocoder": self.geocoder,
            "trigger": self.trigger,
            "execution": self.execution,
            "recalibrate": self.recalibrate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        return cls(
            run_id=validate_run_id(data.get("run_id")),
            date=validate_date(data.get("date")),
            weather=validate_choice(
                "weather", data.get("weather") or DEFAULT_WEATHER, WEATHER_SOURCES
            ),
            geocoder=validate_choice(
                "geocoder", data.get("geocoder") or DEFAULT_GEOCODER, GEOCODERS
            ),
            trigger=data.get("trigger"),
            execution=data.get("execution"),
            recalibrate=validate_recalibration(data.get("recalibrate")),
        )


def validate_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidRequest(
            f"run id {run_id!r} is not valid: use 1-80 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return run_id


def validate_date(value: Any) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidRequest(f"date {value!r} is not a date in YYYY-MM-DD form") from None


def validate_choice(what: str, value: Any, choices: Registry[Any]) -> str:
    name = choices.canonical(value) if isinstance(value, str) else None
    if name is None:
        raise InvalidRequest(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")
    return name


# The Distributed Map's children are Express workflows, which AWS stops at 5 minutes (and
# then every city of the batch is lost, the forecast ones too). A batch's provider lookups,
# Geocode's and Weather's together, end this long after its child started, leaving Predict
# (Timeout 30 s) and Store (60 s) room to finish; template_checks keeps the sum under 300 s.
EXPRESS_LIMIT_SECONDS = 300.0
LOOKUP_BUDGET_SECONDS = 200.0


@dataclass
class Batch:
    settings: RunSettings
    items: list[dict[str, Any]]
    batch_id: str = ""
    failure: dict[str, Any] | None = field(default=None)  # a Catch's {"Error", "Cause"}
    # When the batch's child workflow started (its $$.Execution.StartTime, which Geocode's
    # Parameters pass in as "started_at"); None when a step is called without it.
    started_at: dt.datetime | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Batch:
        started_at = event.get("started_at")
        if "Items" in event:  # straight from the Map's ItemBatcher
            items = event["Items"]
            # AWS nests the ItemBatcher's BatchInput under "BatchInput"; an interpreter that
            # merges its fields next to "Items" instead is accepted too.
            context = event.get("BatchInput") or {
                k: v for k, v in event.items() if k not in ("Items", "failure")
            }
        elif "items" in event:  # from the previous step
            items, context = event["items"], event.get("batch") or {}
            started_at = context.get("started_at")
        else:
            raise InvalidRequest("a batch event needs 'Items' (from the Map) or 'items'")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidRequest("a batch's items must be a list of objects")
        settings = RunSettings.from_dict(context)
        batch_id = context.get("batch_id") or batch_id_for(items)
        return cls(settings, items, batch_id, event.get("failure"), parse_started_at(started_at))

    def to_event(self) -> dict[str, Any]:
        batch: dict[str, Any] = {**self.settings.to_dict(), "batch_id": self.batch_id}
        if self.started_at is not None:
            batch["started_at"] = self.started_at.isoformat().replace("+00:00", "Z")
        return {"batch": batch, "items": self.items}

    def lookup_deadline(self, invocation_deadline: float | None = None) -> float | None:
        """The ``time.monotonic()`` by which this batch's provider lookups must end: the
        earlier of ``invocation_deadline`` (the Lambda's remaining time) and
        ``LOOKUP_BUDGET_SECONDS`` after the child workflow started; None when neither is
        known."""
        if self.started_at is None:
            return invocation_deadline
        left = (
            self.started_at.timestamp()
            + LOOKUP_BUDGET_SECONDS
            - dt.datetime.now(dt.UTC).timestamp()
        )
        budget_end = time.monotonic() + left
        if invocation_deadline is None:
            return budget_end
        return min(invocation_deadline, budget_end)

    def pending(self) -> list[dict[str, Any]]:
        """The items still to work on (not failed by an earlier step)."""
        return [item for item in self.items if item.get("status") != "error"]


def parse_started_at(value: Any) -> dt.datetime | None:
    """A child workflow's start time as Step Functions gives it (ISO 8601, "Z" for UTC)."""
    if value is None:
        return None
    try:
        started = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        started = None
    if started is None or started.tzinfo is None:
        raise InvalidRequest(f"started_at {value!r} is not an ISO 8601 time with a time zone")
    return started


def batch_id_for(items: list[dict[str, Any]]) -> str:
    """Names a batch after its rows ("00025-00049"): stable across re-runs, unique in a run."""
    indices = [int(i.get("index", 0)) for i in items] or [0]
    return f"{min(indices):05d}-{max(indices):05d}"


def count_failed(batch: Batch) -> dict[str, int]:
    """Failed items of a batch by reason category (for the step's log line)."""
    counts: dict[str, int] = {}
    for item in batch.items:
        if item.get("status") == "error":
            category = reason_category(item.get("reason"))
            counts[category] = counts.get(category, 0) + 1
    return counts


def fail(item: dict[str, Any], reason: str) -> dict[str, Any]:
    """Marks an item as failed, in place, and returns it."""
    item["status"] = "error"
    item["reason"] = reason
    return item


def reason_category(reason: str | None) -> str:
    """The kind of an error reason: the text before its first colon ("not found: 'X'" ->
    "not found"). Summaries and metrics count errors by this, not by the full text."""
    if not reason:
        return "unknown"
    return reason.split(":", 1)[0].strip().lower() or "unknown"


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def city_key(run_id: str, index: int, city: str) -> str:
    return f"{run_prefix(run_id)}cities/{index:05d}-{slugify(city)}.json"


def batch_key(run_id: str, batch_id: str) -> str:
    """One batch's city documents, as JSON Lines (the default result layout)."""
    return f"{run_prefix(run_id)}batches/{batch_id}.jsonl"


def city_document(record: dict[str, Any]) -> bytes:
    """A city's result document as stored per city (and as ``raincast run`` writes it)."""
    return json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8")


def batch_document(records: list[dict[str, Any]]) -> bytes:
    """A batch's city documents as JSON Lines, one per line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def read_batch_document(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


def cities_list_key(run_id: str) -> str:
    """The normalised city list (JSON Lines) the Distributed Map reads."""
    return f"{run_prefix(run_id)}input/cities.jsonl"


def csv_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}forecast.csv"


def summary_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}summary.json"


def manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}manifest.json"


def result_row(item: dict[str, Any], date: str | None) -> dict[str, Any]:
    """One line of the batch CSV for an item (also what Store returns per city)."""
    place = item.get("place") or {}
    probability = item.get("p_rain_tomorrow")
    return {
        "index": item.get("index"),
        "city": item.get("city"),
        "place": place.get("name"),
        "country": place.get("country_code"),
        "lat": place.get("lat"),
        "lon": place.get("lon"),
        "date": date,
        "p_rain_tomorrow": probability,
        "rain_tomorrow": item.get("rain_tomorrow"),
        "status": item.get("status"),
        "reason": item.get("reason"),
    }
