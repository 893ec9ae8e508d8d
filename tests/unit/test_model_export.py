"""The exported artifact reproduces the trained scikit-learn ensemble (small model, data
subset: no full training here)."""

import json

import numpy as np
import pytest

from raincast.features import features_from_table, previous_rows
from raincast.model.artifact import (
    ARRAYS_NAME,
    METADATA_NAME,
    ModelArtifactError,
    RainModel,
    write_artifact,
)
from raincast.weather.weatheraus import read_observations
from raincast_cli.training import TrainingConfig, export_arrays, fit_ensemble


@pytest.fixture(scope="module")
def small_ensemble():
    table = read_observations()
    rows = np.arange(0, len(table), 25)  # 5k rows
    x = features_from_table(table, -25.0)[rows]
    y = table.rain_tomorrow[rows]
    config = TrainingConfig(
        tree_members=2,
        tree_params={"max_iter": 40, "max_leaf_nodes": 15, "max_features": 0.5},
        networks=2,
        network_hidden=(16, 8),
        network_max_iter=40,
    )
    ensemble = fit_ensemble(x, y, config, lambda message: None, "test")
    ensemble.network_weight = 0.3
    ensemble.calibration = np.array([1.07, -0.04])
    return ensemble, x, table, rows


@pytest.fixture()
def artifact_dir(tmp_path, small_ensemble):
    ensemble, *_ = small_ensemble
    arrays, layout = export_arrays(ensemble)
    write_artifact(tmp_path, arrays, {"features": list(_feature_names()), **layout})
    return tmp_path


def _feature_names():
    from raincast.features import FEATURE_NAMES

    return FEATURE_NAMES


def test_exported_predictions_equal_the_estimators(small_ensemble, artifact_dir):
    ensemble, x, *_ = small_ensemble
    model = RainModel.load(artifact_dir)
    # rows with missing values included: NaN routing must match the trees' own
    assert np.isnan(x).any(axis=1).mean() > 0.3
    expected = ensemble.predict_proba(x)
    got = model.predict_proba(x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # the members separately, too (a blend could hide an error in one of them)
    np.testing.assert_allclose(
        model.predict_network(x), ensemble.predict_network(x), rtol=0, atol=1e-9
    )
    raw = model.predict_raw(x)
    for m, tree_model in enumerate(ensemble.trees):
        np.testing.assert_allclose(raw[:, m], tree_model.decision_function(x), rtol=0, atol=1e-9)
    assert 0.0 < got.min() < got.max() < 1.0


def test_predict_observations_matches_the_feature_matrix(small_ensemble, artifact_dir):
    _, x, table, rows = small_ensemble
    model = RainModel.load(artifact_dir)
    observations = [table.observation(int(i)) for i in rows[:50]]
    before = previous_rows(table)[rows[:50]]
    previous = [table.observation(int(i)) if i >= 0 else None for i in before]
    got = model.predict_observations(observations, [-25.0] * 50, previous)
    np.testing.assert_array_equal(got, model.predict_proba(x[:50]))
    assert model.predict_observations([]).shape == (0,)


def test_load_is_cached_per_directory(artifact_dir):
    assert RainModel.load(artifact_dir) is RainModel.load(str(artifact_dir))


def test_artifact_is_not_a_pickle(artifact_dir):
    with np.load(artifact_dir / ARRAYS_NAME, allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
    metadata = json.loads((artifact_dir / METADATA_NAME).read_text())
    assert metadata["format_version"] == 1
    assert len(metadata["artifact_id"]) == 32


def _rewrite_metadata(directory, **changes):
    path = directory / METADATA_NAME
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format_version": 99}, "format version 99"),
        ({"format": "something-else"}, "not a raincast-rain-model"),
        ({"features": ["humidity_3pm", "station_id"]}, "does not make: station_id"),
        ({"features": ["humidity_3pm"]}, "other features than the 1 listed"),
        ({"artifact_id": "0" * 32}, "does not match"),
    ],
)
def test_inconsistent_artifacts_are_refused(artifact_dir, change, message):
    _rewrite_metadata(artifact_dir, **change)
    with pytest.raises(ModelArtifactError, match=message):
        RainModel._read(artifact_dir)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format_version": 99}, "format version 99"),
        ({"features": ["humidity_3pm", "station_id"]}, "does not make: station_id"),
        ({"artifact_id": "0" * 32}, "does not match"),
    ],
)
def test_read_metadata_refuses_what_load_refuses(artifact_dir, change, message):
    _rewrite_metadata(artifact_dir, **change)
    with pytest.raises(ModelArtifactError, match=message):
        RainModel.read_metadata(artifact_dir)


