"""``raincast train`` end to end on a subset of the shipped data with a tiny configuration
(the real configuration takes minutes; its output is the committed artifact)."""

import functools
import gzip

import numpy as np
import pytest

from raincast.features import features_from_table
from raincast.model.artifact import RainModel
from raincast.model.metrics import roc_auc
from raincast.weather.weatheraus import default_path, read_observations
from raincast_cli import training
from raincast_cli.cli import main


@pytest.fixture()
def small_data(tmp_path):
    with gzip.open(default_path(), "rt", encoding="utf-8") as handle:
        lines = handle.readlines()
    path = tmp_path / "subset.csv"
    # ~8k rows over all years, in pairs of consecutive days (the file is sorted by station
    # and date) so that the previous-day features are there
    path.write_text(lines[0] + "".join(line for i, line in enumerate(lines[1:]) if i % 30 < 2))
    return path


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_train_writes_a_loadable_artifact_and_card(tmp_path, small_data, monkeypatch, capsys):
    tiny = functools.partial(
        training.TrainingConfig,
        tree_members=1,
        tree_params={"max_iter": 20, "max_leaf_nodes": 7},
        networks=1,
        network_hidden=(8,),
        network_max_iter=20,
        jobs=1,  # progress of worker processes is not captured here (next test: jobs > 1)
    )
    monkeypatch.setattr(training, "TrainingConfig", tiny)
    out = tmp_path / "model"
    assert main(["train", "--data", str(small_data), "--out", str(out), "--no-forest"]) == 0
    captured = capsys.readouterr()
    assert "| **raincast model** |" in captured.out
    assert "persistence" in captured.out
    assert "stage 2 (train period): network 1/1" in captured.err  # progress is shown
    model = RainModel.load(out)
    # the protocol: choose on 2014, score the holdout model on 2015-, ship the refit on all
    assert model.metadata["role"] == "shipped"
    assert model.metadata["trained_period"]["end"] == model.metadata["periods"]["test"]["end"]
    assert "stage 3 (all rows): network 1/1" in captured.err
    holdout = RainModel.load(out / "holdout")
    assert holdout.metadata["role"] == "holdout"
    assert holdout.metadata["trained_period"]["end"] == "2014-12-31"
    assert holdout.metadata["periods"]["test"]["start"] >= "2015-01-01"
    assert set(model.metadata["test_metrics"]) == {"model", "climatology", "persistence"}
    assert holdout.metadata["test_metrics"] == model.metadata["test_metrics"]
    # the reported test score is the holdout model's, reproducible from its artifact
    table = read_observations(small_data)
    test = table.dates >= np.datetime64("2015-01-01")
    p_test = holdout.predict_proba(features_from_table(table, -25.0)[test])
    labelled = ~np.isnan(table.rain_tomorrow[test])
    reported = model.metadata["test_metrics"]["model"]["roc_auc"]
    assert roc_auc(table.rain_tomorrow[test][labelled], p_test[labelled]) == pytest.approx(
        reported, abs=1e-5
    )
    # and the shipped model differs from it (it has seen the test period)
    assert not np.allclose(model.predict_proba(features_from_table(table, -25.0)[test]), p_test)
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Limits" in card and "no station identity" in card.lower()
    p = model.predict_proba(np.full((3, len(model.features)), np.nan))
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


def test_train_refuses_a_bad_data_file(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("Location,Rainfall\nSydney,1\n")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "missing column(s) Date" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_stages_fitted_side_by_side_equal_those_fitted_one_after_the_other(small_data):
    from raincast.features import FEATURE_NAMES

    table = read_observations(small_data)
    x = features_from_table(table, -25.0)
    y = table.rain_tomorrow
    labelled = ~np.isnan(y)
    x, y = x[labelled], y[labelled]
    early = table.dates[labelled] < np.datetime64("2012-01-01")
    stages = [("early", early), ("all", np.ones(len(y), dtype=bool))]
    config = training.TrainingConfig(
        tree_members=1,
        tree_params={"max_iter": 10, "max_leaf_nodes": 7},
        networks=1,
        network_hidden=(4,),
        network_max_iter=10,
    )
    messages: list[str] = []
    side_by_side = training.fit_stages(x, y, stages, config, messages.append)
    sequential = training.fit_stages(
        x, y, stages, training.TrainingConfig(**{**config.__dict__, "jobs": 1}), messages.append
    )
    assert "fitting 2 stages in 2 processes" in messages[0]
    assert x.shape[1] == len(FEATURE_NAMES)
    for a, b in zip(side_by_side, sequential, strict=True):
        np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    # the stages really differ (each is fitted on its own rows)
    assert not np.array_equal(side_by_side[0].predict_proba(x), side_by_side[1].predict_proba(x))


def test_tree_members_also_learn_from_rows_with_cloud_and_sunshine_masked(small_data):
    from raincast.features import FEATURE_NAMES

    table = read_observations(small_data)
    x = features_from_table(table, -25.0)
    y = table.rain_tomorrow
    fields = ("sunshine", "cloud_9am", "cloud_3pm")
    masked = [
        FEATURE_NAMES.index(n)
        for n in (
            "sunshine",
            "cloud_9am",
            "cloud_3pm",
            "cloud_change",
            "cloud_3pm_change_24h",
            "cloud_9am_change_24h",
            "sunshine_change_24h",
        )
    ]
    x_aug, y_aug = training.with_masked_copies(x, y, fields)
    has = ~np.isnan(x[:, masked]).all(axis=1)
    assert 0 < has.sum() < len(x)  # some rows have cloud or sunshine, some have neither
    assert len(x_aug) == len(x) + has.sum()
    np.testing.assert_array_equal(x_aug[: len(x)], x)  # the rows themselves, unchanged
    copies = x_aug[len(x) :]
    assert np.isnan(copies[:, masked]).all()
    others = [j for j in range(len(FEATURE_NAMES)) if j not in masked]
    np.testing.assert_array_equal(copies[:, others], x[has][:, others])
    np.testing.assert_array_equal(y_aug, np.concatenate([y, y[has]]))
    assert training.with_masked_copies(x, y, ()) == (x, y)
    x_part, _ = training.with_masked_copies(x, y, fields, fraction=0.3, seed=1)
    assert 0.25 * has.sum() < len(x_part) - len(x) < 0.35 * has.sum()

    # the trees are fitted on the copies too
    from sklearn.ensemble import HistGradientBoostingClassifier

    labelled = ~np.isnan(y)
    x, y = x[labelled], y[labelled]
    params = {"max_iter": 5, "max_leaf_nodes": 7}
    config = training.TrainingConfig(
        tree_members=1,
        tree_params=params,
        networks=1,
        network_hidden=(4,),
        network_max_iter=5,
        masked_copy_fields=fields,
        masked_copy_fraction=1.0,
    )
    ensemble = training.fit_ensemble(x, y, config, lambda message: None, "test")
    on_copies = HistGradientBoostingClassifier(random_state=0, **params).fit(
        *training.with_masked_copies(x, y, fields)
    )
    without = HistGradientBoostingClassifier(random_state=0, **params).fit(x, y)
    np.testing.assert_array_equal(ensemble.predict_trees(x), on_copies.predict_proba(x)[:, 1])
    assert not np.array_equal(ensemble.predict_trees(x), without.predict_proba(x)[:, 1])
