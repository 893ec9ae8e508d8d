"""The first step: validate the request and the city list, normalise the list for the Map.

A bad request or a bad file is not an exception here: ``prepare_run`` returns
``{"ok": false, "error": "InvalidCityList", "message": "..."}`` and the state machine's
Choice sends it to a Fail state, so the execution fails with that clear error and cause
before any city runs. Lambda-level failures (S3 down) still raise and are retried.
"""

from __future__ import annotations

import dataclasses
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
    resolve_recalibration,
    validate_choice,
    validate_date,
    validate_recalibration,
    validate_run_id,
)
from raincast.pipeline.run_claim import claim_run

# Keys of the execution input the pipeline understands (the API's JSON schema says the same).
REQUEST_KEYS = frozenset(
    {
        "bucket",
        "key",
        "version_id",
        "cities",
        "date",
        "weather",
        "geocoder",
        "run_id",
        "trigger",
        "recalibrate",
    }
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
    # "auto" becomes what this list gets, so every batch does the same
    settings = dataclasses.replace(
        settings, recalibrate=resolve_recalibration(settings.recalibrate, len(cities))
    )
    listing = cities.to_jsonl()
    refused = claim_run(s3, results_bucket, settings, listing, source)  # before any write
    if refused:
        return {"ok": False, "error": "RunIdInUse", "message": refused}
    key = cities_list_key(settings.run_id)
    s3.put_object(
        Bucket=results_bucket,
        Key=key,
        Body=listing,
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
    if request.get("version_id") is not None and not (
        has_s3 and isinstance(request["version_id"], str) and request["version_id"]
    ):
        raise InvalidRequest('"version_id" must be a version id string, with "bucket" and "key"')
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
        run_id,
        date,
        weather,
        geocoder,
        str(trigger) if trigger else None,
        execution_id,
        validate_recalibration(request.get("recalibrate")),
    )
    source: dict[str, Any] = (
        {"bucket": request["bucket"], "key": request["key"]} if has_s3 else {"inline": True}
    )
    if request.get("version_id"):
        source["version_id"] = request["version_id"]
    return settings, source


def check_date_available(weather: str, date: str) -> None:
    """Refuses an observation date the weather source has no data for, naming the range:
    the offline replay covers a fixed period (a live source takes any date; the provider
    says so per city if not)."""
    if weather != "replay":
        return
    from raincast.weather.replay import replay_period

    first, last = replay_period()  # what the replay source serves
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
    # The upload trigger names the version that fired the event: read that one, not
    # whatever was uploaded to the key since.
    version = {"VersionId": request["version_id"]} if request.get("version_id") else {}
    # S3 event notifications URL-encode object keys ("my+list.csv" for "my list.csv"): when
    # the key as given does not exist, its decoded form is tried too.
    for candidate in dict.fromkeys((key, urllib.parse.unquote_plus(key))):
        try:
            response = s3.get_object(Bucket=bucket, Key=candidate, **version)
            break
        except Exception as exc:  # botocore ClientError: NoSuchKey, NoSuchBucket, AccessDenied
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in (
                "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "InvalidArgument", "404",
                "AccessDenied", "403",
            ):  # fmt: skip
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
