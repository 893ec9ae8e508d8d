"""What the online geocoders (``open_meteo``, ``locationiq``) share: the HTTP client from
``raincast.http``, their base URL setting and how many requests a batch runs at once.

Each provider keeps only its own part: the request parameters and reading its JSON into
``Place`` objects, best match first.
"""

from __future__ import annotations

from collections.abc import Iterable

import requests

from raincast.geocoding.base import Geocoder
from raincast.http import JsonHttpClient, base_url
from raincast.retry import PARALLEL_REQUESTS, RetryPolicy


class HttpGeocoder(Geocoder):
    """A geocoder that asks a web API. Subclasses set ``name``, ``BASE_URL_ENV``,
    ``DEFAULT_BASE_URL`` and ``PATH``, and implement ``_geocode``."""

    parallel_requests = PARALLEL_REQUESTS
    cache_max_age = 24 * 3600.0  # places rarely move, but a provider's index is revised
    BASE_URL_ENV = ""
    DEFAULT_BASE_URL = ""
    PATH = ""

    def __init__(
        self,
        *,
        url: str | None,
        max_alternatives: int,
        timeout: float | tuple[float, float] | None,
        session: requests.Session | None,
        retry: RetryPolicy | None,
        secrets: Iterable[str] = (),
    ) -> None:
        super().__init__(retry=retry)
        if max_alternatives < 0:
            raise ValueError("max_alternatives must be >= 0")
        self.max_alternatives = max_alternatives
        self.url = url or base_url(self.BASE_URL_ENV, self.DEFAULT_BASE_URL) + self.PATH
        self.http = JsonHttpClient(self.name, session=session, timeout=timeout, secrets=secrets)
