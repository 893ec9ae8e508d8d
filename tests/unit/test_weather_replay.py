import datetime as dt
import json
import shutil
import threading

import numpy as np
import pytest

from raincast.pipeline.prepare import check_date_available
from raincast.pipeline.records import InvalidRequest
from raincast.weather import WeatherSource, get_weather_source
from raincast.weather import replay as replay_module
from raincast.weather.base import OBSERVATION_FIELDS, WeatherResult
from raincast.weather.replay import (
    ReplayWeather,
    default_index_path,
    file_sha256,
    load_replay_data,
    write_index,
)
from raincast.weather.weatheraus import default_path, read_observations

SYDNEY = (-33.8688, 151.2093)  # the CBD: Sydney (Observatory Hill) station is 0.2 km away
SYDNEY_AIRPORT = (-33.9461, 151.1772)


@pytest.fixture(scope="module")
def table():
    return read_observations()


@pytest.fixture(scope="module")
def weather():
    return ReplayWeather()


def csv_row(table, location, date):
    hits = np.nonzero((table.locations == location) & (table.dates == np.datetime64(date)))[0]
    assert len(hits) == 1
    return table.observation(int(hits[0]))


def test_sydney_lookup_equals_the_csv_row(weather, table):
    result = weather.observe(*SYDNEY, dt.date(2015, 6, 1))
    assert result.found and result.reason is None and result.provider == "replay"
    obs = result.observation
    assert obs.source["provider"] == "replay"
    assert obs.source["station"] == "Sydney"
    assert obs.source["distance_km"] < 1
    assert (obs.source["station_lat"], obs.source["station_lon"]) == (-33.86785, 151.20732)
    expected = csv_row(table, "Sydney", "2015-06-01")
    assert obs == expected  # dataclass equality: date and every field (source excluded)
    assert obs.values() == expected.values()
    assert obs.min_temp == 10.1 and obs.pressure_9am == 1014.7 and obs.wind_gust_dir == 247.5


def test_previous_is_the_same_stations_day_before(weather, table):
    result = weather.observe(*SYDNEY, dt.date(2015, 6, 1))
    assert result.previous == csv_row(table, "Sydney", "2015-05-31")
    assert result.previous.source["station"] == "Sydney"
    # the day before the fallback station's row is that station's, not the nearest one's
    fallback = weather.observe(*SYDNEY, dt.date(2010, 6, 18))
    assert fallback.previous == csv_row(table, "SydneyAirport", "2010-06-17")
    # a station's first day has no day before
    first = weather.observe(*SYDNEY, weather.data.series["Sydney"].first_date)
    assert first.found and first.previous is None
    # and the result travels as a dict (the state machine's JSON) and back
    assert WeatherResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert WeatherResult.from_dict(first.to_dict()) == first


def test_nearest_station_wins(weather, table):
    result = weather.observe(*SYDNEY_AIRPORT, dt.date(2015, 6, 1))
    assert result.observation.source["station"] == "SydneyAirport"
    assert result.observation == csv_row(table, "SydneyAirport", "2015-06-01")


def test_index_holds_exactly_the_csv_values(weather, table):
    """Every row of the shipped index equals the CSV reader's row, NaN for NaN."""
    series = weather.data.series
    days = table.dates.astype("datetime64[D]").astype(np.int64)
    assert sum(len(s.days) for s in series.values()) == len(table)
    for location in np.unique(table.locations):
        rows = np.nonzero(table.locations == location)[0]
        rows = rows[np.argsort(days[rows])]
        s = series[str(location)]
        assert np.array_equal(s.days, days[rows])
        expected = np.column_stack([table.values[f][rows] for f in OBSERVATION_FIELDS])
        assert np.array_equal(s.values, expected, equal_nan=True), location


def test_shipped_index_was_built_from_the_shipped_csv():
    with np.load(default_index_path(), allow_pickle=False) as npz:
        built_from = str(npz["csv_sha256"])
    assert built_from == file_sha256(default_path()), "run scripts/build_replay_index.py"


def test_period_and_stations(weather):
    assert weather.first_date == dt.date(2007, 11, 1)
    assert weather.latest_date == dt.date(2016, 6, 30)
    assert len(weather.stations) == 49
    assert {"Sydney", "Uluru", "NorfolkIsland"} <= {s.name for s in weather.stations}


def test_latest_date_has_observations_in_sydney(weather):
    assert weather.observe(*SYDNEY, weather.latest_date).found


