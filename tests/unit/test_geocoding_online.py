"""Open-Meteo and LocationIQ geocoders against recorded responses (``responses`` library),
the typed error mapping, and the ``get_geocoder`` factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from raincast.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RetryableProviderError,
)
from raincast.geocoding import get_geocoder
from raincast.geocoding.geonames import GeoNamesGeocoder
from raincast.geocoding.locationiq import SEARCH_URL as LIQ_URL
from raincast.geocoding.locationiq import LocationIQGeocoder, MissingApiKey
from raincast.geocoding.open_meteo import SEARCH_URL as OM_URL
from raincast.geocoding.open_meteo import OpenMeteoGeocoder
from raincast.http import parse_retry_after
from raincast.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "geocoding"
SECRET = "pk.0123456789abcdef-secret"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sent_params(call_index: int = 0) -> dict[str, list[str]]:
    return parse_qs(urlsplit(responses.calls[call_index].request.url).query)


# -- Open-Meteo ------------------------------------------------------------------------------


@responses.activate
def test_open_meteo_bare_name_takes_the_first_result_and_lists_alternatives() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_springfield.json"))
    result = OpenMeteoGeocoder(max_alternatives=3).geocode("Springfield")
    assert sent_params() == {
        "name": ["Springfield"],
        "count": ["10"],
        "language": ["en"],
        "format": ["json"],
    }
    place = result.place
    assert (place.name, place.country_code, place.admin1) == ("Springfield", "US", "Missouri")
    assert (place.lat, place.lon, place.population) == (37.21533, -93.29824, 170188)
    assert (place.timezone, place.geonameid) == ("America/Chicago", 4409896)
    assert [a.admin1 for a in result.alternatives] == ["Massachusetts", "Illinois", "Oregon"]
    assert result.provider == "open-meteo" and result.reason is None


@responses.activate
def test_open_meteo_admin1_and_country_qualifiers() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_springfield.json"))
    result = OpenMeteoGeocoder().geocode("Springfield, IL, US")
    params = sent_params()
    assert params["name"] == ["Springfield"] and params["countryCode"] == ["US"]
    assert params["count"] == ["100"]
    assert (result.place.admin1, result.place.geonameid) == ("Illinois", 4250542)
    assert result.alternatives == ()


@pytest.mark.parametrize(
    ("query", "admin1"),
    [
        ("Springfield, IL", "Illinois"),  # abbreviation -> the name the API returns
        ("Springfield, Ohio", "Ohio"),
        ("Springfield, Australia", "Queensland"),  # country by name
        ("Springfield, AU", "Queensland"),  # country by code
        ("Springfield, QLD, AU", "Queensland"),
    ],
)
@responses.activate
def test_open_meteo_qualifiers_filter_the_results(query: str, admin1: str) -> None:
    responses.get(OM_URL, json=fixture("open_meteo_springfield.json"))
    assert OpenMeteoGeocoder().geocode(query).place.admin1 == admin1


@responses.activate
def test_open_meteo_no_results_key_means_not_found() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_no_results.json"))
    result = OpenMeteoGeocoder().geocode("Xyzzyville")
    assert result.place is None and result.reason == "not found: no place named 'Xyzzyville'"


@responses.activate
def test_open_meteo_qualifier_without_match_is_not_found() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_springfield.json"))
    result = OpenMeteoGeocoder().geocode("Springfield, TX, US")
    assert result.reason == "not found: no place named 'Springfield' in TX, US"


@responses.activate
def test_open_meteo_non_ascii_name_is_encoded_and_decoded() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_sao_paulo.json"))
    result = OpenMeteoGeocoder().geocode("São Paulo")
    assert "name=S%C3%A3o+Paulo" in responses.calls[0].request.url
    assert (result.place.name, result.place.geonameid) == ("São Paulo", 3448439)


@responses.activate
def test_open_meteo_agrees_with_the_offline_index_on_a_station_town() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_wagga_wagga.json"))
    online = OpenMeteoGeocoder().geocode("Wagga Wagga").place
    offline = GeoNamesGeocoder().geocode("Wagga Wagga").place
    assert online.geonameid == offline.geonameid
    assert (online.lat, online.lon) == (offline.lat, offline.lon)


@pytest.mark.parametrize("query", ["", "   ", "x" * 500])
@responses.activate
def test_open_meteo_rejects_bad_queries_without_a_request(query: str) -> None:
    result = OpenMeteoGeocoder().geocode(query)
    assert result.place is None and result.reason
    assert len(responses.calls) == 0


@responses.activate
def test_open_meteo_400_error_body_is_a_final_provider_error() -> None:
    responses.get(OM_URL, json=fixture("open_meteo_error_400.json"), status=400)
    with pytest.raises(ProviderError) as info:
        OpenMeteoGeocoder().geocode("Springfield")
    assert not isinstance(info.value, RetryableProviderError)
    assert "Parameter count must be between 1 and 100." in str(info.value)


@responses.activate
def test_open_meteo_malformed_answers_are_provider_errors() -> None:
    responses.get(OM_URL, body="<html>Bad gateway page</html>", status=200)
    responses.get(OM_URL, json={"results": [{"name": "Nowhere"}]})
    responses.get(OM_URL, json=[1, 2])
    geocoder = OpenMeteoGeocoder()
    with pytest.raises(ProviderError, match="not JSON"):
        geocoder.geocode("a place")
    with pytest.raises(ProviderError, match="malformed result"):
        geocoder.geocode("a place")
    with pytest.raises(ProviderError, match="expected a JSON object"):
        geocoder.geocode("a place")


# -- typed, retryable errors (both providers share the client) --------------------------------


# Retries without waiting (a 429's Retry-After above 0 s ends the retries at once).
FAST = RetryPolicy(base_delay=0.001, max_delay=0.002, max_retry_after=0.0)


def _open_meteo() -> OpenMeteoGeocoder:
    return OpenMeteoGeocoder(retry=FAST)


def _locationiq() -> LocationIQGeocoder:
    return LocationIQGeocoder(api_key=SECRET, retry=FAST)


PROVIDERS = [(_open_meteo, OM_URL), (_locationiq, LIQ_URL)]


@pytest.mark.parametrize(("make", "url"), PROVIDERS)
@responses.activate
def test_timeouts_are_retryable_provider_timeouts(make: Any, url: str) -> None:
    responses.get(url, body=requests.exceptions.ReadTimeout(f"read timed out: {url}?key={SECRET}"))
    with pytest.raises(ProviderTimeout) as info:
        make().geocode("Sydney")
    assert isinstance(info.value, RetryableProviderError)
    if make is _locationiq:
        assert SECRET not in str(info.value)


@pytest.mark.parametrize(("make", "url"), PROVIDERS)
@responses.activate
def test_connection_failures_are_unavailable(make: Any, url: str) -> None:
    # requests puts the full URL (with the key) into its messages: it must be scrubbed.
    responses.get(
        url,
        body=requests.exceptions.ConnectionError(
            f"Max retries exceeded with url: /v1/search?key={SECRET}&q=Sydney"
        ),
    )
    with pytest.raises(ProviderUnavailable, match="connection failed") as info:
        make().geocode("Sydney")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    if make is _locationiq:
        assert SECRET not in str(info.value) and "key=***" in str(info.value)


@pytest.mark.parametrize(("make", "url"), PROVIDERS)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@responses.activate
def test_5xx_are_unavailable(make: Any, url: str, status: int) -> None:
    responses.get(url, json=fixture("locationiq_error_500.json"), status=status)
    with pytest.raises(ProviderUnavailable, match=f"HTTP {status}"):
        make().geocode("Sydney")
    assert len(responses.calls) == FAST.max_attempts  # retried where it failed


@pytest.mark.parametrize(("make", "url"), PROVIDERS)
@responses.activate
def test_429_is_rate_limited_with_retry_after(make: Any, url: str) -> None:
    responses.get(
        url,
        json=fixture("locationiq_error_429_rate_limited.json"),
        status=429,
        headers={"Retry-After": "30"},
    )
    with pytest.raises(ProviderRateLimited) as info:
        make().geocode("Sydney")
    assert info.value.retry_after == 30.0
    assert "Rate Limited Second" in str(info.value) and "retry after 30s" in str(info.value)
    assert len(responses.calls) == 1  # a Retry-After beyond the allowance is not waited for


@responses.activate
def test_429_without_retry_after() -> None:
    responses.get(LIQ_URL, json={"error": "Rate Limited Day"}, status=429)
    with pytest.raises(ProviderRateLimited) as info:
        _locationiq().geocode("Sydney")
    assert info.value.retry_after is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# -- LocationIQ ------------------------------------------------------------------------------


@responses.activate
def test_locationiq_sends_the_whole_query_url_encoded_with_the_key() -> None:
    responses.get(LIQ_URL, json=fixture("locationiq_springfield_il_us.json"))
    result = LocationIQGeocoder(api_key=SECRET, max_alternatives=2).geocode("Springfield, IL, US")
    url = responses.calls[0].request.url
    assert "q=Springfield%2C+IL%2C+US" in url
    assert sent_params() == {
        "key": [SECRET],
        "q": ["Springfield, IL, US"],
        "format": ["json"],
        "addressdetails": ["1"],
        "normalizecity": ["1"],
    }
    place = result.place
    assert (place.name, place.country_code, place.admin1) == ("Springfield", "US", "Illinois")
    assert (place.lat, place.lon) == (39.7990175, -89.6439575)
    assert (place.timezone, place.population, place.geonameid) == (None, None, None)
    assert len(result.alternatives) == 1 and result.alternatives[0].lat == 39.8018032


@responses.activate
def test_locationiq_encodes_non_ascii_and_reserved_characters() -> None:
    responses.get(LIQ_URL, json=fixture("locationiq_sao_paulo.json"))
    result = _locationiq().geocode("São Paulo & Co #1")
    assert "q=S%C3%A3o+Paulo+%26+Co+%231" in responses.calls[0].request.url
    assert sent_params()["q"] == ["São Paulo & Co #1"]
    assert (result.place.name, result.place.country_code, result.place.admin1) == (
        "São Paulo",
        "BR",
        "São Paulo",
    )


@responses.activate
def test_locationiq_takes_full_addresses_but_not_empty_or_huge_queries() -> None:
    responses.get(LIQ_URL, json=fixture("locationiq_springfield_il_us.json"))
    address = "Capitol Ave, Springfield, Sangamon County, IL, US"
    assert _locationiq().geocode(address).found
    assert sent_params()["q"] == [address]
    assert _locationiq().geocode("  ").reason == "empty query"
    assert _locationiq().geocode("y" * 300).reason.startswith("query too long")
    assert len(responses.calls) == 1


@responses.activate
def test_locationiq_404_unable_to_geocode_is_not_found() -> None:
    responses.get(LIQ_URL, json=fixture("locationiq_error_404_unable_to_geocode.json"), status=404)
    result = _locationiq().geocode("Xyzzyville")
    assert result.place is None and result.reason == "not found: no place matches 'Xyzzyville'"


@responses.activate
def test_locationiq_other_404_is_an_error() -> None:
    responses.get(LIQ_URL, json={"error": "Imagery not found"}, status=404)
    with pytest.raises(ProviderError, match="Imagery not found"):
        _locationiq().geocode("Sydney")


@pytest.mark.parametrize(
    ("fixture_name", "status", "text"),
    [
        ("locationiq_error_401_invalid_key.json", 401, "Invalid key"),
        ("locationiq_error_403_access_restricted.json", 403, "Access restricted"),
    ],
)
@responses.activate
def test_locationiq_auth_errors_are_final_and_never_show_the_key(
    fixture_name: str, status: int, text: str
) -> None:
    responses.get(LIQ_URL, json=fixture(fixture_name), status=status)
    with pytest.raises(ProviderError) as info:
        _locationiq().geocode("Sydney")
    assert not isinstance(info.value, RetryableProviderError)
    assert text in str(info.value) and f"HTTP {status}" in str(info.value)
    assert SECRET not in str(info.value)


@responses.activate
def test_locationiq_bad_json_is_a_provider_error() -> None:
    responses.get(LIQ_URL, body="not json at all", status=200)
    with pytest.raises(ProviderError, match="not JSON"):
        _locationiq().geocode("Sydney")


@responses.activate
def test_locationiq_empty_list_is_not_found() -> None:
    responses.get(LIQ_URL, json=[])
    assert _locationiq().geocode("Sydney").reason == "not found: no place matches 'Sydney'"


def test_locationiq_key_from_config_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCATIONIQ_API_KEY", raising=False)
    with pytest.raises(MissingApiKey, match="LOCATIONIQ_API_KEY"):
        LocationIQGeocoder()
    with pytest.raises(ValueError, match="needs an API key"):
        get_geocoder("locationiq", api_key="  ")
    monkeypatch.setenv("LOCATIONIQ_API_KEY", SECRET)
    geocoder = get_geocoder("locationiq")
    assert isinstance(geocoder, LocationIQGeocoder)
    assert SECRET not in repr(geocoder) and SECRET not in str(vars(geocoder).get("url"))


# -- factory ---------------------------------------------------------------------------------


def test_factory_names() -> None:
    assert isinstance(get_geocoder(), GeoNamesGeocoder)
    assert isinstance(get_geocoder("geonames", prefer_country="au"), GeoNamesGeocoder)
    assert isinstance(get_geocoder("open-meteo"), OpenMeteoGeocoder)
    assert isinstance(get_geocoder("Open_Meteo"), OpenMeteoGeocoder)
    assert isinstance(get_geocoder("locationiq", api_key=SECRET), LocationIQGeocoder)
    with pytest.raises(ValueError, match="valid names: geonames, open-meteo, locationiq"):
        get_geocoder("google")
    with pytest.raises(ValueError, match="bad configuration for geocoder 'open-meteo'"):
        get_geocoder("open-meteo", colour="blue")
