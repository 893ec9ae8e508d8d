"""A fake Open-Meteo (geocoding, forecast and archive) and LocationIQ server on 127.0.0.1
that fails on purpose: the fault-injection harness of the integration tests and
``benchmarks/fault_bench.py``.

It answers in the shapes of the recorded responses (``tests/fixtures/geocoding``,
``tests/fixtures/open_meteo``) for any city or point:

* ``GET /v1/search?name=...[&countryCode=..]`` (Open-Meteo geocoding) and
  ``GET /v1/search?q=...&key=...`` (LocationIQ) look the name up in raincast's offline
  GeoNames index, so a real place is found where it really is and a made-up one is not
  (Open-Meteo: no ``results`` key; LocationIQ: 404 "Unable to geocode");
* ``GET /v1/forecast`` or ``/v1/archive`` ``?latitude=..&longitude=..&start_date=..&end_date=..``
  for one or two days (what ``OpenMeteoWeather.observe`` asks: the day and the day before)
  answers the recorded Sydney forecast re-dated to each day, at the asked point. These are
  a recording's values moved, not weather: only for exercising the pipeline, never a
  forecast to read. The fault tests and the benchmark rely on this answer (every place
  found, every day the same);
* a longer period (a place's history: ``OpenMeteoWeather.history`` asks the archive for a
  year; the forecast API still takes at most 16 days) answers every day of it from
  raincast's offline replay data, real Bureau of Meteorology station observations
  (``raincast.weather.replay``), so the days vary like weather and a history has rain days
  and dry days: each day is the nearest station's observation of the same calendar day of
  a year the station covers (the whole period moved by one whole number of years, none if
  the station covers it, else so that it ends in the station's last covered year; 29
  February -> the 28th where the year has none), or the next-nearest station's within
  ``NEIGHBOUR_KM`` more where the nearest has no row that day; a day no station has is all
  nulls, as the archive answers a day it lacks. The time zone and elevation stay the
  recording's. Mapped into Open-Meteo's shape: the daily values from MinTemp, MaxTemp,
  Rainfall (``precipitation_sum``), Sunshine (hours -> seconds), WindGustSpeed and
  WindGustDir (as the dominant direction); the hourly values at 09:00 and 15:00 from the
  9am and 3pm columns (Cloud oktas -> %), the other hours null. The station's Rainfall is
  the 24 h to 9 am, not the calendar day's total: a fake, not Open-Meteo's weather.

Faults, drawn per request from one seeded random stream (``FaultProfile``): an HTTP 5xx,
a stall (the answer comes after ``stall_seconds``, longer than the client's read timeout),
a 429 with ``Retry-After`` (seconds, or an HTTP date), and latency added to every answer.
They apply to every request, histories included. ``stats`` counts the requests and what
each got. Requests sent through it as an HTTP proxy (absolute-form URLs, ``CONNECT``) are
recorded in ``proxied`` and answered the same way.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import json
import math
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
# Periods up to this many days get the recording (observe asks for the day and the day
# before); longer ones are answered from the replay data.
RECORDED_DAYS = 2
FORECAST_MAX_DAYS = 16
# The archive serves decades; a fake's answer is kept to ten years.
ARCHIVE_MAX_DAYS = 3660
# Stations this much farther than the nearest fill the days the nearest has no row for.
NEIGHBOUR_KM = 50.0


# Open-Meteo variable <- (observation field, scale): the replayed answer's daily values...
DAILY_COLUMNS: dict[str, tuple[str, float]] = {
    "temperature_2m_max": ("max_temp", 1.0),
    "temperature_2m_min": ("min_temp", 1.0),
    "precipitation_sum": ("rainfall", 1.0),
    "sunshine_duration": ("sunshine", 3600.0),  # hours -> seconds
    "wind_gusts_10m_max": ("wind_gust_speed", 1.0),
    "wind_direction_10m_dominant": ("wind_gust_dir", 1.0),
}
# ... and (09:00 field, 15:00 field, scale): its hourly values.
HOURLY_COLUMNS: dict[str, tuple[str, str, float]] = {
    "temperature_2m": ("temp_9am", "temp_3pm", 1.0),
    "relative_humidity_2m": ("humidity_9am", "humidity_3pm", 1.0),
    "pressure_msl": ("pressure_9am", "pressure_3pm", 1.0),
    "cloud_cover": ("cloud_9am", "cloud_3pm", 12.5),  # oktas -> %
    "wind_speed_10m": ("wind_speed_9am", "wind_speed_3pm", 1.0),
    "wind_direction_10m": ("wind_dir_9am", "wind_dir_3pm", 1.0),
}


def _years_earlier(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (later if negative); 29 February -> the 28th
    in a year that has none."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _years_back(first: dt.date, last: dt.date, covered_from: dt.date, covered_to: dt.date) -> int:
    """How many years to move the period ``first``..``last`` by: none if the station covers
    it all, else so that its last day falls in the station's last covered year."""
    if covered_from <= first and last <= covered_to:
        return 0
    years = last.year - covered_to.year
    if _years_earlier(last, years) > covered_to:
        years += 1
    return years


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


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (its read timeout) resets the connection: expected here, not
    a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
        self._replay: tuple[list[Any], dict[str, Any]] | None = None  # stations, series
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:  # HTTPS with the caller's certificate (CA-bundle tests)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows bytes; a TCP server has a str
            host = host.decode()
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

    def forecast(self, params: dict[str, str], path: str = "/v1/forecast") -> tuple[int, Any]:
        """Every day from ``start_date`` to ``end_date`` (at most ``FORECAST_MAX_DAYS`` from
        the forecast API, as it allows, ``ARCHIVE_MAX_DAYS`` from the archive): the recorded
        day re-dated for one or two days, the replay data's days for a longer period."""
        try:
            first = dt.date.fromisoformat(params.get("start_date", ""))
            last = dt.date.fromisoformat(params.get("end_date", ""))
        except ValueError:
            return 400, {"error": True, "reason": "start_date and end_date must be dates"}
        longest = ARCHIVE_MAX_DAYS if path == "/v1/archive" else FORECAST_MAX_DAYS
        if not 0 <= (last - first).days < longest:
            reason = f"end_date must be 0-{longest - 1} days after start_date"
            return 400, {"error": True, "reason": reason}
        try:
            lat, lon = float(params["latitude"]), float(params["longitude"])
        except (KeyError, ValueError):
            return 400, {"error": True, "reason": "Latitude and longitude must be numbers"}
        # The recording's metadata (time zone, elevation), at the asked point's grid cell.
        metadata = {k: v for k, v in self._forecast.items() if k not in ("hourly", "daily")}
        body = copy.deepcopy(metadata)
        body["latitude"], body["longitude"] = round(lat * 4) / 4, round(lon * 4) / 4
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        if len(days) <= RECORDED_DAYS:
            body.update(self._recorded(days))
        else:
            body.update(self._replayed(lat, lon, days))
        return 200, body

    def _recorded(self, days: list[dt.date]) -> dict[str, Any]:
        """The recorded day's hourly and daily blocks, once for each of ``days``."""
        stamps = [day.isoformat() for day in days]
        blocks = {}
        for block in ("hourly", "daily"):
            recorded = self._forecast[block]
            blocks[block] = {
                key: (
                    [t.replace(SYDNEY_DAY, day) for day in stamps for t in values]
                    if key == "time"
                    else [v for _ in stamps for v in values]
                )
                for key, values in recorded.items()
            }
        return blocks

    def _replay_data(self) -> tuple[list[Any], dict[str, Any]]:
        with self._lock:
            if self._replay is None:
                from raincast.weather.replay import ReplayWeather, cached_replay_data

                self._replay = (ReplayWeather().stations, cached_replay_data().series)
            return self._replay

    def _replayed(self, lat: float, lon: float, days: list[dt.date]) -> dict[str, Any]:
        """Hourly and daily blocks for ``days`` from the stations near (lat, lon)."""
        from raincast.weather.base import OBSERVATION_FIELDS
        from raincast.weather.stations import haversine_km

        stations, series = self._replay_data()
        ranked = sorted((haversine_km(lat, lon, s.lat, s.lon), s.name) for s in stations)
        nearest_km = ranked[0][0]
        names = [name for km, name in ranked if km <= nearest_km + NEIGHBOUR_KM]
        nearest = series[names[0]]
        years = _years_back(days[0], days[-1], nearest.first_date, nearest.last_date)
        column = {name: i for i, name in enumerate(OBSERVATION_FIELDS)}

        def value(row: Any, name: str, scale: float = 1.0) -> float | None:
            if row is None or math.isnan(row[column[name]]):
                return None
            observed = float(row[column[name]])
            return observed if scale == 1.0 else round(observed * scale, 2)

        hourly: dict[str, list[Any]] = {key: [] for key in HOURLY_COLUMNS}
        hourly["time"] = []
        daily: dict[str, list[Any]] = {key: [] for key in DAILY_COLUMNS}
        daily["time"] = []
        for day in days:
            source_day = _years_earlier(day, years)
            row = next(
                (r for r in (series[name].row(source_day) for name in names) if r is not None),
                None,
            )
            stamp = day.isoformat()
            daily["time"].append(stamp)
            for key, (name, scale) in DAILY_COLUMNS.items():
                daily[key].append(value(row, name, scale))
            for hour in range(24):
                hourly["time"].append(f"{stamp}T{hour:02d}:00")
                for key, (name_9am, name_3pm, scale) in HOURLY_COLUMNS.items():
                    at_hour = {9: name_9am, 15: name_3pm}.get(hour)
                    hourly[key].append(None if at_hour is None else value(row, at_hour, scale))
        return {"hourly": hourly, "daily": daily}

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
                    status, body = fake.forecast(params, parts.path)
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