def test_no_station_within_radius_names_the_nearest(weather):
    result = weather.observe(-20.0, 125.0, dt.date(2015, 6, 1))  # Great Sandy Desert
    assert not result.found and result.observation is None
    assert result.reason == (
        "no observations near here: nearest station is Uluru (Yulara), 842 km away (radius 50 km)"
    )
    far = weather.observe(51.5, -0.12, dt.date(2015, 6, 1))  # London: Darwin, great circle
    assert far.reason.startswith("no observations near here: nearest station is Darwin, 13851 km")


def test_radius_is_configurable():
    # Goulburn is 80 km from Canberra, the nearest station: outside 50 km, inside 100 km.
    goulburn = (-34.7546, 149.7186)
    assert not ReplayWeather().observe(*goulburn, dt.date(2015, 6, 1)).found
    wide = ReplayWeather(radius_km=100).observe(*goulburn, dt.date(2015, 6, 1))
    assert wide.found and wide.observation.source["station"] == "Canberra"
    assert 50 < wide.observation.source["distance_km"] <= 100


def test_date_outside_the_data_names_the_covered_period(weather):
    result = weather.observe(*SYDNEY, dt.date(2020, 1, 1))
    assert not result.found
    assert "data covers 2007-11-01 to 2016-06-30" in result.reason
    assert result.reason.startswith("no observations on 2020-01-01")


def test_missing_day_falls_back_to_the_next_station_in_range(weather, table):
    # Sydney (Observatory Hill) has no row for 2010-06-18; Sydney Airport (9 km) has one.
    assert weather.data.series["Sydney"].row(dt.date(2010, 6, 18)) is None
    result = weather.observe(*SYDNEY, dt.date(2010, 6, 18))
    assert result.observation.source["station"] == "SydneyAirport"
    assert result.observation == csv_row(table, "SydneyAirport", "2010-06-18")


def test_station_without_that_day_says_why(weather):
    # Uluru's records start in 2013; no other station within 50 km.
    result = weather.observe(-25.24, 130.98, dt.date(2009, 6, 1))
    assert not result.found
    assert "Uluru (Yulara)" in result.reason
    assert "has records from 2013-03-01 to 2016-06-30 only" in result.reason
    assert "data covers 2007-11-01 to 2016-06-30" in result.reason


@pytest.mark.parametrize("lat, lon", [(91, 0), (0, 181), (float("nan"), 0)])
def test_bad_coordinates_raise(weather, lat, lon):
    with pytest.raises(ValueError):
        weather.observe(lat, lon, dt.date(2015, 6, 1))


def test_numpy_coordinates_are_accepted_and_strings_are_not(weather):
    assert weather.observe(np.float32(-33.8688), np.float64(151.2093), dt.date(2015, 6, 1)).found
    with pytest.raises(TypeError, match="must be numbers"):
        weather.observe("-33.8688", "151.2093", dt.date(2015, 6, 1))
    with pytest.raises(TypeError, match=r"datetime\.date"):
        weather.observe(-33.8688, 151.2093, "2015-06-01")


def test_bad_radius_raises():
    for bad in (0, -5, float("inf")):
        with pytest.raises(ValueError, match="radius_km"):
            ReplayWeather(radius_km=bad)


def test_custom_csv_and_stations(tmp_path):
    csv_path = tmp_path / "obs.csv"
    csv_path.write_text(
        "Date,Location,MinTemp,Rainfall,Pressure3pm,WindGustDir\n"
        "2020-01-02,Alpha,12.5,3.2,1009.555,SW\n"
        "2020-01-01,Alpha,11.0,NA,1010.1,N\n"
        "2020-01-01,Beta,7.25,0,NA,NA\n"
    )
    stations_path = tmp_path / "stations.csv"
    stations_path.write_text(
        "name,display_name,lat,lon,source\n"
        "Alpha,Alpha Town,-30.0,150.0,test\n"
        "Beta,Beta Town,-30.1,150.0,test\n"
    )
    weather = ReplayWeather(path=csv_path, stations_path=stations_path)
    assert (weather.first_date, weather.latest_date) == (dt.date(2020, 1, 1), dt.date(2020, 1, 2))
    obs = weather.observe(-30.0, 150.0, dt.date(2020, 1, 2)).observation
    assert (obs.min_temp, obs.rainfall, obs.pressure_3pm, obs.wind_gust_dir) == (
        12.5, 3.2, 1009.555, 225.0,
    )  # fmt: skip  # values with more than one decimal survive the int16 index exactly
    assert obs.sunshine is None
    # Alpha has no 2020-01-03... and nobody does: outside the data.
    assert (
        "data covers 2020-01-01 to 2020-01-02"
        in weather.observe(-30, 150, dt.date(2020, 1, 3)).reason
    )
    beta = weather.observe(-30.1, 150.0, dt.date(2020, 1, 1)).observation
    assert beta.source["station"] == "Beta" and beta.min_temp == 7.25 and beta.pressure_3pm is None

    # The same data through a written index file.
    index_path = tmp_path / "index.npz"
    write_index(read_observations(csv_path), index_path, "test")
    again = ReplayWeather(path=index_path, stations_path=stations_path)
    assert again.observe(-30.0, 150.0, dt.date(2020, 1, 2)).observation == obs


