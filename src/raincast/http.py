"""One JSON-over-HTTP client for every online provider (geocoders and weather sources): a
``requests.Session``, timeouts and the mapping of every failure onto the typed errors in
``raincast.errors``.

The mapping is what the state machine retries on:

    timeout                         -> ProviderTimeout      (retryable)
    HTTP 429                        -> ProviderRateLimited  (retryable, with Retry-After)
    HTTP 5xx, connection failure    -> ProviderUnavailable  (retryable)
    HTTP 401/403, other 4xx, bad JSON -> ProviderError      (final)

A caller that gives a status its own meaning names it in ``accept_statuses`` and gets the
decoded body back instead of an error (LocationIQ's 404 "Unable to geocode", Open-Meteo's
400 ``{"error": true, "reason": ...}`` for a date out of range).

Secrets (API keys) are passed in ``secrets`` and scrubbed from every message: requests puts
the full URL, query string included, into its exception texts. For the same reason the
original exception is not chained (``from None``).
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

# (connect, read) seconds. The providers answer in well under a second; a batch should not
# hang on one city. Retries belong to the caller (the ASL Retry), not to this client.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
USER_AGENT = "raincast/0.1 (+https://github.com/raincast)"
_MAX_MESSAGE = 200


class JsonHttpClient:
    """GETs JSON from one provider (``provider`` names it in every error message).

    ``session`` is created on first use unless given (tests and callers may pass their own);
    ``secrets`` are the strings to blank out of messages (the API key).
    """

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
        self, url: str, params: Mapping[str, Any], *, accept_statuses: Iterable[int] = ()
    ) -> tuple[int, Any]:
        """GET ``url`` and return (status, decoded JSON body).

        2xx and the ``accept_statuses`` (other 4xx the caller interprets itself, e.g.
        LocationIQ's 404 "Unable to geocode") return; everything else raises the typed
        error. 429, 5xx, 401 and 403 always raise, accepted or not, so that retries and key
        problems look the same for every provider. A returned body that is not JSON is a
        ``ProviderError`` too.
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
        if not (200 <= status < 300 or status in set(accept_statuses)):
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
