"""A fake Open-Meteo (geocoding and forecast) and LocationIQ server on 127.0.0.1 that fails
on purpose: the fault-injection harness of the integration tests and
``benchmarks/fault_bench.py``.

It answers in the shapes of the recorded responses (``tests/fixtures/geocoding``,
``tests/fixtures/open_meteo``) for any city or point:

* ``GET /v1/search?name=...[&countryCode=..]`` (Open-Meteo geocoding) and
  ``GET /v1/search?q=...&key=...`` (LocationIQ) look the name up in raincast's offline
  GeoNames index, so a real place is found where it really is and a made-up one is not
  (Open-Meteo: no ``results`` key; LocationIQ: 404 "Unable to geocode");
* ``GET /v1/forecast`` or ``/v1/archive`` ``?latitude=..&longitude=..&start_date=D&end_date=D`` answers the
  recorded Sydney forecast re-dated to D, at the asked point. These are a recording's
  values moved, not weather: only for exercising the pipeline, never a forecast to read.

Faults, drawn per request from one seeded random stream (``FaultProfile``): an HTTP 5xx,
a stall (the answer comes after ``stall_seconds``, longer than the client's read timeout),
a 429 with ``Retry-After`` (seconds, or an HTTP date), and latency added to every answer.
``stats`` counts the requests and what each got. Requests sent through it as an HTTP proxy
(absolute-form URLs, ``CONNECT``) are recorded in ``proxied`` and answered the same way.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import json
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SYDNEY_FORECAST = FIXTURES / "open_meteo" / "forecast_sydney_2026-11-20.json"
SYDNEY_DAY = "2026-11-20"


@dataclass
class FaultProfile:
    """Per-request fault rates (0..1, drawn in this order) and timings, in seconds."""

    error_rate: float = 0.0  # HTTP 500/502/503/504
    timeout_rate: float = 0.0  # stall for stall_seconds, then answer
    rate_limit_rate: float = 0.0  # HTTP 429 with Retry-After
    retry_after: float = 2.0
    retry_after_as_date: bool = False
    latency: float = 0.0  # added to every answer
    stall_seconds: float = 3.0
    seed: int = 0

    def label(self) -> str:
        return (
            f"{self.error_rate:.0%} 5xx + {self.timeout_rate:.0%} timeouts + "
            f"{self.rate_limit_rate:.0%} 429 (Retry-After {self.retry_after:g} s)"
        )


@dataclass
class Stats:
    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # "ok", "5xx", "stall", "429"
    paths: Counter[str] = field(default_factory=Counter)


class FakeProviderServer:
    """``with FakeProviderServer(FaultProfile(...)) as fake: fake.url ...``"""

    def __init__(
        self, profile: FaultProfile | None = None, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.profile = profile or FaultProfile()
        self.stats = Stats()
        self.proxied: list[str] = []
        # Called with each request's path before it is answered (tests use it to act
        # mid-batch, e.g. to kill a Lambda worker).
        self.on_request: Callable[[str], None] | None = None
        self._rng = random.Random(self.profile.seed)
        self._lock = threading.Lock()
        self._forecast = json.loads(SYDNEY_FORECAST.read_text(encoding="utf-8"))
        self._geocoder: Any = None
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:  # HTTPS with the caller's certificate (CA-bundle tests)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def env(self) -> dict[str, str]:
        """The settings that point raincast's online providers here."""
        return {
            "OPEN_METEO_GEOCODING_URL": self.url,
            "OPEN_METEO_FORECAST_URL": self.url,
            "OPEN_METEO_ARCHIVE_URL": self.url,
            "LOCATIONIQ_URL": self.url,
        }

    def start(self) -> FakeProviderServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self, profile: FaultProfile | None = None) -> None:
        with self._lock:
            if profile is not None:
                self.profile = profile
            self._rng = random.Random(self.profile.seed)
            self.stats = Stats()
            self.proxied.clear()

    # -- answers ----------------------------------------------------------------------

    def _fault(self) -> str:
        with self._lock:
            self.stats.requests += 1
            p, u = self.profile, self._rng.random()
        if u < p.error_rate:
            return "5xx"
        if u < p.error_rate + p.timeout_rate:
            return "stall"
        if u < p.error_rate + p.timeout_rate + p.rate_limit_rate:
            return "429"
        return "ok"

    def _places(self, query: str, limit: int) -> list[Any]:
        with self._lock:
            if self._geocoder is None:
                from raincast.geocoding.geonames import GeoNamesGeocoder

                self._geocoder = GeoNamesGeocoder(max_alternatives=9)
            geocoder = self._geocoder
        result = geocoder.geocode(query)
        if result.place is None:
            return []
        return [result.place, *result.alternatives][:limit]

    def open_meteo_search(self, params: dict[str, str]) -> tuple[int, Any]:
        name = params.get("name", "")
        if params.get("countryCode"):
            name = f"{name}, {params['countryCode']}"
        places = self._places(name, int(params.get("count", "10")))
        body: dict[str, Any] = {"generationtime_ms": 0.5}
        if places:
            body["results"] = [
                {
                    "id": p.geonameid,
                    "name": p.name,
                    "latitude": p.lat,
                    "longitude": p.lon,
                    "feature_code": "PPL",
                    "country_code": p.country_code,
                    "admin1": p.admin1,
                    "timezone": p.timezone,
                    "population": p.population,
                }
                for p in places
            ]
        return 200, body

    def locationiq_search(self, params: dict[str, str]) -> tuple[int, Any]:
        if not params.get("key"):
            return 401, {"error": "Invalid key"}
        places = self._places(params.get("q", ""), 10)
        if not places:
            return 404, {"error": "Unable to geocode"}
        return 200, [
            {
                "place_id": str(p.geonameid),
                "licence": "https://locationiq.com/attribution",
                "lat": f"{p.lat:.7f}",
                "lon": f"{p.lon:.7f}",
                "display_name": f"{p.name}, {p.admin1 or ''}, {p.country_code}",
                "class": "place",
                "type": "city",
                "importance": 0.6,
                "address": {
                    "city": p.name,
                    "state": p.admin1,
                    "country_code": p.country_code.lower(),
                },
            }
            for p in places
        ]

    def forecast(self, params: dict[str, str]) -> tuple[int, Any]:
        """The recorded day, re-dated to each day from ``start_date`` to ``end_date`` (at
        most 16, as the API allows); the weather source asks for the day before too."""
        try:
            first = dt.date.fromisoformat(params.get("start_date", ""))
            last = dt.date.fromisoformat(params.get("end_date", ""))
        except ValueError:
            return 400, {"error": True, "reason": "start_date and end_date must be dates"}
        if not 0 <= (last - first).days < 16:
            return 400, {"error": True, "reason": "end_date must be 0-15 days after start_date"}
        try:
            lat, lon = float(params["latitude"]), float(params["longitude"])
        except (KeyError, ValueError):
            return 400, {"error": True, "reason": "Latitude and longitude must be numbers"}
        body = copy.deepcopy(self._forecast)
        body["latitude"], body["longitude"] = round(lat * 4) / 4, round(lon * 4) / 4
        days = [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        for block in ("hourly", "daily"):
            recorded = self._forecast[block]
            body[block] = {
                key: (
                    [t.replace(SYDNEY_DAY, day) for day in days for t in values]
                    if key == "time"
                    else [v for _ in days for v in values]
                )
                for key, values in recorded.items()
            }
        return 200, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:
                with fake._lock:
                    fake.proxied.append(f"CONNECT {self.path}")
                self._send(403, {"error": "the fake does not tunnel"})

            def do_GET(self) -> None:
                if self.path.startswith(("http://", "https://")):
                    with fake._lock:
                        fake.proxied.append(self.path)
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.stats.paths[parts.path] += 1
                if fake.on_request is not None:
                    fake.on_request(parts.path)
                fault = fake._fault()
                profile = fake.profile
                if profile.latency:
                    time.sleep(profile.latency)
                with fake._lock:
                    fake.stats.outcomes[fault] += 1
                if fault == "5xx":
                    with fake._lock:
                        status = fake._rng.choice((500, 502, 503, 504))
                    return self._send(status, {"error": True, "reason": "injected fault"})
                if fault == "429":
                    wait = profile.retry_after
                    header = (
                        email.utils.formatdate(time.time() + wait, usegmt=True)
                        if profile.retry_after_as_date
                        else f"{wait:g}"
                    )
                    return self._send(
                        429, {"error": "Rate Limited Second"}, {"Retry-After": header}
                    )
                if fault == "stall":
                    time.sleep(profile.stall_seconds)
                if parts.path == "/v1/search":
                    if "q" in params:
                        status, body = fake.locationiq_search(params)
                    else:
                        status, body = fake.open_meteo_search(params)
                elif parts.path in ("/v1/forecast", "/v1/archive"):
                    status, body = fake.forecast(params)
                else:
                    status, body = 404, {"error": True, "reason": f"no route {parts.path}"}
                self._send(status, body)

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its read timeout): nothing to answer

        return Handler
