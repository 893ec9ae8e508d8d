"""Open-Meteo geocoding (https://open-meteo.com/en/docs/geocoding-api): no key, GeoNames ids.

GET {base}/v1/search?name=...&count=10&language=en&format=json
answers ``{"results": [{"id", "name", "latitude", "longitude", "elevation", "feature_code",
"country_code", "admin1", "timezone", "population", ...}], "generationtime_ms": ...}``;
with no match the ``results`` key is simply absent.

The API matches a bare name, so qualifiers ("Springfield, IL, US") are applied here: a
two-letter country goes to the ``countryCode`` parameter, everything else filters the
results by country name/code and admin1 name/abbreviation.

The base URL (default https://geocoding-api.open-meteo.com, a self-hosted instance or a
mirror otherwise) is the ``OPEN_METEO_GEOCODING_URL`` setting.
"""

from __future__ import annotations

from typing import Any

import requests

from raincast.errors import ProviderError
from raincast.geocoding.base import GeocodeResult, Place, Query
from raincast.geocoding.http import HttpGeocoder
from raincast.geocoding.regions import ADMIN1_NAMES, COUNTRY_ALIASES
from raincast.geocoding.text import fold
from raincast.retry import RetryPolicy

PROVIDER = "open-meteo"
BASE_URL_ENV = "OPEN_METEO_GEOCODING_URL"
DEFAULT_BASE_URL = "https://geocoding-api.open-meteo.com"
SEARCH_URL = DEFAULT_BASE_URL + "/v1/search"
# Results asked for: the documented default for a bare name; the maximum when qualifiers
# filter the results here, so that the wanted place is among them.
COUNT = 10
COUNT_FILTERED = 100


class OpenMeteoGeocoder(HttpGeocoder):
    name = PROVIDER
    BASE_URL_ENV = BASE_URL_ENV
    DEFAULT_BASE_URL = DEFAULT_BASE_URL
    PATH = "/v1/search"

    def __init__(
        self,
        *,
        url: str | None = None,
        language: str = "en",
        max_alternatives: int = 5,
        timeout: float | tuple[float, float] | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            url=url, max_alternatives=max_alternatives, timeout=timeout, session=session,
            retry=retry,
        )  # fmt: skip
        self.language = language

    def _geocode(self, query: Query) -> GeocodeResult:
        name, qualifiers = query.name, list(query.qualifiers)
        params: dict[str, Any] = {
            "name": name,
            "count": COUNT_FILTERED if qualifiers else COUNT,
            "language": self.language,
            "format": "json",
        }
        country_code = qualifiers[-1].upper() if qualifiers else ""
        if len(qualifiers) == 2 and len(country_code) == 2 and country_code.isalpha():
            params["countryCode"] = country_code

        _, body = self.http.get(self.url, params)
        if not isinstance(body, dict):
            raise ProviderError(PROVIDER, f"expected a JSON object, got {type(body).__name__}")
        if body.get("error"):
            raise ProviderError(PROVIDER, str(body.get("reason") or "error response"))
        raw = body.get("results")
        if raw is None:  # documented: no "results" key means no match
            return self._not_found(query, f"not found: no place named {name!r}")
        if not isinstance(raw, list):
            raise ProviderError(PROVIDER, "'results' is not a list")
        places = [_place(item) for item in raw]
        places = _filter(places, raw, qualifiers)
        if not places:
            where = ", ".join(qualifiers)
            return self._not_found(query, f"not found: no place named {name!r} in {where}")
        return self._found(query, places)


def _place(item: Any) -> Place:
    if not isinstance(item, dict):
        raise ProviderError(PROVIDER, f"result is not an object: {item!r:.80}")
    try:
        return Place(
            name=str(item["name"]),
            country_code=str(item.get("country_code") or "").upper(),
            admin1=item.get("admin1") or None,
            lat=float(item["latitude"]),
            lon=float(item["longitude"]),
            timezone=item.get("timezone") or None,
            population=int(item["population"]) if item.get("population") is not None else None,
            geonameid=int(item["id"]) if item.get("id") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(PROVIDER, f"malformed result ({exc!r}): {item!r:.120}") from None


def _country_matches(text: str, place: Place, item: dict[str, Any]) -> bool:
    wanted = fold(text)
    names = [place.country_code, str(item.get("country") or "")]
    names += COUNTRY_ALIASES.get(place.country_code, [])
    return wanted in {fold(n) for n in names if n}


def _admin1_matches(text: str, place: Place) -> bool:
    if not place.admin1:
        return False
    wanted = fold(text)
    if wanted == fold(place.admin1):
        return True
    # "IL" -> "Illinois", "NSW" -> "New South Wales": abbreviations of this country whose
    # full name is the admin1 name the API returned.
    for names in ADMIN1_NAMES.get(place.country_code, {}).values():
        if fold(names[-1]) == fold(place.admin1) and wanted in {fold(n) for n in names}:
            return True
    return False


def _filter(places: list[Place], raw: list[Any], qualifiers: list[str]) -> list[Place]:
    if not qualifiers:
        return places
    pairs = list(zip(places, raw, strict=True))
    if len(qualifiers) == 2:
        admin_text, country_text = qualifiers
        return [
            p
            for p, item in pairs
            if _country_matches(country_text, p, item) and _admin1_matches(admin_text, p)
        ]
    (text,) = qualifiers
    as_country = [p for p, item in pairs if _country_matches(text, p, item)]
    return as_country or [p for p in places if _admin1_matches(text, p)]
