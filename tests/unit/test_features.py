import datetime as dt

import numpy as np
import pytest

from raincast.features import (
    FEATURE_NAMES,
    PREVIOUS_DAY_FEATURES,
    build_features,
    features_from_observations,
    features_from_table,
)
from raincast.weather.base import OBSERVATION_FIELDS, Observation
from raincast.weather.weatheraus import read_observations


@pytest.fixture(scope="module")
def table():
    return read_observations()


def column(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, FEATURE_NAMES.index(name)]


def test_observation_lists_and_tables_give_identical_rows(table):
    rows = np.arange(0, len(table), 997)  # ~125 rows across stations, years and gaps
    latitudes = np.where(rows % 2 == 0, -33.9, 51.5)  # both hemispheres
    # the day's own features (the previous day's: next test)
    day = [i for i, name in enumerate(FEATURE_NAMES) if name not in PREVIOUS_DAY_FEATURES]
    from_table = features_from_table(table, latitudes=None)[rows][:, day]
    observations = [table.observation(int(i)) for i in rows]
    from_records = features_from_observations(observations)[:, day]
    np.testing.assert_array_equal(from_records, from_table)  # NaN in the same places too

    sub_values = {name: table.values[name][rows] for name in OBSERVATION_FIELDS}
    with_lat = build_features(sub_values, table.dates[rows], latitudes)
    np.testing.assert_array_equal(
        features_from_observations(observations, list(latitudes)), with_lat
    )
    assert with_lat.shape == (len(rows), len(FEATURE_NAMES))
    # the data really has gaps: some rows miss sunshine, and they stay NaN (not dropped)
    assert np.isnan(column(from_table, "sunshine")).any()


def test_derived_features_from_one_observation():
    obs = Observation(
        date=dt.date(2020, 1, 1),
        rainfall=1.2,
        humidity_9am=80.0,
        humidity_3pm=60.0,
        pressure_9am=1015.0,
        pressure_3pm=1011.5,
        temp_9am=20.0,
        temp_3pm=25.0,
        min_temp=15.0,
        max_temp=27.0,
        wind_gust_speed=40.0,
        wind_gust_dir=90.0,  # from the east
        wind_speed_9am=0.0,  # calm: no direction reported
        wind_speed_3pm=20.0,
        wind_dir_3pm=180.0,  # from the south
    )
    x = features_from_observations([obs], -30.0)
    assert column(x, "rain_today")[0] == 1.0
    assert column(x, "humidity_change")[0] == -20.0
    assert column(x, "pressure_change")[0] == pytest.approx(-3.5)
    assert column(x, "temp_change")[0] == 5.0
    assert column(x, "temp_range")[0] == 12.0
    assert column(x, "max_minus_temp_3pm")[0] == 2.0
    assert column(x, "gust_east")[0] == pytest.approx(40.0)
    assert column(x, "gust_north")[0] == pytest.approx(0.0, abs=1e-9)
    assert column(x, "wind_9am_north")[0] == 0.0  # calm is zero, not missing
    assert column(x, "wind_3pm_north")[0] == pytest.approx(-20.0)
    # dew point below the air temperature, and equal to it at 100% humidity
    assert 10.0 < column(x, "dew_point_3pm")[0] < 25.0
    saturated = features_from_observations(
        [Observation(date=dt.date(2020, 1, 1), temp_3pm=12.0, humidity_3pm=100.0)]
    )
    assert column(saturated, "dew_point_3pm")[0] == pytest.approx(12.0)
    # missing inputs make missing features
    assert np.isnan(column(x, "cloud_change")[0])
    assert np.isnan(column(x, "sunshine")[0])


def test_season_is_hemisphere_aware_and_unknown_without_latitude():
    obs = [Observation(date=dt.date(2021, 1, 1)), Observation(date=dt.date(2021, 7, 2))]
    south = features_from_observations(obs, [-33.9, -33.9])
    north = features_from_observations(obs, [48.9, 48.9])
    # 1 January in the south is the same point of the season as early July in the north
    assert column(south, "season_cos")[0] == pytest.approx(1.0, abs=1e-3)
    assert column(north, "season_cos")[1] == pytest.approx(1.0, abs=1e-3)
    assert column(north, "season_cos")[0] == pytest.approx(-1.0, abs=1e-3)
    unknown = features_from_observations(obs)
    assert np.isnan(column(unknown, "season_cos")).all()
    assert np.isnan(column(unknown, "season_sin")).all()


def test_bad_shapes_are_rejected():
    obs = [Observation(date=dt.date(2021, 1, 1))]
    with pytest.raises(ValueError, match="latitudes"):
        features_from_observations(obs, [1.0, 2.0])
    values = {name: np.zeros(2) for name in OBSERVATION_FIELDS}
    with pytest.raises(ValueError, match="shape"):
        build_features(values, np.array(["2020-01-01"], dtype="datetime64[D]"))


