"""The geocoder interface every provider implements.

Contract: ``geocode`` never raises for a name that simply does not exist; it returns a
``GeocodeResult`` with ``place=None`` and a human-readable ``reason``. It raises only
``raincast.errors.ProviderError`` (or a retryable subclass) when the provider itself fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any


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


class Geocoder(ABC):
    """Turns a free-text place name into coordinates."""

    name: str = "geocoder"

    @abstractmethod
    def geocode(self, query: str) -> GeocodeResult:
        """Resolve ``query`` ("Springfield, IL, US", "Köln"). Never raises for unknown names."""
