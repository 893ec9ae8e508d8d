"""Geocoding: one interface (``Geocoder``), several providers behind it."""

from raincast.geocoding.base import Geocoder, GeocodeResult, Place

__all__ = ["GeocodeResult", "Geocoder", "Place"]
