"""Training, evaluation and export of the rain model (scikit-learn; not shipped to Lambda).

Time-based protocol over the shipped observations (never shuffled across time):

    fit         ... < validation_start     members fitted here (stage 1)
    validation  validation_start .. < test_start
                                           blend weight and Platt calibration chosen here
    test        >= test_start              the latest period: scored once, never used for
                                           any choice

1. Choose: stage 1 fits the members on the fit period and chooses the blend weight and the
   calibration on the validation period.
2. Report: stage 2 refits the same members on fit + validation and keeps the stage-1 blend
   and calibration; the test period is scored for it and for the three baselines:
   climatology (training base rate), persistence (rain tomorrow = rain today) and the
   tutorial's recipe (random forest, 200 trees, depth 11, median imputation, same features).
   This model is written as the *holdout* artifact (what the benchmark scores).
3. Refit: the shipped model refits the same members on every labelled row (fit +
   validation + test), with the same settings, blend and calibration: nothing is chosen on
   the test period, and the most recent data is not left out of the product.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from raincast.features import FEATURE_NAMES, features_from_table, features_using
from raincast.model.artifact import logit, platt, write_artifact
from raincast.model.metrics import Scores, score
from raincast.weather.weatheraus import ObservationTable

if TYPE_CHECKING:
    from raincast_cli.outside_data import OutsideDataSet

# Every weatherAUS station is south of the equator; the feature builder only uses the sign.
WEATHERAUS_LATITUDE = -25.0

Progress = Callable[[str], None]

TREE_PARAMS_REPORTED = (
    "learning_rate",
    "max_iter",
    "max_leaf_nodes",
    "min_samples_leaf",
    "l2_regularization",
    "max_features",
)


@dataclass(frozen=True)
class TrainingConfig:
    validation_start: str = "2014-01-01"
    test_start: str = "2015-01-01"
    tree_members: int = 3
    tree_params: dict[str, Any] = field(
        default_factory=lambda: {
            # 0.075 (chosen on validation, benchmarks/stage1_screen.py): 0.05 and 0.1 at
            # 600 trees, 900 and 1200 trees at 0.05 scored within 0.0004 or below it
            "learning_rate": 0.075,
            "max_iter": 600,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 200,
            "l2_regularization": 1.0,
            "max_features": 0.5,
            "early_stopping": False,
        }
    )
    # Tree members also learn from a copy of a random ``masked_copy_fraction`` of the rows
    # that have any of these fields, with the features computed from them missing: in Australia they are missing at particular
    # stations only, so without the copies "no cloud" means "such a station" (drier,
    # inland, ...), while weather sources elsewhere may lack them everywhere (the New York
    # reports have no cloud or sunshine). Empty: no copies. Not for the networks: their
    # early stopping holds out a random tenth of the rows, which the copies would leak into.
    masked_copy_fields: tuple[str, ...] = ("sunshine", "cloud_9am", "cloud_3pm")
    masked_copy_fraction: float = 0.3
    # ... and rows lacking all of them get a calibration of their own, fitted on the
    # validation rows with them masked (``Ensemble.masked_calibration``).
    masked_calibration: bool = True
    # 10 (chosen on validation, benchmarks/stage1_screen.py: the expected Brier skill of
    # random subsets of 15 fitted networks rises up to 10, not beyond)
    networks: int = 10
    network_hidden: tuple[int, ...] = (64, 32)
    network_alpha: float = 1e-3
    network_max_iter: int = 200
    network_weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    baseline_forest: bool = True
    refit_all: bool = True  # stage 3: refit on every labelled row for the shipped model
    jobs: int = 3  # processes fitting the stages side by side (1: one after the other)
    seed: int = 0


@dataclass
class Ensemble:
    """The scikit-learn estimators of the model; ``predict_proba`` is the reference the
    exported artifact must reproduce."""

    trees: list[HistGradientBoostingClassifier]
    networks: list[Pipeline]  # SimpleImputer(median, indicators) -> StandardScaler -> MLP
    network_weight: float = 0.0
    calibration: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0]))
    # Rows with every one of these features missing get their own Platt calibration (the
    # one fitted on validation rows with them masked): a source that lacks them everywhere.
    masked_features: tuple[str, ...] = ()
    masked_calibration: np.ndarray | None = None

    def predict_trees(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_proba(x)[:, 1] for m in self.trees], axis=0)

    def predict_network(self, x: np.ndarray) -> np.ndarray:
        return np.mean([n.predict_proba(x)[:, 1] for n in self.networks], axis=0)

    def blend(self, trees: np.ndarray, network: np.ndarray, weight: float) -> np.ndarray:
        return (1.0 - weight) * trees + weight * network

    def predict_uncalibrated(self, x: np.ndarray) -> np.ndarray:
        return self.blend(self.predict_trees(x), self.predict_network(x), self.network_weight)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.predict_uncalibrated(x)
        calibrated = platt(p, self.calibration)
        if self.masked_calibration is not None and self.masked_features:
            columns = [FEATURE_NAMES.index(name) for name in self.masked_features]
            lacking = np.isnan(x[:, columns]).all(axis=1)
            calibrated[lacking] = platt(p[lacking], self.masked_calibration)
        return calibrated


def fit_ensemble(
    x: np.ndarray, y: np.ndarray, config: TrainingConfig, progress: Progress, label: str
) -> Ensemble:
    trees = []
    x_trees, y_trees = with_masked_copies(
        x, y, config.masked_copy_fields, config.masked_copy_fraction, config.seed
    )
    for i in range(config.tree_members):
        start = time.perf_counter()
        model = HistGradientBoostingClassifier(random_state=config.seed + i, **config.tree_params)
        trees.append(model.fit(x_trees, y_trees))
        progress(f"{label}: tree member {i + 1}/{config.tree_members} ({_since(start)})")
    networks = []
    for i in range(config.networks):
        start = time.perf_counter()
        networks.append(make_network(config, config.seed + i).fit(x, y))
        progress(f"{label}: network {i + 1}/{config.networks} ({_since(start)})")
    return Ensemble(trees=trees, networks=networks)


def make_network(config: TrainingConfig, seed: int) -> Pipeline:
    """One unfitted network member: median imputation with missing-value indicators,
    standardisation, then the MLP (the layout ``export_arrays`` exports)."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=config.network_hidden,
            alpha=config.network_alpha,
            early_stopping=True,
            max_iter=config.network_max_iter,
            random_state=seed,
        ),
    )


