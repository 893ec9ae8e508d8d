"""Geocoding: one interface (``Geocoder``), several providers behind it.

``get_geocoder(name, **config)`` is the one way to make a provider:

    get_geocoder()                                  # offline GeoNames index (default)
    get_geocoder("geonames", prefer_country="AU")
    get_geocoder("open-meteo", timeout=5)
    get_geocoder("locationiq", api_key="pk...")     # or LOCATIONIQ_API_KEY in the env

Providers are imported only when asked for, so the offline path never imports ``requests``.
"""

from __future__ import annotations

from typing import Any

from raincast.geocoding.base import Geocoder, GeocodeResult, Place

PROVIDERS: dict[str, str] = {
    "geonames": "raincast.geocoding.geonames:GeoNamesGeocoder",
    "open-meteo": "raincast.geocoding.open_meteo:OpenMeteoGeocoder",
    "locationiq": "raincast.geocoding.locationiq:LocationIQGeocoder",
}
DEFAULT_PROVIDER = "geonames"


def get_geocoder(name: str = DEFAULT_PROVIDER, **config: Any) -> Geocoder:
    """A geocoder by provider name; ``config`` goes to its constructor.

    Raises ``ValueError`` for an unknown name (listing the valid ones) and for bad or
    missing configuration (e.g. no LocationIQ key).
    """
    import importlib

    key = (name or "").strip().lower().replace("_", "-")
    if key == "openmeteo":
        key = "open-meteo"
    target = PROVIDERS.get(key)
    if target is None:
        valid = ", ".join(PROVIDERS)
        raise ValueError(f"unknown geocoder {name!r}; valid names: {valid}")
    module_name, class_name = target.split(":")
    cls: type[Geocoder] = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(**config)
    except TypeError as exc:
        raise ValueError(f"bad configuration for geocoder {key!r}: {exc}") from None


__all__ = ["DEFAULT_PROVIDER", "PROVIDERS", "GeocodeResult", "Geocoder", "Place", "get_geocoder"]
