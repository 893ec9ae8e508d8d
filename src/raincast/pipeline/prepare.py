"""The first step: validate the request and the city list, normalise the list for the Map.

A bad request or a bad file is not an exception here: ``prepare_run`` returns
``{"ok": false, "error": "InvalidCityList", "message": "..."}`` and the state machine's
Choice sends it to a Fail state, so the execution fails with that clear error and cause
before any city runs. Lambda-level failures (S3 down) still raise and are retried.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from raincast.cities import (
    MAX_FILE_BYTES,
    CityList,
    CityListError,
    parse_city_items,
    parse_city_list,
)
from raincast.pipeline.records import (
    DEFAULT_GEOCODER,
    DEFAULT_WEATHER,
    GEOCODERS,
    WEATHER_SOURCES,
    InvalidRequest,
    RunSettings,
    cities_list_key,
    validate_choice,
    validate_date,
    validate_run_id,
)

# Keys of the execution input the pipeline understands (the API's JSON schema says the same).
REQUEST_KEYS = frozenset(
    {"bucket", "key", "cities", "date", "weather", "geocoder", "run_id", "trigger"}
)


def prepare_run(
    request: Any,
    execution_name: str,
    execution_id: str | None,
    s3: Any,
    results_bucket: str,
    default_date: Callable[[str], str],
) -> dict[str, Any]:
    """Validates ``request`` (the execution input), reads and parses the city list, writes
    the normalised list to ``results_bucket`` and returns what the Map needs.

    ``default_date(weather)`` gives the observation date when the request has none."""
    request = _unwrap_api_request(request)
    try:
        settings, source = _settings(request, execution_name, execution_id, default_date)
        cities = _read_cities(request, s3)
    except InvalidRequest as exc:
        return {"ok": False, "error": "InvalidRequest", "message": str(exc)}
    except CityListError as exc:
        return {"ok": False, "error": "InvalidCityList", "message": str(exc)}
    key = cities_list_key(settings.run_id)
    s3.put_object(
        Bucket=results_bucket,
        Key=key,
        Body=cities.to_jsonl(),
        ContentType="application/x-ndjson",
    )
    return {
        "ok": True,
        "settings": settings.to_dict(),
        "source": source,
        "format": cities.format,
        "items": {"bucket": results_bucket, "key": key},
        "count": len(cities),
        "invalid_rows": len(cities.invalid_rows),
    }


def _unwrap_api_request(request: Any) -> Any:
    """The start API's mapping template sends ``{"trigger": "api", "request": <body>}``: it
    can wrap the validated body but not add a field to it. The body's own schema allows
    neither key, so the wrapper is unambiguous."""
    if (
        isinstance(request, dict)
        and set(request) == {"trigger", "request"}
        and isinstance(request["request"], dict)
    ):
        return {**request["request"], "trigger": request["trigger"]}
    return request


def _settings(
    request: Any,
    execution_name: str,
    execution_id: str | None,
    default_date: Callable[[str], str],
) -> tuple[RunSettings, dict[str, Any]]:
    if not isinstance(request, dict):
        raise InvalidRequest(f"the input must be a JSON object, got {type(request).__name__}")
    unknown = sorted(set(request) - REQUEST_KEYS)
    if unknown:
        raise InvalidRequest(
            f"unknown input field(s) {', '.join(unknown)}; expected {', '.join(sorted(REQUEST_KEYS))}"
        )
    has_inline = "cities" in request
    has_s3 = "bucket" in request or "key" in request
    if has_inline == has_s3:
        raise InvalidRequest(
            'give either "cities" (an inline list) or "bucket" and "key" (a city list in S3)'
        )
    if has_s3 and not (
        isinstance(request.get("bucket"), str) and isinstance(request.get("key"), str)
    ):
        raise InvalidRequest('"bucket" and "key" must both be strings')
    weather = validate_choice("weather", request.get("weather") or DEFAULT_WEATHER, WEATHER_SOURCES)
    geocoder = validate_choice("geocoder", request.get("geocoder") or DEFAULT_GEOCODER, GEOCODERS)
    run_id = validate_run_id(request.get("run_id") or execution_name)
    if request.get("date"):
        date = validate_date(request["date"])
        check_date_available(weather, date)
    else:
        date = default_date(weather)
    trigger = request.get("trigger")
    settings = RunSettings(
        run_id, date, weather, geocoder, str(trigger) if trigger else None, execution_id
    )
    source = {"bucket": request["bucket"], "key": request["key"]} if has_s3 else {"inline": True}
    return settings, source


def check_date_available(weather: str, date: str) -> None:
    """Refuses an observation date the weather source has no data for, naming the range:
    the offline replay covers a fixed period (a live source takes any date; the provider
    says so per city if not)."""
    if weather != "replay":
        return
    from raincast.weather.replay import cached_replay_data

    data = cached_replay_data()  # what the replay source serves (loaded once per process)
    first, last = data.first_date, data.latest_date
    if not first <= dt.date.fromisoformat(date) <= last:
        raise InvalidRequest(
            f"date {date} is outside the offline observations: the replay covers "
            f"{first.isoformat()} to {last.isoformat()}; choose a date in that range "
            "(or weather open-meteo)"
        )


def _read_cities(request: dict[str, Any], s3: Any) -> CityList:
    if "cities" in request:
        return parse_city_items(request["cities"])
    bucket, key = request["bucket"], request["key"]
    name = f"s3://{bucket}/{key}"
    response = None
    # S3 event notifications URL-encode object keys ("my+list.csv" for "my list.csv"): when
    # the key as given does not exist, its decoded form is tried too.
    for candidate in dict.fromkeys((key, urllib.parse.unquote_plus(key))):
        try:
            response = s3.get_object(Bucket=bucket, Key=candidate)
            break
        except Exception as exc:  # botocore ClientError: NoSuchKey, NoSuchBucket, AccessDenied
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in ("NoSuchKey", "NoSuchBucket", "404", "AccessDenied", "403"):
                raise
            error_code = code
    if response is None:
        raise InvalidRequest(f"{name}: cannot read the city list ({error_code})")
    size = int(response.get("ContentLength") or 0)
    if size > MAX_FILE_BYTES:
        response["Body"].close()
        raise CityListError(
            f"{name}: {size / 1024 / 1024:.1f} MB is too large for a city list "
            f"(limit {MAX_FILE_BYTES // 1024 // 1024} MB)"
        )
    data = response["Body"].read(MAX_FILE_BYTES + 1)
    return parse_city_list(data, name=key.rsplit("/", 1)[-1] or name)


def today_utc() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