def test_previous_day_of_a_table_row_is_the_same_stations_day_before(table):
    rows = np.arange(5, len(table), 1499)
    x = features_from_table(table, -25.0)[rows]
    observations = [table.observation(int(i)) for i in rows]
    previous = []
    for i in rows:
        hit = np.nonzero(
            (table.locations == table.locations[i])
            & (table.dates == table.dates[i] - np.timedelta64(1, "D"))
        )[0]
        previous.append(table.observation(int(hit[0])) if len(hit) else None)
    assert sum(p is not None for p in previous) > 0.9 * len(previous)
    # one builder: records with their previous day give exactly the table's rows
    from_records = features_from_observations(observations, -25.0, previous)
    np.testing.assert_array_equal(from_records, x)
    # and the previous-day features are really filled from the day before
    known = np.array([p is not None and p.rainfall is not None for p in previous])
    expected = np.array([p.rainfall if k else np.nan for p, k in zip(previous, known, strict=True)])
    np.testing.assert_array_equal(column(x, "rainfall_yesterday")[known], expected[known])


def test_previous_day_features_from_two_observations():
    today = Observation(
        date=dt.date(2020, 1, 2),
        pressure_9am=1008.0,
        pressure_3pm=1004.0,
        temp_3pm=18.0,
        max_temp=20.0,
        min_temp=12.0,
        humidity_3pm=95.0,
        cloud_9am=7.0,
        cloud_3pm=8.0,
        sunshine=1.5,
        wind_speed_3pm=30.0,
        wind_dir_3pm=180.0,
    )
    before = Observation(
        date=dt.date(2020, 1, 1),
        rainfall=0.4,
        pressure_9am=1015.0,
        pressure_3pm=1012.5,
        temp_3pm=25.0,
        max_temp=27.0,
        min_temp=15.0,
        humidity_3pm=60.0,
        cloud_9am=3.0,
        cloud_3pm=2.0,
        sunshine=9.0,
        wind_speed_3pm=20.0,
        wind_dir_3pm=0.0,
    )
    x = features_from_observations([today], -30.0, [before])
    assert column(x, "rainfall_yesterday")[0] == 0.4
    assert column(x, "rain_yesterday")[0] == 0.0
    assert column(x, "pressure_9am_change_24h")[0] == pytest.approx(-7.0)
    assert column(x, "pressure_3pm_change_24h")[0] == pytest.approx(-8.5)
    assert column(x, "temp_3pm_change_24h")[0] == pytest.approx(-7.0)
    assert column(x, "max_temp_change_24h")[0] == pytest.approx(-7.0)
    assert column(x, "min_temp_change_24h")[0] == pytest.approx(-3.0)
    assert column(x, "humidity_3pm_change_24h")[0] == pytest.approx(35.0)
    assert column(x, "cloud_3pm_change_24h")[0] == pytest.approx(6.0)
    assert column(x, "cloud_9am_change_24h")[0] == pytest.approx(4.0)  # 3 -> 7 oktas
    assert column(x, "sunshine_change_24h")[0] == pytest.approx(-7.5)  # 9 h -> 1.5 h
    assert column(x, "dew_point_3pm_change_24h")[0] > 0  # moister air today
    assert column(x, "wind_3pm_north_change_24h")[0] == pytest.approx(-50.0)  # N 20 -> S 30
    # the day features do not depend on the previous day
    alone = features_from_observations([today], -30.0)
    day = [i for i, name in enumerate(FEATURE_NAMES) if name not in PREVIOUS_DAY_FEATURES]
    np.testing.assert_array_equal(x[:, day], alone[:, day])
    # without a previous day (or with None for it) the previous-day features are missing
    for unknown in (alone, features_from_observations([today], -30.0, [None])):
        assert np.isnan(unknown[0, [FEATURE_NAMES.index(n) for n in PREVIOUS_DAY_FEATURES]]).all()
    with pytest.raises(ValueError, match="previous"):
        features_from_observations([today], -30.0, [before, before])


def test_features_computed_from_cloud_and_sunshine():
    from raincast.features import features_using

    assert features_using(["sunshine", "cloud_9am", "cloud_3pm"]) == (
        "sunshine",
        "cloud_9am",
        "cloud_3pm",
        "cloud_change",
        "cloud_3pm_change_24h",
        "cloud_9am_change_24h",
        "sunshine_change_24h",
    )
    assert "pressure_change" in features_using(["pressure_3pm"])
    assert "pressure_3pm_change_24h" in features_using(["pressure_3pm"])
    with pytest.raises(ValueError, match="not observation fields: cloud"):
        features_using(["cloud"])
