"""One JSON-over-HTTP client for every online provider (geocoders and weather sources): a
``requests.Session``, timeouts, the mapping of every failure onto the typed errors in
``raincast.errors``, and the retry policy and time budget the provider base applies to
each request (``raincast.providers``).

The mapping:

    timeout                         -> ProviderTimeout      (retryable)
    HTTP 429                        -> ProviderRateLimited  (retryable, with Retry-After)
    HTTP 5xx, connection failure    -> ProviderUnavailable  (retryable)
    TLS failure (certificate)       -> ProviderError        (final: retrying cannot fix it)
    HTTP 401/403, other 4xx, bad JSON -> ProviderError      (final)

A caller that gives a status its own meaning names it in ``accept_statuses`` and gets the
decoded body back instead of an error (LocationIQ's 404 "Unable to geocode", Open-Meteo's
400 ``{"error": true, "reason": ...}`` for a date out of range).

The session keeps requests' ``trust_env``: ``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY`` and
``REQUESTS_CA_BUNDLE`` work as in any requests program. Timeouts and retries are settings
(``RAINCAST_HTTP_*`` environment variables, read when a provider is made).

Secrets (API keys) are passed in ``secrets`` and scrubbed from every message: requests puts
the full URL, query string included, into its exception texts. For the same reason the
original exception is not chained (``from None``).

Retries are not made here but by the provider base (``raincast.retry``), around the whole
provider call; this client only caps each attempt's timeout by the lookup's deadline.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from raincast.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from raincast.retry import current_deadline, env_float

# (connect, read) seconds. The providers answer in well under a second; one slow request
# should not eat a batch's time budget.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
USER_AGENT = "raincast/0.1 (+https://github.com/raincast)"
_MAX_MESSAGE = 200

CONNECT_TIMEOUT_ENV = "RAINCAST_HTTP_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "RAINCAST_HTTP_READ_TIMEOUT"


def timeout_from_env() -> tuple[float, float]:
    """(connect, read) seconds: ``RAINCAST_HTTP_CONNECT_TIMEOUT`` / ``..._READ_TIMEOUT`` or
    the defaults."""
    return (
        env_float(CONNECT_TIMEOUT_ENV, DEFAULT_TIMEOUT[0], 0.01, 60),
        env_float(READ_TIMEOUT_ENV, DEFAULT_TIMEOUT[1], 0.01, 120),
    )


def base_url(env: str, default: str) -> str:
    """A provider's base URL: the environment variable ``env`` when set, else ``default``.
    Only http(s) URLs with a host are accepted (a clear error otherwise); a trailing slash
    is dropped so that paths join cleanly."""
    value = os.environ.get(env, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"{env}={value!r} is not an http(s) base URL such as {default!r}")
    return value.rstrip("/")


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
        timeout: float | tuple[float, float] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.provider = provider
        self.timeout = timeout if timeout is not None else timeout_from_env()
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
            response = self.session.get(url, params=dict(params), timeout=self._timeout())
        except requests.Timeout as exc:
            raise ProviderTimeout(self.provider, self._scrub(f"timed out: {exc}")) from None
        except requests.exceptions.SSLError as exc:
            raise ProviderError(self.provider, self._scrub(f"TLS failed: {exc}")) from None
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

    def _timeout(self) -> float | tuple[float, float]:
        """The configured timeout, capped by what is left of the lookup's deadline."""
        deadline = current_deadline()
        if deadline is None:
            return self.timeout
        left = max(0.01, deadline - time.monotonic())
        if isinstance(self.timeout, tuple):
            return (min(self.timeout[0], left), min(self.timeout[1], left))
        return min(self.timeout, left)

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