def test_stale_index_falls_back_to_the_csv(tmp_path, monkeypatch, caplog):
    csv_path = tmp_path / "weatherAUS.csv"
    csv_path.write_text("Date,Location,MinTemp\n2020-01-01,Sydney,10.5\n")
    index_path = tmp_path / "replay_index.npz"
    write_index(read_observations(csv_path), index_path, "sha of some other file")
    monkeypatch.setattr(replay_module, "default_index_path", lambda: index_path)
    monkeypatch.setattr(replay_module, "default_path", lambda: csv_path)
    monkeypatch.setattr(replay_module, "read_observations", lambda: read_observations(csv_path))
    data = load_replay_data()
    assert "stale" in caplog.text
    assert data.series["Sydney"].values[0][0] == 10.5
    # A missing index also falls back.
    index_path.unlink()
    assert load_replay_data().series["Sydney"].values[0][0] == 10.5
    assert "missing" in caplog.text


def test_index_without_the_csv_is_trusted(tmp_path, monkeypatch):
    index_path = tmp_path / "replay_index.npz"
    shutil.copy(default_index_path(), index_path)
    monkeypatch.setattr(replay_module, "default_index_path", lambda: index_path)
    monkeypatch.setattr(replay_module, "default_path", lambda: tmp_path / "absent.csv.gz")
    assert load_replay_data().latest_date == dt.date(2016, 6, 30)


def test_concurrent_first_use_loads_once(monkeypatch):
    monkeypatch.setattr(replay_module, "_cache", {})
    calls = []
    real = replay_module.load_replay_data

    def counting(path=None):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(replay_module, "load_replay_data", counting)
    weather = ReplayWeather()
    results, errors = [], []

    def worker():
        try:
            results.append(weather.observe(*SYDNEY, dt.date(2015, 6, 1)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(calls) == 1
    assert len({r.observation.min_temp for r in results}) == 1 and len(results) == 8


def test_factory():
    source = get_weather_source("replay", radius_km=25)
    assert isinstance(source, ReplayWeather) and isinstance(source, WeatherSource)
    assert source.radius_km == 25
    assert get_weather_source().name == "replay"
    with pytest.raises(ValueError, match="valid names: replay, open-meteo"):
        get_weather_source("darksky")


def test_replay_does_not_import_requests():
    """The offline path must not pay for the HTTP stack at cold start."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import raincast

    src = str(Path(raincast.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=src)
    code = "import sys, raincast.weather, raincast.weather.replay; print('requests' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


def test_the_period_comes_from_the_index_without_decoding_the_observations(monkeypatch):
    """The Prepare step needs the default date (the last day), not the observations:
    decoding the whole index for it cost 30-70 ms of a run's critical path."""
    monkeypatch.setattr(replay_module, "_cache", {})
    source = ReplayWeather()
    assert (source.first_date, source.latest_date) == (dt.date(2007, 11, 1), dt.date(2016, 6, 30))
    assert replay_module._cache == {}  # nothing decoded
    check_date_available("replay", "2016-06-30")
    with pytest.raises(InvalidRequest, match="2007-11-01 to 2016-06-30"):
        check_date_available("replay", "2016-07-01")
    assert replay_module._cache == {}
    # once the observations are loaded, the period is theirs
    assert replay_module.cached_replay_data().latest_date == source.latest_date


def test_a_stale_index_gives_the_csv_s_period(tmp_path, monkeypatch):
    csv_path = tmp_path / "weatherAUS.csv"
    csv_path.write_text("Date,Location,MinTemp\n2020-01-01,Sydney,10.5\n2020-01-03,Sydney,9\n")
    index_path = tmp_path / "replay_index.npz"
    shutil.copy(default_index_path(), index_path)  # built from another CSV
    monkeypatch.setattr(replay_module, "default_index_path", lambda: index_path)
    monkeypatch.setattr(replay_module, "default_path", lambda: csv_path)
    monkeypatch.setattr(replay_module, "read_observations", lambda: read_observations(csv_path))
    monkeypatch.setattr(replay_module, "_cache", {})
    monkeypatch.setattr(replay_module, "_periods", {}, raising=False)
    assert replay_module.replay_period() == (dt.date(2020, 1, 1), dt.date(2020, 1, 3))