def test_read_metadata_checks_the_artifact_id_without_reading_the_arrays(artifact_dir):
    metadata = json.loads((artifact_dir / METADATA_NAME).read_text())
    assert (
        RainModel.read_metadata(artifact_dir) == metadata == RainModel.load(artifact_dir).metadata
    )
    # an arrays file with nothing but the artifact_id: enough for the metadata, not a model
    id_only = artifact_dir / "id-only"
    id_only.mkdir()
    (id_only / METADATA_NAME).write_text(json.dumps(metadata))
    np.savez(id_only / ARRAYS_NAME, artifact_id=np.array(metadata["artifact_id"]))
    assert RainModel.read_metadata(id_only) == metadata
    with pytest.raises(ModelArtifactError, match="missing arrays"):
        RainModel.load(id_only)


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(ModelArtifactError, match="no model metadata"):
        RainModel.load(tmp_path)


def test_wrong_feature_width_is_refused(artifact_dir):
    model = RainModel.load(artifact_dir)
    with pytest.raises(ValueError, match="features must be"):
        model.predict_proba(np.zeros((2, 3)))


def test_an_artifact_on_a_subset_of_the_features_scores_its_own_columns(small_ensemble, tmp_path):
    """An artifact trained before features were added (a prefix of today's list, like the
    one-day model before the previous-day features) loads and scores exactly as trained."""
    from raincast.features import FEATURE_NAMES, PREVIOUS_DAY_FEATURES

    _, x, table, rows = small_ensemble
    names = [f for f in FEATURE_NAMES if f not in PREVIOUS_DAY_FEATURES]
    columns = [FEATURE_NAMES.index(f) for f in names]
    y = table.rain_tomorrow[rows]
    config = TrainingConfig(
        tree_members=1,
        tree_params={"max_iter": 20, "max_leaf_nodes": 7},
        networks=1,
        network_hidden=(8,),
        network_max_iter=20,
        masked_copy_fields=(),  # as then: the masked copies came later
    )
    ensemble = fit_ensemble(x[:, columns], y, config, lambda message: None, "subset")
    ensemble.network_weight = 0.4
    arrays, layout = export_arrays(ensemble)
    write_artifact(tmp_path, arrays, {"features": names, **layout})
    model = RainModel.load(tmp_path)
    assert model.features == tuple(names)
    np.testing.assert_allclose(
        model.predict_proba(x), ensemble.predict_proba(x[:, columns]), rtol=0, atol=1e-9
    )


def test_rows_without_cloud_and_sunshine_get_the_masked_calibration(small_ensemble, tmp_path):
    from dataclasses import replace

    from raincast.features import features_using
    from raincast.model.artifact import platt

    ensemble, x, *_ = small_ensemble
    masked = features_using(["sunshine", "cloud_9am", "cloud_3pm"])
    with_masked = replace(ensemble, masked_features=masked, masked_calibration=np.array([0.9, 0.5]))
    arrays, layout = export_arrays(with_masked)
    assert layout["masked_calibration_features"] == list(masked)
    write_artifact(tmp_path, arrays, {"features": list(_feature_names()), **layout})
    model = RainModel.load(tmp_path)
    expected = with_masked.predict_proba(x)
    np.testing.assert_allclose(model.predict_proba(x), expected, rtol=0, atol=1e-9)
    columns = [_feature_names().index(name) for name in masked]
    lacking = np.isnan(x[:, columns]).all(axis=1)
    assert 0.2 < lacking.mean() < 0.8  # both kinds of rows are in the sample
    p = ensemble.predict_uncalibrated(x)
    np.testing.assert_allclose(expected[lacking], platt(p[lacking], np.array([0.9, 0.5])))
    np.testing.assert_allclose(expected[~lacking], ensemble.predict_proba(x)[~lacking])
    # a row that has any of them (here only cloud_3pm) keeps the main calibration
    row = x[lacking][:1].copy()
    row[0, _feature_names().index("cloud_3pm")] = 7.0
    assert model.predict_proba(row)[0] == pytest.approx(
        platt(ensemble.predict_uncalibrated(row), ensemble.calibration)[0]
    )

    _rewrite_metadata(tmp_path, masked_calibration_features=["cloud_3pm", "station_id"])
    with pytest.raises(ModelArtifactError, match="not among its features: station_id"):
        RainModel._read(tmp_path)
