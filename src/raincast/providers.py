"""What every provider (geocoder, weather source) shares, after powertools' parameters
``BaseProvider`` (``get()`` owns caching and error handling, ``_get()`` is the one call a
provider writes): ``Provider.lookup`` caches answers, retries the provider call per the
``RetryPolicy`` within the lookup's deadline, and hands everything else to the subclass.
The kind-specific bases (``raincast.geocoding.base.Geocoder``,
``raincast.weather.base.WeatherSource``) add query validation and the not-found results on
top; a provider implements only ``_geocode`` / ``_observe``.

``Registry`` is the one list of providers of a kind: names, aliases, the default, and how
to make one (imported on first use, so the offline path never imports ``requests``).
"""

from __future__ import annotations

import collections
import importlib
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from raincast.retry import RetryPolicy, call_with_retries

R = TypeVar("R")
P = TypeVar("P")

DEFAULT_CACHE_SIZE = 4096


class Provider:
    """Caching and retries around a provider's own call.

    ``parallel_requests``: how many lookups a batch step may have in flight at once (1 for
    in-process providers, more for web APIs, whose time is mostly waiting).
    ``retry``: the policy for ``RetryableProviderError`` (default: ``RetryPolicy.from_env``).
    ``cache_max_age``: seconds a cached answer is served (None: as long as the provider
    lives). A warm Lambda environment keeps its providers for hours, so an online source's
    answers must age (today's weather changes during the day); offline data cannot change
    under a running environment.
    """

    name: str = "provider"
    parallel_requests: int = 1
    cache_max_age: float | None = None

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_max_age: float | None = None,
    ) -> None:
        self.retry = retry if retry is not None else RetryPolicy.from_env()
        if cache_max_age is not None:
            self.cache_max_age = cache_max_age
        # key -> (time.monotonic() when cached, answer)
        self._cache: collections.OrderedDict[Hashable, tuple[float, Any]] = (
            collections.OrderedDict()
        )
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._rng = random.Random()

    def lookup(self, key: Hashable, call: Callable[[], R], deadline: float | None) -> R:
        """The cached answer for ``key``, else ``call()`` with retries (and cached).

        Answers (found or not found) are cached for ``cache_max_age``; errors are not, so a
        later lookup tries the provider again."""
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                cached_at, answer = cached
                if self.cache_max_age is None or now - cached_at < self.cache_max_age:
                    self._cache.move_to_end(key)
                    return answer  # type: ignore[no-any-return]
                del self._cache[key]
        result = self.call(call, deadline)
        with self._cache_lock:
            self._cache[key] = (time.monotonic(), result)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result

    def call(
        self, call: Callable[[], R], deadline: float | None, retry: RetryPolicy | None = None
    ) -> R:
        """``call()`` with retries (``retry``, default the provider's policy) within
        ``deadline``, not cached (an answer too large to keep per key, e.g. a year of a
        place's observations)."""
        return call_with_retries(call, retry or self.retry, deadline, rng=self._rng)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def load(self) -> None:
        """Reads now what lookups need from disk (an offline provider's data), instead of at
        the first lookup: what a Lambda handler does in its init phase. Nothing for a
        provider that reads nothing ahead (a web API)."""


class Registry(Generic[P]):
    """The providers of one kind: ``name -> "module:Class"``, imported when first made.

    Iterating gives the names (so a registry works as argparse ``choices``); ``in`` accepts
    a name or an alias."""

    def __init__(
        self,
        kind: str,
        entries: dict[str, str],
        *,
        default: str,
        aliases: dict[str, str] | None = None,
    ) -> None:
        if default not in entries:
            raise ValueError(f"default {kind} {default!r} is not registered")
        self.kind = kind
        self.entries = dict(entries)
        self.default = default
        self.aliases = dict(aliases or {})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) is not None

    def canonical(self, name: str) -> str | None:
        """The registered name ``name`` means (case, ``_`` and aliases forgiven), or None."""
        key = (name or "").strip().lower().replace("_", "-")
        key = self.aliases.get(key, key)
        return key if key in self.entries else None

    def provider_class(self, name: str) -> type[P]:
        key = self.canonical(name)
        if key is None:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self)}")
        module_name, class_name = self.entries[key].split(":")
        cls: type[P] = getattr(importlib.import_module(module_name), class_name)
        return cls

    def create(self, name: str | None = None, **config: Any) -> P:
        """A provider by name (default: the registry's default); ``config`` goes to its
        constructor. ``ValueError`` for an unknown name (listing the valid ones) and for
        bad configuration."""
        name = name or self.default
        cls = self.provider_class(name)
        try:
            return cls(**config)
        except TypeError as exc:
            raise ValueError(f"bad configuration for {self.kind} {name!r}: {exc}") from None
