"""The geocoder interface every provider implements.

``Geocoder.geocode`` is the template method: it validates the query (a bad one is a
not-found result with the reason), looks in the cache, and calls the provider's own
``_geocode`` with retries within the deadline (``raincast.providers.Provider``). A provider
implements only ``_geocode(query)`` and builds its answer with ``_found`` / ``_not_found``.

Contract: ``geocode`` never raises for a name that simply does not exist; it returns a
``GeocodeResult`` with ``place=None`` and a human-readable ``reason``. It raises only
``raincast.errors.ProviderError`` (or a retryable subclass, once the retries are spent)
when the provider itself fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from raincast.geocoding.text import check_query, split_query
from raincast.providers import Provider


@dataclass(frozen=True)
class Place:
    name: str
    country_code: str  # ISO 3166-1 alpha-2, upper case ("AU")
    admin1: str | None  # first-level admin code or name as the provider gives it ("NSW", "02")
    lat: float
    lon: float
    timezone: str | None
    population: int | None
    geonameid: int | None  # GeoNames id where the provider knows it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Place:
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True)
class GeocodeResult:
    query: str
    place: Place | None
    alternatives: tuple[Place, ...] = field(default=())
    reason: str | None = None  # set when place is None ("not found: ...")
    provider: str = ""

    @property
    def found(self) -> bool:
        return self.place is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "provider": self.provider,
            "place": self.place.to_dict() if self.place else None,
            "alternatives": [p.to_dict() for p in self.alternatives],
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Query:
    """A validated query: the whole text, and its name and qualifiers when the provider
    reads qualifiers itself ("Springfield, IL, US" -> "Springfield", ["IL", "US"])."""

    text: str
    name: str
    qualifiers: tuple[str, ...] = ()


class Geocoder(Provider, ABC):
    """Turns a free-text place name into coordinates.

    ``splits_qualifiers``: the base parses ``NAME[, ADMIN1][, COUNTRY]`` and refuses other
    shapes; a provider that parses full addresses itself (LocationIQ) sets it False and gets
    the text as given (after the basic checks)."""

    name: str = "geocoder"
    splits_qualifiers: bool = True
    max_alternatives: int = 5

    def geocode(self, query: str, *, deadline: float | None = None) -> GeocodeResult:
        """Resolve ``query`` ("Springfield, IL, US", "Köln"). Never raises for unknown names.

        ``deadline``: ``time.monotonic()`` by which to give up retrying (None: no limit)."""
        problem = check_query(query)
        if problem is not None:
            return self._not_found(str(query), problem)
        text = query.strip()
        if self.splits_qualifiers:
            parsed = split_query(text)
            if isinstance(parsed, str):
                return self._not_found(query, parsed)
            name, qualifiers = parsed
            validated = Query(text, name, tuple(qualifiers))
        else:
            validated = Query(text, text)
        result = self.lookup(validated, lambda: self._geocode(validated), deadline)
        if result.query != query:  # the cache holds the first spelling's result
            result = GeocodeResult(query, result.place, result.alternatives, result.reason,
                                   result.provider)  # fmt: skip
        return result

    @abstractmethod
    def _geocode(self, query: Query) -> GeocodeResult:
        """The provider's own lookup of a validated query."""

    def _found(self, query: Query | str, places: Sequence[Place]) -> GeocodeResult:
        """The first of ``places`` (best first, at least one), the next ones as alternatives."""
        return GeocodeResult(
            query=query.text if isinstance(query, Query) else query,
            place=places[0],
            alternatives=tuple(places[1 : 1 + self.max_alternatives]),
            provider=self.name,
        )

    def _not_found(self, query: Query | str, reason: str) -> GeocodeResult:
        text = query.text if isinstance(query, Query) else query
        return GeocodeResult(query=text, place=None, reason=reason, provider=self.name)
