"""Base URLs are settings, and requests' standard environment is honoured: HTTP(S)_PROXY,
NO_PROXY and REQUESTS_CA_BUNDLE, against the fake provider server on 127.0.0.1 (which
records what reaches it, also as a proxy)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.provider_server import FakeProviderServer

from raincast.errors import ProviderError, ProviderUnavailable
from raincast.geocoding import get_geocoder
from raincast.retry import RetryPolicy
from raincast.weather import get_weather_source

ONCE = RetryPolicy(max_attempts=1)
RECENT = dt.date.today() - dt.timedelta(days=3)  # a day the forecast API serves
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE",
                   "CURL_CA_BUNDLE")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


def test_base_urls_come_from_the_environment(monkeypatch, fake) -> None:
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value + "/")  # a trailing slash is fine
    place = get_geocoder("open-meteo").geocode("Hobart, AU").place
    assert place is not None and place.name == "Hobart"
    found = get_geocoder("locationiq", api_key="pk.test").geocode("Hobart, Australia").place
    assert found is not None and found.country_code == "AU"
    weather = get_weather_source("open-meteo").observe(place.lat, place.lon, RECENT)
    assert weather.found and weather.observation.date == RECENT
    old = get_weather_source("open-meteo").observe(place.lat, place.lon, dt.date(2015, 6, 1))
    assert old.found and old.observation.date == dt.date(2015, 6, 1)
    assert dict(fake.stats.paths) == {"/v1/search": 2, "/v1/forecast": 1, "/v1/archive": 1}


@pytest.mark.parametrize("value", ["ftp://mirror.example", "mirror.example", "http://x/?a=1"])
def test_a_bad_base_url_is_refused_clearly(monkeypatch, value) -> None:
    monkeypatch.setenv("OPEN_METEO_FORECAST_URL", value)
    with pytest.raises(ValueError, match=r"OPEN_METEO_FORECAST_URL=.* is not an http"):
        get_weather_source("open-meteo")


def test_http_proxy_is_used_and_no_proxy_bypasses_it(monkeypatch, fake) -> None:
    # A host that does not resolve: only the proxy can answer for it.
    monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", "http://geocoding.open-meteo.invalid")
    monkeypatch.setenv("HTTP_PROXY", fake.url)
    place = get_geocoder("open-meteo", retry=ONCE).geocode("Darwin, AU").place
    assert place is not None and place.name == "Darwin"
    assert len(fake.proxied) == 1
    assert fake.proxied[0].startswith("http://geocoding.open-meteo.invalid/v1/search?name=Darwin")

    monkeypatch.setenv("NO_PROXY", "geocoding.open-meteo.invalid")
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        get_geocoder("open-meteo", retry=ONCE).geocode("Perth, AU")
    assert len(fake.proxied) == 1  # the second request did not go through the proxy


def test_https_proxy_gets_the_tunnel_request(monkeypatch, fake) -> None:
    monkeypatch.setenv("OPEN_METEO_FORECAST_URL", "https://api.open-meteo.invalid")
    monkeypatch.setenv("HTTPS_PROXY", fake.url)
    with pytest.raises(ProviderUnavailable):  # the fake refuses to tunnel
        get_weather_source("open-meteo", retry=ONCE).observe(-42.9, 147.3, RECENT)
    assert fake.proxied == ["CONNECT api.open-meteo.invalid:443"]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raincast test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_requests_ca_bundle_is_honoured(monkeypatch, tmp_path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FakeProviderServer(tls=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", server.url)
        # An unknown CA is a final error (retrying cannot fix a certificate), not retried.
        with pytest.raises(ProviderError, match="TLS failed") as info:
            get_geocoder("open-meteo").geocode("Cairns, AU")
        assert not isinstance(info.value, ProviderUnavailable)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        place = get_geocoder("open-meteo").geocode("Cairns, AU").place
        assert place is not None and place.name == "Cairns"
