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

Result keys are deterministic (run id + row index + slug), so re-running a run id
overwrites the same objects instead of adding new ones.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from raincast.cities import slugify

GEOCODERS = ("geonames", "open-meteo", "locationiq")
WEATHER_SOURCES = ("replay", "open-meteo")
DEFAULT_GEOCODER = "geonames"
DEFAULT_WEATHER = "replay"

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


@dataclass(frozen=True)
class RunSettings:
    run_id: str
    date: str  # ISO date of the observations; the forecast is for the day after
    weather: str = DEFAULT_WEATHER
    geocoder: str = DEFAULT_GEOCODER
    trigger: str | None = None  # "s3", "schedule", "api", "cli", ... (for logs and summary)
    execution: str | None = None  # the parent execution's ARN (for logs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "date": self.date,
            "weather": self.weather,
            "geocoder": self.geocoder,
            "trigger": self.trigger,
            "execution": self.execution,
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


def validate_choice(what: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidRequest(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")
    return str(value)


@dataclass
class Batch:
    settings: RunSettings
    items: list[dict[str, Any]]
    batch_id: str = ""
    failure: dict[str, Any] | None = field(default=None)  # a Catch's {"Error", "Cause"}

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Batch:
        if "Items" in event:  # straight from the Map's ItemBatcher
            items = event["Items"]
            # AWS nests the ItemBatcher's BatchInput under "BatchInput"; an interpreter that
            # merges its fields next to "Items" instead is accepted too.
            context = event.get("BatchInput") or {
                k: v for k, v in event.items() if k not in ("Items", "failure")
            }
        elif "items" in event:  # from the previous step
            items, context = event["items"], event.get("batch") or {}
        else:
            raise InvalidRequest("a batch event needs 'Items' (from the Map) or 'items'")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidRequest("a batch's items must be a list of objects")
        settings = RunSettings.from_dict(context)
        batch_id = context.get("batch_id") or batch_id_for(items)
        return cls(settings, items, batch_id, event.get("failure"))

    def to_event(self) -> dict[str, Any]:
        return {
            "batch": {**self.settings.to_dict(), "batch_id": self.batch_id},
            "items": self.items,
        }

    def pending(self) -> list[dict[str, Any]]:
        """The items still to work on (not failed by an earlier step)."""
        return [item for item in self.items if item.get("status") != "error"]


def batch_id_for(items: list[dict[str, Any]]) -> str:
    """Names a batch after its rows ("00025-00049"): stable across re-runs, unique in a run."""
    indices = [int(i.get("index", 0)) for i in items] or [0]
    return f"{min(indices):05d}-{max(indices):05d}"


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
