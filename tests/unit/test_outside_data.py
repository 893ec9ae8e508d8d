"""The out-of-domain check data sets other than New York (test_new_york.py), and how the
model card shows them."""

import csv

import numpy as np
import pytest

from raincast.features import FEATURE_NAMES, features_from_table
from raincast.model.card import outside_note, outside_table
from raincast_cli.outside_data import data_sets
from raincast_cli.seattle import data_path, read_seattle


def test_seattle_days_carry_rain_and_temperatures_and_the_next_days_rain_as_label():
    table = read_seattle()
    with open(data_path(), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(table) == len(rows) == 1461
    i = next(k for k, r in enumerate(rows) if r["date"] == "2013/11/05")
    assert table.dates[i] == np.datetime64("2013-11-05")
    assert table.values["rainfall"][i] == float(rows[i]["precipitation"])
    assert table.values["max_temp"][i] == float(rows[i]["temp_max"])
    assert table.rain_tomorrow[i] == float(float(rows[i + 1]["precipitation"]) > 1.0)
    assert np.isnan(table.rain_tomorrow[-1])  # no next day in the file
    # the fields it lacks stay missing, never filled in
    assert np.isnan(table.values["humidity_3pm"]).all()
    x = features_from_table(table, 47.6)
    assert not np.isnan(x[:, FEATURE_NAMES.index("rainfall_yesterday")][1:]).any()
    assert np.isnan(x[:, FEATURE_NAMES.index("pressure_3pm")]).all()


def test_every_outside_data_set_reads_and_has_both_classes():
    keys = [d.key for d in data_sets()]
    assert keys == ["new_york", "seattle", "world_cities"]
    for data in data_sets():
        table = data.read()
        labels = table.rain_tomorrow[~np.isnan(table.rain_tomorrow)]
        assert 0.1 < labels.mean() < 0.5 and len(labels) > 1000
        # north of the equator (the season is shifted) but for Auckland
        latitudes = np.broadcast_to(data.latitudes(table), (len(table),))
        south = set(table.locations[latitudes < 0])
        assert south == ({"Auckland"} if data.key == "world_cities" else set())


@pytest.fixture()
def outside():
    scores = {"roc_auc": 0.84, "brier_skill": 0.35, "rows": 1044, "rain_rate": 0.234}
    return {
        "new_york": {  # an older artifact: no title or inputs in its metadata
            "holdout": {**scores, "mean_forecast": 0.226},
            "shipped": {**scores, "mean_forecast": 0.205},
        },
        "seattle": {
            "title": "Seattle, 2012-2015",
            "inputs": "rain only",
            "shipped": {**scores, "mean_forecast": 0.234},
        },
    }


def test_the_card_shows_every_place_and_says_how_far_off_its_mean_forecast_is(outside):
    table = outside_table(outside)
    assert table.count("\n") == 4  # header, rule and three rows
    assert "| New York airports (EWR, JFK, LGA), 2013 |  | **shipped** (refit on all) |" in table
    assert "| Seattle, 2012-2015 | rain only | **shipped** (refit on all) | 0.8400 |" in table
    note = outside_note(outside)
    assert "New York airports (EWR, JFK, LGA), 2013: the shipped model's mean forecast is " in note
    assert "2.9 points below the observed rain rate (misses the goal of at most 2)" in note
    assert "Seattle, 2012-2015: the shipped model's mean forecast is 0.0 points" in note
    assert note.count("(meets the goal of at most 2)") == 1
    assert "Not measured" in outside_table({})
