"""LocationIQ forward geocoding (https://docs.locationiq.com/docs/search-forward-geocoding).

GET https://us1.locationiq.com/v1/search?key=...&q=...&format=json&addressdetails=1&normalizecity=1
answers a JSON list of ``{"place_id", "licence", "osm_type", "osm_id", "boundingbox",
"lat", "lon", "display_name", "class", "type", "importance", "address": {"city", "state",
"country", "country_code", ...}}`` (coordinates are strings); no match is HTTP 404 with
``{"error": "Unable to geocode"}``. LocationIQ parses "Springfield, IL, US" itself, so the
query goes out whole -- URL-encoded by ``requests`` (``params=``), never pasted into the URL.

The API key is configuration: it is sent as the ``key`` parameter and appears nowhere else
(not in messages, logs or ``repr``).
"""

from __future__ import annotations

import os
from typing import Any

import requests

from raincast.errors import ProviderError
from raincast.geocoding.base import GeocodeResult, Place
from raincast.geocoding.http import DEFAULT_TIMEOUT, HttpGeocoder
from raincast.geocoding.text import check_query

PROVIDER = "locationiq"
SEARCH_URL = "https://us1.locationiq.com/v1/search"
API_KEY_ENV = "LOCATIONIQ_API_KEY"
NOT_FOUND_ERROR = "Unable to geocode"


class MissingApiKey(ValueError):
    """No LocationIQ key in the configuration or the environment."""


class LocationIQGeocoder(HttpGeocoder):
    name = PROVIDER

    def __init__(
        self,
        api_key: str | None = None,
        *,
        url: str = SEARCH_URL,
        max_alternatives: int = 5,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        key = (api_key or os.environ.get(API_KEY_ENV) or "").strip()
        if not key:
            raise MissingApiKey(
                f"the locationiq geocoder needs an API key: pass api_key=... or set {API_KEY_ENV}"
            )
        super().__init__(
            max_alternatives=max_alternatives, timeout=timeout, session=session, secrets=[key]
        )
        self._api_key = key
        self.url = url

    def __repr__(self) -> str:
        return f"LocationIQGeocoder(url={self.url!r}, api_key=***)"

    def geocode(self, query: str) -> GeocodeResult:
        # Only the basic checks: LocationIQ parses qualifiers (and full addresses) itself.
        problem = check_query(query)
        if problem is not None:
            return self._not_found(str(query), problem)
        params = {
            "key": self._api_key,
            "q": query.strip(),
            "format": "json",
            "addressdetails": 1,
            "normalizecity": 1,
        }
        status, body = self.http.get(self.url, params, accept_statuses=[404])
        if status == 404:
            if isinstance(body, dict) and body.get("error") == NOT_FOUND_ERROR:
                return self._not_found(query, f"not found: no place matches {query.strip()!r}")
            raise ProviderError(PROVIDER, f"HTTP 404: {body!r:.120}")
        if isinstance(body, dict) and "error" in body:
            raise ProviderError(PROVIDER, f"error response: {str(body['error'])[:120]}")
        if not isinstance(body, list):
            raise ProviderError(PROVIDER, f"expected a JSON list, got {type(body).__name__}")
        if not body:
            return self._not_found(query, f"not found: no place matches {query.strip()!r}")
        return self._found(query, [_place(item) for item in body])


def _place(item: Any) -> Place:
    if not isinstance(item, dict):
        raise ProviderError(PROVIDER, f"result is not an object: {item!r:.80}")
    address: dict[str, Any] = item["address"] if isinstance(item.get("address"), dict) else {}
    display = str(item.get("display_name") or "")
    name = (
        address.get("city")
        or address.get("name")
        or address.get("town")
        or address.get("village")
        or display.split(",")[0].strip()
    )
    try:
        lat, lon = float(item["lat"]), float(item["lon"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(PROVIDER, f"malformed result ({exc!r}): {display[:80]!r}") from None
    if not name:
        raise ProviderError(PROVIDER, f"result without a name at {lat}, {lon}")
    return Place(
        name=str(name),
        country_code=str(address.get("country_code") or "").upper(),
        admin1=address.get("state") or None,
        lat=lat,
        lon=lon,
        timezone=None,  # LocationIQ search does not return one
        population=None,
        geonameid=None,  # OpenStreetMap data, not GeoNames
    )
