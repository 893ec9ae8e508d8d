"""The committed model artifact (layers/model/python/raincast_model): loads without
scikit-learn, and really scores the held-out test period of the shipped data."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import raincast_model

from raincast.features import FEATURE_NAMES, PREVIOUS_DAY_FEATURES, features_from_table
from raincast.model.artifact import FORMAT_VERSION, RainModel
from raincast.model.metrics import score
from raincast.weather.weatheraus import read_observations

ROOT = Path(__file__).resolve().parents[2]
HOLDOUT_DIR = ROOT / "benchmarks" / "holdout_model"
# The goals for a recent held-out period in Australia are AUC >= 0.895 and Brier
# skill >= 0.42; this artifact reaches 0.8967 and 0.4205 (both met; the one before it
# 0.8956 and 0.4187), so the test guards both goals.
AUC_GOAL = 0.895
BRIER_SKILL_GOAL = 0.42
# Outside Australia: the mean forecast within 2 points of the observed rain rate (met in
# New York); AUC >= 0.86 (not met: 0.84-0.85), guarded at what it reaches.
OUTSIDE_GAP_GOAL = 0.02
OUTSIDE_AUC_FLOOR = 0.84


def test_committed_artifact_loads_without_sklearn_or_scipy():
    code = (
        "import sys, datetime\n"
        "from raincast.model.artifact import RainModel\n"
        "from raincast.weather.base import Observation\n"
        "model = RainModel.load()\n"
        "day = datetime.date(2016, 6, 1)\n"
        "wet = Observation(date=day, rainfall=12.0, sunshine=0.0, humidity_9am=96.0,"
        " humidity_3pm=94.0, pressure_9am=1006.0, pressure_3pm=1002.0, cloud_9am=8.0,"
        " cloud_3pm=8.0, temp_9am=11.0, temp_3pm=12.0, min_temp=9.0, max_temp=13.0)\n"
        "dry = Observation(date=day, rainfall=0.0, sunshine=10.0, humidity_9am=45.0,"
        " humidity_3pm=20.0, pressure_9am=1026.0, pressure_3pm=1023.0, cloud_9am=0.0,"
        " cloud_3pm=1.0, temp_9am=12.0, temp_3pm=21.0, min_temp=5.0, max_temp=22.0)\n"
        "p = model.predict_observations([wet, dry], [-33.9, -33.9])\n"
        "print(float(p[0]), float(p[1]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    env_path = f"{ROOT / 'src'}:{ROOT / 'layers/model/python'}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    wet, dry = (float(v) for v in out[0].split())
    assert wet > 0.8  # raining, saturated, overcast, low and falling pressure
    assert dry < 0.1  # sunny, dry afternoon air, high pressure
    assert out[1] == "[]"


def test_committed_metadata_describes_the_model():
    model = RainModel.load()
    meta = model.metadata
    assert meta["format_version"] == FORMAT_VERSION
    assert tuple(meta["features"]) == FEATURE_NAMES
    assert set(PREVIOUS_DAY_FEATURES) <= set(meta["features"])  # yesterday is an input
    # no station identity: no station name or id, no coordinates (only the hemisphere)
    names = " ".join(meta["features"]).lower()
    assert not any(word in names for word in ("location", "station", "lat", "lon"))
    # the shipped model is refitted on everything, the test period included
    assert meta["role"] == "shipped" and meta["refit_all"] is True
    assert meta["trained_period"]["end"] == meta["periods"]["test"]["end"] == "2016-06-30"
    on_disk = json.loads(raincast_model.METADATA_PATH.read_text())
    assert on_disk == meta
    assert raincast_model.MODEL_CARD_PATH.is_file()
    size = raincast_model.ARRAYS_PATH.stat().st_size + raincast_model.METADATA_PATH.stat().st_size
    assert size < 5_000_000


def test_holdout_model_has_the_shipped_settings_and_ends_before_the_test_period():
    shipped, holdout = RainModel.load(), RainModel.load(HOLDOUT_DIR)
    assert holdout.metadata["role"] == "holdout"
    assert holdout.metadata["trained_period"]["end"] < holdout.metadata["periods"]["test"]["start"]
    assert holdout.metadata["trained_period"] == shipped.metadata["holdout_trained_period"]
    for key in ("features", "network_weight", "validation", "training", "tree_members"):
        assert holdout.metadata[key] == shipped.metadata[key], key
    np.testing.assert_array_equal(holdout.arrays["calibration"], shipped.arrays["calibration"])
    assert holdout.metadata["test_metrics"] == shipped.metadata["test_metrics"]
    # refitted, not copied
    assert holdout.metadata["artifact_id"] != shipped.metadata["artifact_id"]


def test_holdout_model_meets_the_goal_on_the_held_out_period():
    model = RainModel.load(HOLDOUT_DIR)
    table = read_observations()
    test = table.dates >= np.datetime64(model.metadata["periods"]["test"]["start"])
    x = features_from_table(table, -25.0)[test]
    p = model.predict_proba(x)
    scores = score(table.rain_tomorrow[test], p, model.metadata["climatology"])
    assert scores.rows == model.metadata["periods"]["test"]["rows"]
    assert scores.roc_auc >= AUC_GOAL
    assert scores.brier_skill >= BRIER_SKILL_GOAL
    # and these are the numbers the card reports
    assert scores.roc_auc == pytest.approx(
        model.metadata["test_metrics"]["model"]["roc_auc"], abs=1e-4
    )
    assert scores.brier_skill == pytest.approx(
        model.metadata["test_metrics"]["model"]["brier_skill"], abs=1e-4
    )
    card = raincast_model.MODEL_CARD_PATH.read_text()
    assert f"{scores.roc_auc:.4f}" in card and "Outside Australia" in card


def test_outside_australia_the_mean_forecast_is_within_two_points_of_the_rain_rate():
    from raincast.model.metrics import roc_auc
    from raincast_cli.new_york import LATITUDE, read_new_york

    table = read_new_york()
    labelled = ~np.isnan(table.rain_tomorrow)
    x = features_from_table(table, LATITUDE)[labelled]
    y = table.rain_tomorrow[labelled]
    for model in (RainModel.load(), RainModel.load(HOLDOUT_DIR)):
        p = model.predict_proba(x)
        assert abs(p.mean() - y.mean()) <= OUTSIDE_GAP_GOAL
        assert roc_auc(y, p) >= OUTSIDE_AUC_FLOOR
        reported = model.metadata["outside_metrics"]["new_york"][model.metadata["role"]]
        assert p.mean() == pytest.approx(reported["mean_forecast"], abs=1e-4)
