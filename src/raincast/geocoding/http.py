"""What the online geocoders (``open_meteo``, ``locationiq``) share: the HTTP client from
``raincast.http`` and how their answers become a ``GeocodeResult``.

Each provider keeps only its own part: the request parameters and reading its JSON into
``Place`` objects, best match first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import requests

from raincast.geocoding.base import Geocoder, GeocodeResult, Place
from raincast.http import DEFAULT_TIMEOUT, JsonHttpClient

__all__ = ["DEFAULT_TIMEOUT", "HttpGeocoder"]


class HttpGeocoder(Geocoder):
    """A geocoder that asks a web API. Subclasses set ``name`` (the provider) and implement
    ``geocode``."""

    def __init__(
        self,
        *,
        max_alternatives: int,
        timeout: float | tuple[float, float],
        session: requests.Session | None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.max_alternatives = max_alternatives
        self.http = JsonHttpClient(self.name, session=session, timeout=timeout, secrets=secrets)

    def _found(self, query: str, places: Sequence[Place]) -> GeocodeResult:
        """The first of ``places`` (best first, at least one), the next ones as alternatives."""
        return GeocodeResult(
            query=query,
            place=places[0],
            alternatives=tuple(places[1 : 1 + self.max_alternatives]),
            provider=self.name,
        )

    def _not_found(self, query: str, reason: str) -> GeocodeResult:
        return GeocodeResult(query=query, place=None, reason=reason, provider=self.name)
