"""Geocoding: one interface (``Geocoder``), several providers behind it.

``GEOCODERS`` is the one list of providers; ``get_geocoder(name, **config)`` makes one:

    get_geocoder()                                  # offline GeoNames index (default)
    get_geocoder("geonames", prefer_country="AU")
    get_geocoder("open-meteo", timeout=5)
    get_geocoder("locationiq", api_key="pk...")     # or LOCATIONIQ_API_KEY in the env

Providers are imported only when asked for, so the offline path never imports ``requests``.
"""

from __future__ import annotations

from typing import Any

from raincast.geocoding.base import Geocoder, GeocodeResult, Place
from raincast.providers import Registry

GEOCODERS: Registry[Geocoder] = Registry(
    "geocoder",
    {
        "geonames": "raincast.geocoding.geonames:GeoNamesGeocoder",
        "open-meteo": "raincast.geocoding.open_meteo:OpenMeteoGeocoder",
        "locationiq": "raincast.geocoding.locationiq:LocationIQGeocoder",
    },
    default="geonames",
    aliases={"openmeteo": "open-meteo"},
)
DEFAULT_PROVIDER = GEOCODERS.default


def get_geocoder(name: str = DEFAULT_PROVIDER, **config: Any) -> Geocoder:
    """A geocoder by provider name; ``config`` goes to its constructor.

    Raises ``ValueError`` for an unknown name (listing the valid ones) and for bad or
    missing configuration (e.g. no LocationIQ key).
    """
    return GEOCODERS.create(name, **config)


__all__ = ["DEFAULT_PROVIDER", "GEOCODERS", "GeocodeResult", "Geocoder", "Place", "get_geocoder"]
