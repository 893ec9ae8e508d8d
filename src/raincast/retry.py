"""Retrying a provider call: bounded attempts, exponential backoff with full jitter,
``Retry-After`` honoured, all within a deadline (the Lambda's remaining time).

Written here rather than taken from urllib3's ``Retry`` or a retry library because the
loop has to stop at the caller's deadline, let each attempt's timeout shrink to what is
left (``current_deadline``, read by ``raincast.http``), give up at once when a
``Retry-After`` would outlast the budget, and retry on the typed provider errors, which
also come from answers a status code does not describe. No ``requests`` here: offline
providers share the base without importing it.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from raincast.errors import ProviderRateLimited, ProviderTimeout, RetryableProviderError

MAX_ATTEMPTS_ENV = "RAINCAST_HTTP_MAX_ATTEMPTS"

T = TypeVar("T")


def env_float(name: str, default: float, low: float, high: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={text!r} is not between {low:g} and {high:g}")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts with exponential backoff and full jitter (AWS's "full jitter":
    a uniform wait between 0 and ``min(max_delay, base_delay * 2**(n-1))``), honouring a
    429's ``Retry-After`` up to ``max_retry_after`` seconds (longer, and the lookup gives up
    at once: the provider has said it will not answer in time).

    A lookup stops after ``max_attempts`` attempts or once ``max_elapsed`` seconds have
    passed since its first attempt (no new attempt starts later), whichever comes first:
    many attempts ride out a flaky provider, the elapsed bound keeps the worst case small
    enough to size the Lambda Timeout from (``worst_case_seconds``)."""

    max_attempts: int = 10
    base_delay: float = 0.5
    max_delay: float = 4.0
    max_retry_after: float = 30.0
    max_elapsed: float = 60.0
    # False: a 429 ends the lookup at once (for requests that must not spend a quota the
    # provider shares with more important ones: the Predict step's history requests)
    retry_rate_limited: bool = True

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(max_attempts=int(env_float(MAX_ATTEMPTS_ENV, cls.max_attempts, 1, 20)))

    def delay(
        self, attempt: int, error: RetryableProviderError, rng: random.Random
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based), or None: give up."""
        if attempt >= self.max_attempts:
            return None
        if isinstance(error, ProviderRateLimited) and not self.retry_rate_limited:
            return None
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            # The provider's time is a minimum; a little jitter keeps the retries of a
            # batch's parallel requests from arriving together.
            return error.retry_after + rng.uniform(0, self.base_delay)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def worst_case_seconds(self, timeout: float | tuple[float, float]) -> float:
        """The longest one lookup can take under this policy: the last attempt starts at
        most ``max_elapsed`` after the first, and takes at most one attempt's timeout."""
        per_attempt = sum(timeout) if isinstance(timeout, tuple) else 2 * timeout
        waits = max(self.max_delay, self.max_retry_after + self.base_delay)
        by_count = self.max_attempts * per_attempt + (self.max_attempts - 1) * waits
        return min(by_count, self.max_elapsed + per_attempt)


# The most cities one batch holds (the state machine's ItemBatcher MaxItemsPerBatch).
BATCH_SIZE = 25
# Lookups of one web-provider batch in flight at once (the providers' parallel_requests).
PARALLEL_REQUESTS = 8


def batch_worst_case_seconds(
    policy: RetryPolicy,
    timeout: float | tuple[float, float],
    batch_size: int = BATCH_SIZE,
    parallel: int = PARALLEL_REQUESTS,
) -> float:
    """The longest a batch's lookups can take: rounds of ``parallel`` lookups, each at its
    worst. The Lambda Timeout of a provider step is sized from this."""
    rounds = -(-batch_size // parallel)
    return rounds * policy.worst_case_seconds(timeout)


# The deadline (time.monotonic() seconds) of the lookup running on this thread, set by the
# provider base for the duration of one lookup: each attempt's timeout is capped by it.
_local = threading.local()


def current_deadline() -> float | None:
    return getattr(_local, "deadline", None)


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    deadline: float | None,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()`` until it returns, retrying ``RetryableProviderError`` per ``policy`` and
    never past ``deadline`` (monotonic seconds; None: no deadline). The last error is raised
    when the attempts, the Retry-After allowance or the time run out."""
    rng = rng or random.Random()
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    last_start = time.monotonic() + policy.max_elapsed  # no attempt starts after this
    if deadline is not None:
        last_start = min(last_start, deadline)
    try:
        attempt = 0
        while True:
            attempt += 1
            if deadline is not None and time.monotonic() >= deadline:
                raise ProviderTimeout("raincast", "out of time before the request was sent")
            try:
                return call()
            except RetryableProviderError as exc:
                wait = policy.delay(attempt, exc, rng)
                if wait is None:
                    raise
                if time.monotonic() + wait >= last_start:
                    raise
                sleep(wait)
    finally:
        _local.deadline = previous
