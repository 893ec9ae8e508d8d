"""One JSON-over-HTTP client for the online providers: a ``requests.Session``, timeouts and
the mapping of every failure onto the typed errors in ``raincast.errors``.

The mapping is what the state machine retries on:

    timeout                         -> ProviderTimeout      (retryable)
    HTTP 429                        -> ProviderRateLimited  (retryable, with Retry-After)
    HTTP 5xx, connection failure    -> ProviderUnavailable  (retryable)
    HTTP 401/403, other 4xx, bad JSON -> ProviderError      (final)

Secrets (API keys) are passed in ``secrets`` and scrubbed from every message: requests puts
the full URL, query string included, into its exception texts.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from raincast.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

# (connect, read) seconds. Geocoders answer in well under a second; a batch should not
# hang on one city. Retries belong to the caller (the ASL Retry), not to this client.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
USER_AGENT = "raincast/0.1 (+https://github.com/raincast; geocoding)"
_MAX_MESSAGE = 200


class JsonHttpClient:
    def __init__(
        self,
        provider: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        secrets: Iterable[str] = (),
    ) -> None:
        self.provider = provider
        self.timeout = timeout
        self._session = session
        self._secrets = tuple(s for s in secrets if s)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            session.headers["Accept"] = "application/json"
            self._session = session
        return self._session

    def get(
        self, url: str, params: Mapping[str, Any], *, ok_statuses: Iterable[int] = ()
    ) -> tuple[int, Any]:
        """GET ``url`` and return (status, decoded JSON body).

        2xx and the ``ok_statuses`` (e.g. LocationIQ's 404 "Unable to geocode") return;
        everything else raises the typed error.
        """
        try:
            response = self.session.get(url, params=dict(params), timeout=self.timeout)
        except requests.Timeout as exc:
            raise ProviderTimeout(self.provider, self._scrub(f"timed out: {exc}")) from None
        except requests.ConnectionError as exc:
            raise ProviderUnavailable(
                self.provider, self._scrub(f"connection failed: {exc}")
            ) from None
        except requests.RequestException as exc:
            raise ProviderError(
                self.provider, self._scrub(f"request failed: {type(exc).__name__}: {exc}")
            ) from None

        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            detail = self._detail(response)
            raise ProviderRateLimited(
                self.provider,
                f"rate limited (HTTP 429{': ' + detail if detail else ''})"
                + (f"; retry after {retry_after:g}s" if retry_after is not None else ""),
                retry_after=retry_after,
            )
        if status >= 500:
            raise ProviderUnavailable(
                self.provider, f"server error HTTP {status}: {self._detail(response)}"
            )
        if status in (401, 403):
            raise ProviderError(
                self.provider,
                f"not authorised (HTTP {status}: {self._detail(response)}); check the API key",
            )
        if not (200 <= status < 300 or status in set(ok_statuses)):
            raise ProviderError(self.provider, f"HTTP {status}: {self._detail(response)}")
        try:
            return status, response.json()
        except ValueError:
            raise ProviderError(
                self.provider,
                f"HTTP {status} with a body that is not JSON: {self._snippet(response.text)!r}",
            ) from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    # -- messages ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:_MAX_MESSAGE] + ("..." if len(text) > _MAX_MESSAGE else "")

    def _snippet(self, text: str) -> str:
        return self._scrub(" ".join(text.split()))

    def _detail(self, response: requests.Response) -> str:
        """The provider's own error text ({"error": ...} / {"reason": ...}) or the body."""
        try:
            body = response.json()
        except ValueError:
            return self._snippet(response.text) or response.reason or ""
        if isinstance(body, dict):
            for key in ("error", "reason", "message"):
                if isinstance(body.get(key), str):
                    return self._scrub(body[key])
        return self._snippet(str(body))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
