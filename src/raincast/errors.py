"""Errors shared by every provider (geocoders and weather sources).

The split matters to the state machine: a ``RetryableProviderError`` is raised out of a
Lambda handler so that the ASL ``Retry`` on its class name backs off and tries again; a
plain ``ProviderError`` (bad key, malformed answer) is final and becomes a per-item error.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A provider answered in a way we cannot use. Not worth retrying."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class RetryableProviderError(ProviderError):
    """A transient provider failure: worth retrying with backoff."""


class ProviderTimeout(RetryableProviderError):
    """The provider did not answer within the configured timeout."""


class ProviderRateLimited(RetryableProviderError):
    """HTTP 429: the provider asks us to slow down."""

    def __init__(self, provider: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class ProviderUnavailable(RetryableProviderError):
    """HTTP 5xx or a connection failure."""