def with_masked_copies(
    x: np.ndarray, y: np.ndarray, fields: tuple[str, ...], fraction: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` followed by a copy of a random ``fraction`` of the rows that have any
    feature computed from ``fields``, with those features missing (the rows unchanged when
    ``fields`` is empty or ``fraction`` 0)."""
    if not fields or fraction <= 0.0:
        return x, y
    if x.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"masked copies need all {len(FEATURE_NAMES)} features, not {x.shape[1]}")
    columns = [FEATURE_NAMES.index(name) for name in features_using(fields)]
    rows = np.flatnonzero(~np.isnan(x[:, columns]).all(axis=1))
    if fraction < 1.0:
        rows = rows[np.random.default_rng(seed).random(len(rows)) < fraction]
    copies = x[rows]
    copies[:, columns] = np.nan
    return np.vstack([x, copies]), np.concatenate([y, y[rows]])


def fit_stages(
    x: np.ndarray,
    y: np.ndarray,
    stages: list[tuple[str, np.ndarray]],
    config: TrainingConfig,
    progress: Progress,
) -> list[Ensemble]:
    """``fit_ensemble`` on the rows of each stage, in up to ``config.jobs`` processes."""
    if config.jobs <= 1 or len(stages) == 1:
        return [fit_ensemble(x[rows], y[rows], config, progress, label) for label, rows in stages]
    from joblib import Parallel, delayed

    progress(f"fitting {len(stages)} stages in {min(config.jobs, len(stages))} processes")
    return Parallel(n_jobs=min(config.jobs, len(stages)))(
        delayed(fit_ensemble)(x[rows], y[rows], config, _print_progress, label)
        for label, rows in stages
    )


def _print_progress(message: str) -> None:
    """Progress of a worker process (the caller's callback stays in the caller)."""
    import sys

    print(f"[worker] {message}", file=sys.stderr, flush=True)


def fit_platt(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[a, b] of sigmoid(a * logit(p) + b), by (nearly unregularised) logistic regression."""
    model = LogisticRegression(C=1e6).fit(logit(p)[:, None], y)
    return np.array([float(model.coef_[0, 0]), float(model.intercept_[0])])


@dataclass
class TrainingResult:
    ensemble: Ensemble  # the shipped model (stage 3, or stage 2 without refit_all)
    holdout: Ensemble  # stage 2: trained before the test period, scored on it
    config: TrainingConfig
    periods: dict[str, dict[str, Any]]
    climatology: float
    metrics: dict[str, Scores]  # test period: "model" and the baselines
    validation: dict[str, Any]
    forest: Pipeline | None = None
    seconds: float = 0.0
    # out-of-domain scores: data set -> {"holdout": {...}, "shipped": {...}}, when available
    outside: dict[str, dict[str, Any]] = field(default_factory=dict)


def _since(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"


def _period(dates: np.ndarray, mask: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    chosen = dates[mask]
    return {
        "start": str(chosen.min()),
        "end": str(chosen.max()),
        "rows": int(mask.sum()),
        "rain_rate": round(float(y[mask].mean()), 4),
    }


def split_masks(
    dates: np.ndarray, config: TrainingConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    validation_start = np.datetime64(config.validation_start)
    test_start = np.datetime64(config.test_start)
    fit = dates < validation_start
    validation = (dates >= validation_start) & (dates < test_start)
    return fit, validation, dates >= test_start


def tutorial_forest(seed: int = 0) -> Pipeline:
    """The tutorial's recipe on our features: 200 trees of depth 11, median imputation."""
    return make_pipeline(
        SimpleImputer(strategy="median"),
        RandomForestClassifier(n_estimators=200, max_depth=11, n_jobs=-1, random_state=seed),
    )


def persistence(x: np.ndarray, climatology: float) -> np.ndarray:
    """Rain tomorrow = rain today (1 or 0); the base rate when today's rain is unknown."""
    rain_today = x[:, FEATURE_NAMES.index("rain_today")]
    return np.where(np.isnan(rain_today), climatology, rain_today)


def train(
    table: ObservationTable,
    config: TrainingConfig | None = None,
    progress: Progress = lambda message: None,
) -> TrainingResult:
    config = config or TrainingConfig()
    started = time.perf_counter()
    labelled = ~np.isnan(table.rain_tomorrow)
    x_all = features_from_table(table, WEATHERAUS_LATITUDE)
    x, y, dates = x_all[labelled], table.rain_tomorrow[labelled], table.dates[labelled]
    fit, validation, test = split_masks(dates, config)
    for name, mask in (("fit", fit), ("validation", validation), ("test", test)):
        if mask.sum() == 0 or len(np.unique(y[mask])) < 2:
            raise ValueError(f"the {name} period has no rows of both classes")
    empty = [name for j, name in enumerate(FEATURE_NAMES) if np.isnan(x[fit, j]).all()]
    if empty:
        raise ValueError(
            f"no row of the fit period has {', '.join(empty)} (the previous-day features "
            "need the same location's row for the day before)"
        )
    train_rows = fit | validation
    periods = {
        "fit": _period(dates, fit, y),
        "validation": _period(dates, validation, y),
        "train": _period(dates, train_rows, y),
        "test": _period(dates, test, y),
        "all": _period(dates, np.ones(len(y), dtype=bool), y),
    }
    progress(
        f"{len(y)} labelled rows, {len(FEATURE_NAMES)} features; fit {periods['fit']['rows']}, "
        f"validation {periods['validation']['rows']}, test {periods['test']['rows']}"
    )

    # Stage 1: choose the blend weight and the calibration on the validation period.
    # The three stages' members are independent fits (only the cheap blend and calibration
    # depend on stage 1), so they run side by side in ``config.jobs`` processes.
    stages = [("stage 1 (fit period)", fit), ("stage 2 (train period)", train_rows)]
    if config.refit_all:
        stages.append(("stage 3 (all rows)", np.ones(len(y), dtype=bool)))
    fitted = fit_stages(x, y, stages, config, progress)
    stage1 = fitted[0]
    trees_v = stage1.predict_trees(x[validation])
    network_v = stage1.predict_network(x[validation])
    climatology_fit = float(y[fit].mean())
    by_weight = {
        w: score(y[validation], stage1.blend(trees_v, network_v, w), climatology_fit)
        for w in config.network_weights
    }
    weight = min(by_weight, key=lambda w: by_weight[w].brier)
    calibration = fit_platt(stage1.blend(trees_v, network_v, weight), y[validation])
    validation_report = {
        "network_weight": weight,
        "brier_by_network_weight": {str(w): round(s.brier, 5) for w, s in by_weight.items()},
        "calibration": [round(float(c), 6) for c in calibration],
    }
    # The calibration of a source without the masked fields: the same blend on the
    # validation rows with them masked (a row that lacks them anyway stays as it is).
    masked_features: tuple[str, ...] = ()
    masked_calibration = None
    if config.masked_calibration and config.masked_copy_fields:
        masked_features = features_using(config.masked_copy_fields)
        x_masked = x[validation].copy()
        x_masked[:, [FEATURE_NAMES.index(name) for name in masked_features]] = np.nan
        p_masked = stage1.blend(
            stage1.predict_trees(x_masked), stage1.predict_network(x_masked), weight
        )
        masked_calibration = fit_platt(p_masked, y[validation])
        validation_report["masked_calibration"] = {
            "features": list(masked_features),
            "calibration": [round(float(c), 6) for c in masked_calibration],
        }
    progress(
        f"validation: network weight {weight}, Platt a={calibration[0]:.4f} b={calibration[1]:.4f}"
    )

    # Stage 2: refit on fit + validation, keep the stage-1 blend and calibration.
    holdout = fitted[1]
    holdout.network_weight = weight
    holdout.calibration = calibration
    holdout.masked_features, holdout.masked_calibration = masked_features, masked_calibration

    climatology = float(y[train_rows].mean())
    y_test = y[test]
    metrics = {
        "model": score(y_test, holdout.predict_proba(x[test]), climatology),
        "climatology": score(y_test, np.full(len(y_test), climatology), climatology),
        "persistence": score(y_test, persistence(x[test], climatology), climatology),
    }
    forest = None
    if config.baseline_forest:
        start = time.perf_counter()
        forest = tutorial_forest(config.seed).fit(x[train_rows], y[train_rows])
        metrics["tutorial_forest"] = score(y_test, forest.predict_proba(x[test])[:, 1], climatology)
        progress(f"baseline: tutorial forest ({_since(start)})")

    # Stage 3: the shipped model, refitted on everything with the same settings.
    ensemble = holdout
    if config.refit_all:
        ensemble = fitted[2]
        ensemble.network_weight = weight
        ensemble.calibration = calibration
        ensemble.masked_features = masked_features
        ensemble.masked_calibration = masked_calibration
    outside = outside_scores({"holdout": holdout, "shipped": ensemble}, climatology, progress)
    return TrainingResult(
        ensemble=ensemble,
        holdout=holdout,
        outside=outside,
        config=config,
        periods=periods,
        climatology=climatology,
        metrics=metrics,
        validation=validation_report,
        forest=forest,
        seconds=time.perf_counter() - started,
    )


def outside_evaluation(
    predict: Callable[[np.ndarray], np.ndarray],
    climatology: float,
    table: ObservationTable,
    data: OutsideDataSet,
) -> dict[str, Any]:
    """Scores on real observations from outside Australia (``raincast_cli.outside_data``).
    Never used for training: the model has not seen these places."""
    x, y, _ = data.labelled(table)
    p = predict(x)
    return {
        **_rounded(score(y, p, climatology).to_dict()),
        "mean_forecast": round(float(p.mean()), 4),
        "rain_rate": round(float(y.mean()), 4),
        "period": f"{table.dates.min()} to {table.dates.max()}",
    }


def outside_scores(
    models: dict[str, Ensemble], climatology: float, progress: Progress
) -> dict[str, dict[str, Any]]:
    """data set key -> {"title", "inputs", model name -> scores}, for every data set whose
    package is installed."""
    from raincast_cli.outside_data import installed

    def skipped(data: OutsideDataSet, exc: Exception) -> None:
        progress(f"outside Australia: {data.title} skipped ({exc})")

    out: dict[str, dict[str, Any]] = {}
    for data, table in installed(skipped):
        scores: dict[str, Any] = {"title": data.title, "inputs": data.inputs}
        for name, model in models.items():
            scores[name] = outside_evaluation(model.predict_proba, climatology, table, data)
        progress(
            f"outside Australia ({data.title}): "
            + ", ".join(
                f"{k} AUC {scores[k]['roc_auc']:.4f} mean {scores[k]['mean_forecast']:.3f}"
                for k in models
            )
            + f" (rain rate {scores['shipped']['rain_rate']:.3f})"
        )
        out[data.key] = scores
    return out


def export_arrays(ensemble: Ensemble) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The artifact's arrays and the metadata entries that describe their layout."""
    feature, threshold, missing_left, left, right, value = [], [], [], [], [], []
    roots, members, baselines = [], [], []
    offset = 0
    max_depth = 0
    for m, model in enumerate(ensemble.trees):
        if model.n_trees_per_iteration_ != 1:
            raise ValueError("only binary classifiers can be exported")
        if getattr(model, "is_categorical_", None) is not None and model.is_categorical_.any():
            raise ValueError("categorical splits are not supported by the artifact")
        baselines.append(float(model._baseline_prediction[0, 0]))
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            n = len(nodes)
            own = np.arange(offset, offset + n)
            leaf = nodes["is_leaf"].astype(bool)
            feature.append(np.where(leaf, 0, nodes["feature_idx"]).astype(np.int32))
            threshold.append(nodes["num_threshold"].astype(np.float64))
            missing_left.append(nodes["missing_go_to_left"].astype(bool))
            left.append(np.where(leaf, own, offset + nodes["left"].astype(np.int64)))
            right.append(np.where(leaf, own, offset + nodes["right"].astype(np.int64)))
            value.append(np.where(leaf, nodes["value"], 0.0).astype(np.float64))
            roots.append(offset)
            members.append(m)
            max_depth = max(max_depth, int(nodes["depth"].max()))
            offset += n
    arrays: dict[str, np.ndarray] = {
        "node_feature": np.concatenate(feature),
        "node_threshold": np.concatenate(threshold),
        "node_missing_left": np.concatenate(missing_left),
        "node_left": np.concatenate(left).astype(np.int32),
        "node_right": np.concatenate(right).astype(np.int32),
        "node_value": np.concatenate(value),
        "tree_root": np.array(roots, dtype=np.int32),
        "tree_member": np.array(members, dtype=np.int32),
        "member_baseline": np.array(baselines, dtype=np.float64),
        "calibration": np.asarray(ensemble.calibration, dtype=np.float64),
    }
    masked: dict[str, Any] = {}
    if ensemble.masked_calibration is not None and ensemble.masked_features:
        arrays["masked_calibration"] = np.asarray(ensemble.masked_calibration, dtype=np.float64)
        masked["masked_calibration_features"] = list(ensemble.masked_features)
    layers = {len(network.steps[-1][1].coefs_) for network in ensemble.networks}
    if len(layers) != 1:
        raise ValueError("all networks must have the same number of layers")
    for k, network in enumerate(ensemble.networks):
        arrays.update(_network_arrays(network, f"net{k}_"))
    layout = {
        "max_tree_depth": max_depth,
        "networks": len(ensemble.networks),
        "network_layers": layers.pop(),
        "network_weight": float(ensemble.network_weight),
        "tree_members": len(ensemble.trees),
        "trees": len(roots),
        "nodes": offset,
        **masked,
    }
    return arrays, layout


def _network_arrays(network: Pipeline, prefix: str) -> dict[str, np.ndarray]:
    imputer, scaler, mlp = (step for _, step in network.steps)
    if mlp.out_activation_ != "logistic" or mlp.activation != "relu":
        raise ValueError("the network must be ReLU with a logistic output")
    indicator = imputer.indicator_
    arrays: dict[str, np.ndarray] = {
        "fill": np.asarray(imputer.statistics_, dtype=np.float64),
        "indicator_features": (
            np.asarray(indicator.features_, dtype=np.int32)
            if indicator is not None
            else np.zeros(0, dtype=np.int32)
        ),
        "mean": np.asarray(scaler.mean_, dtype=np.float64),
        "scale": np.asarray(scaler.scale_, dtype=np.float64),
    }
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        arrays[f"w{i}"] = np.asarray(w, dtype=np.float64)
        arrays[f"b{i}"] = np.asarray(b, dtype=np.float64)
    return {prefix + name: array for name, array in arrays.items()}


def result_metadata(result: TrainingResult, role: str = "shipped") -> dict[str, Any]:
    """Everything the artifact records about how it was made and how good it is. ``role``
    is "shipped" (the refit on all rows) or "holdout" (trained before the test period)."""
    import sklearn

    config = result.config
    trained = "all" if role == "shipped" and config.refit_all else "train"
    return {
        "role": role,
        "features": list(FEATURE_NAMES),
        "label": "rain tomorrow: more than 1 mm in the 24 h to 9 am of the next day",
        "trained_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "trained_period": {
            "start": result.periods[trained]["start"],
            "end": result.periods[trained]["end"],
        },
        "holdout_trained_period": {
            "start": result.periods["train"]["start"],
            "end": result.periods["train"]["end"],
        },
        "refit_all": config.refit_all,
        "periods": result.periods,
        "outside_metrics": result.outside,
        "climatology": round(result.climatology, 6),
        "test_metrics": {name: _rounded(s.to_dict()) for name, s in result.metrics.items()},
        "validation": result.validation,
        "training": {
            "tree_params": {  # effective values, defaults included
                name: result.ensemble.trees[0].get_params()[name] for name in TREE_PARAMS_REPORTED
            },
            "masked_copy_fields": list(config.masked_copy_fields),
            "masked_copy_fraction": config.masked_copy_fraction,
            "network_hidden": list(config.network_hidden),
            "network_alpha": config.network_alpha,
            "seed": config.seed,
            "seconds": round(result.seconds, 1),
            "scikit_learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in values.items()}


def check_export(ensemble: Ensemble, x: np.ndarray) -> float:
    """Largest difference between the estimators' and the exported arrays' predictions."""
    from raincast.model.artifact import RainModel

    arrays, layout = export_arrays(ensemble)
    model = RainModel(metadata={"features": list(FEATURE_NAMES), **layout}, arrays=arrays)
    return float(np.max(np.abs(model.predict_proba(x) - ensemble.predict_proba(x))))


def write_model(
    result: TrainingResult, directory: str | Path, holdout_directory: str | Path | None = None
) -> dict[str, Any]:
    """Export the shipped ensemble, write its artifact and MODEL_CARD.md (and the holdout
    model's artifact to ``holdout_directory``, if given); returns the shipped metadata."""
    from raincast.model.card import model_card

    if holdout_directory is not None:
        arrays, layout = export_arrays(result.holdout)
        write_artifact(holdout_directory, arrays, {**result_metadata(result, "holdout"), **layout})
    arrays, layout = export_arrays(result.ensemble)
    metadata = {**result_metadata(result), **layout}
    meta_path = write_artifact(directory, arrays, metadata)
    full = json.loads(meta_path.read_text(encoding="utf-8"))
    (Path(directory) / "MODEL_CARD.md").write_text(model_card(full), encoding="utf-8")
    return full
