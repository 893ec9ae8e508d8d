"""Numpy-only inference of the exported rain model (what the predict Lambda runs).

The artifact is two files, neither a pickle, so loading it runs no code:

- ``rain_model.json``: metadata (format version, feature list, training period, metrics,
  how members are combined, and a random ``artifact_id`` also stored in the arrays file, so
  a mismatched pair is refused);
- ``rain_model.npz``: numeric arrays only, loaded with ``allow_pickle=False``.

The model is a small ensemble, exported from scikit-learn:

- gradient-boosted tree members (``HistGradientBoostingClassifier``, node by node); each
  gives ``sigmoid(baseline + sum of its trees' leaf values)``, and they are averaged;
- small neural networks (``MLPClassifier`` after median imputation with missing-value
  indicators and standardisation): ReLU hidden layers, logistic output; averaged;
- the blend ``(1 - w) * trees + w * networks`` is calibrated by Platt scaling
  ``sigmoid(a * logit(p) + b)`` fitted on a validation period; when the metadata lists
  ``masked_calibration_features``, rows with all of them missing (a source without cloud
  or sunshine) use the ``masked_calibration`` array instead, fitted on the validation rows
  with those features masked.

This module must not import scikit-learn or scipy: it is the cold-start path of every
prediction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raincast.features import FEATURE_NAMES, features_from_observations
from raincast.weather.base import Observation

FORMAT = "raincast-rain-model"
FORMAT_VERSION = 1
METADATA_NAME = "rain_model.json"
ARRAYS_NAME = "rain_model.npz"

# Rows scored at once: bounds the (rows x trees) node-index arrays to a few MB each.
_CHUNK_ROWS = 512

# The arrays of the .npz file. Nodes of all trees of all members are concatenated; child
# indices are global (into the concatenated arrays). A leaf points to itself so that
# descending past it is a no-op (every row takes the same number of steps).
ARRAY_NAMES: tuple[str, ...] = (
    "node_feature",  # int32, feature index tested at the node (0 at leaves, unused)
    "node_threshold",  # float64, go left when x <= threshold
    "node_missing_left",  # bool, where NaN goes
    "node_left",  # int32
    "node_right",  # int32
    "node_value",  # float64, leaf value (0 at inner nodes)
    "tree_root",  # int32, global index of each tree's root
    "tree_member",  # int32, the ensemble member each tree belongs to
    "member_baseline",  # float64, raw-score intercept of each member
    "calibration",  # float64 [a, b] of Platt scaling
)
# Network k (k < metadata["networks"]) has the arrays "net{k}_" + each of these, and its
# layers "net{k}_w{i}" / "net{k}_b{i}" for i < metadata["network_layers"].
NETWORK_ARRAY_NAMES: tuple[str, ...] = (
    "fill",  # float64 per feature: value imputed for NaN (training median)
    "indicator_features",  # int32: features that get a "was missing" input
    "mean",  # float64: standardisation of [features, indicators]
    "scale",  # float64
)
# Probabilities are clipped to [_EPS, 1 - _EPS] before the logit of the calibration.
_EPS = 1e-12


class ModelArtifactError(ValueError):
    """The artifact files are missing, inconsistent or of an unknown format version."""


def default_artifact_dir() -> Path:
    """The artifact shipped in the model layer (``raincast_model`` package)."""
    import raincast_model

    return Path(raincast_model.ARTIFACT_DIR)


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    # Same formula as scikit-learn's expit for both signs without overflow warnings.
    out = np.empty_like(raw)
    positive = raw >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-raw[positive]))
    exp = np.exp(raw[~positive])
    out[~positive] = exp / (1.0 + exp)
    return out


@dataclass(frozen=True)
class RainModel:
    """Probability of rain tomorrow (more than 1 mm) from today's observations."""

    metadata: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @classmethod
    def load(cls, path: str | Path | None = None) -> RainModel:
        """Load the artifact in directory ``path`` (default: the model layer's). Loaded
        artifacts are cached per process, keyed by their resolved directory."""
        directory = Path(path) if path is not None else default_artifact_dir()
        key = str(directory.resolve())
        cached = _CACHE.get(key)
        if cached is None:
            cached = cls._read(directory)
            _CACHE[key] = cached
        return cached

    @classmethod
    def read_metadata(cls, path: str | Path | None = None) -> dict[str, Any]:
        """The metadata of the artifact in directory ``path`` (default: the model layer's),
        checked as ``load`` checks it (format, features, the arrays file's artifact_id),
        without reading the arrays: for what reports about the model, not what runs it."""
        directory = Path(path) if path is not None else default_artifact_dir()
        cached = _CACHE.get(str(directory.resolve()))
        if cached is not None:
            return cached.metadata
        metadata = cls._checked_metadata(directory)
        with np.load(directory / ARRAYS_NAME, allow_pickle=False) as npz:
            cls._check_artifact_id(npz, metadata, directory)  # reads that one member only
        return metadata

    @classmethod
    def _checked_metadata(cls, directory: Path) -> dict[str, Any]:
        meta_path = directory / METADATA_NAME
        arrays_path = directory / ARRAYS_NAME
        try:
            metadata: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelArtifactError(f"no model metadata at {meta_path}") from None
        except json.JSONDecodeError as exc:
            raise ModelArtifactError(f"{meta_path}: not JSON ({exc})") from None
        if metadata.get("format") != FORMAT:
            raise ModelArtifactError(f"{meta_path}: not a {FORMAT} artifact")
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ModelArtifactError(
                f"{meta_path}: format version {metadata.get('format_version')!r}, "
                f"this code reads version {FORMAT_VERSION}"
            )
        unknown = [f for f in metadata.get("features", ()) if f not in FEATURE_NAMES]
        if unknown or not metadata.get("features"):
            raise ModelArtifactError(
                f"{meta_path}: the model uses features this feature builder does not make: "
                f"{', '.join(unknown) or '(none listed)'}"
            )
        outside = set(metadata.get("masked_calibration_features") or ()) - set(metadata["features"])
        if outside:
            raise ModelArtifactError(
                f"{meta_path}: masked_calibration_features not among its features: "
                f"{', '.join(sorted(outside))}"
            )
        if not arrays_path.is_file():
            raise ModelArtifactError(f"no model arrays at {arrays_path}")
        return metadata

    @staticmethod
    def _check_artifact_id(npz: Any, metadata: dict[str, Any], directory: Path) -> None:
        if "artifact_id" not in npz.files or str(npz["artifact_id"]) != metadata.get("artifact_id"):
            raise ModelArtifactError(
                f"{directory / ARRAYS_NAME} does not match {directory / METADATA_NAME} "
                "(artifact_id)"
            )

    @classmethod
    def _read(cls, directory: Path) -> RainModel:
        metadata = cls._checked_metadata(directory)
        arrays_path = directory / ARRAYS_NAME
        meta_path = directory / METADATA_NAME
        with np.load(arrays_path, allow_pickle=False) as npz:
            cls._check_artifact_id(npz, metadata, directory)
            names = array_names(metadata)
            missing = [name for name in names if name not in npz.files]
            if missing:
                raise ModelArtifactError(f"{arrays_path}: missing arrays {', '.join(missing)}")
            arrays = {name: npz[name] for name in names}
        if np.any(np.diff(arrays["tree_member"]) < 0):
            raise ModelArtifactError(f"{arrays_path}: trees are not grouped by member")
        width = len(metadata["features"])
        widths = {len(arrays[f"net{k}_fill"]) for k in range(int(metadata["networks"]))}
        if int(arrays["node_feature"].max(initial=0)) >= width or widths - {width}:
            raise ModelArtifactError(
                f"{arrays_path}: the arrays use other features than the {width} listed in "
                f"{meta_path}"
            )
        return cls(metadata=metadata, arrays=arrays)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.metadata["features"])

    def model_columns(self, features: np.ndarray) -> np.ndarray:
        """The model's own columns, in its order, of a matrix built by ``raincast.features``
        (rows x ``FEATURE_NAMES``): an artifact may use a subset of the builder's features
        (one trained before features were added still loads and scores as it did)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"features must be (rows, {len(FEATURE_NAMES)}), got {x.shape}")
        if self.features == FEATURE_NAMES:
            return x
        return x[:, [FEATURE_NAMES.index(name) for name in self.features]]

    def predict_raw(self, features: np.ndarray) -> np.ndarray:
        """Per-member raw scores (rows x members): baseline + sum of leaf values."""
        a = self.arrays
        x = self.model_columns(features)
        roots, member = a["tree_root"], a["tree_member"]
        feat, thr, miss = a["node_feature"], a["node_threshold"], a["node_missing_left"]
        left, right, value = a["node_left"], a["node_right"], a["node_value"]
        is_leaf = left == np.arange(len(left))
        n_trees, n_features = len(roots), x.shape[1]
        # trees of one member are contiguous: member m owns columns bounds[m]:bounds[m + 1]
        bounds = np.searchsorted(member, np.arange(len(a["member_baseline"]) + 1))
        raw = np.empty((len(x), len(a["member_baseline"])), dtype=np.float64)
        for start in range(0, len(x), _CHUNK_ROWS):
            chunk = np.ascontiguousarray(x[start : start + _CHUNK_ROWS])
            flat = chunk.ravel()
            # one entry per (row, tree); descend only the entries not yet at a leaf
            node = np.tile(roots, len(chunk))
            row_base = np.repeat(np.arange(len(chunk)) * n_features, n_trees)
            active = np.flatnonzero(~is_leaf[node])
            while active.size:
                at = node[active]
                data = flat[row_base[active] + feat[at]]
                go_left = np.where(np.isnan(data), miss[at], data <= thr[at])
                at = np.where(go_left, left[at], right[at])
                node[active] = at
                active = active[~is_leaf[at]]
            leaf_values = value[node].reshape(len(chunk), n_trees)
            for m in range(len(bounds) - 1):
                raw[start : start + len(chunk), m] = a["member_baseline"][m] + leaf_values[
                    :, bounds[m] : bounds[m + 1]
                ].sum(axis=1)
        return raw

    def predict_network(self, features: np.ndarray) -> np.ndarray:
        """The networks' mean probability for each row."""
        a = self.arrays
        x = self.model_columns(features)
        missing = np.isnan(x)
        layers = int(self.metadata["network_layers"])
        total = np.zeros(len(x), dtype=np.float64)
        networks = int(self.metadata["networks"])
        for k in range(networks):
            filled = np.where(missing, a[f"net{k}_fill"], x)
            indicators = missing[:, a[f"net{k}_indicator_features"]].astype(np.float64)
            h = (np.hstack([filled, indicators]) - a[f"net{k}_mean"]) / a[f"net{k}_scale"]
            for i in range(layers):
                h = h @ a[f"net{k}_w{i}"] + a[f"net{k}_b{i}"]
                if i < layers - 1:
                    h = np.maximum(h, 0.0)
            total += _sigmoid(h[:, 0])
        return total / networks

    def predict_uncalibrated(self, features: np.ndarray) -> np.ndarray:
        """The blend of the members before calibration."""
        trees = _sigmoid(self.predict_raw(features)).mean(axis=1)
        weight = float(self.metadata["network_weight"])
        blend: np.ndarray = (1.0 - weight) * trees + weight * self.predict_network(features)
        return blend

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of rain tomorrow for each row of a feature matrix built by
        ``raincast.features`` (rows x ``FEATURE_NAMES``; NaN = missing)."""
        x = self.model_columns(features)
        p = self.predict_uncalibrated(features)
        calibrated = platt(p, self.arrays["calibration"])
        masked = self.metadata.get("masked_calibration_features")
        if masked:
            lacking = np.isnan(x[:, [self.features.index(name) for name in masked]]).all(axis=1)
            calibrated[lacking] = platt(p[lacking], self.arrays["masked_calibration"])
        return calibrated

    def predict_observations(
        self,
        observations: Sequence[Observation],
        latitudes: Sequence[float | None] | float | None = None,
        previous: Sequence[Observation | None] | None = None,
    ) -> np.ndarray:
        """Probability of rain the day after each observation. ``latitudes`` (one per
        observation, or one for all) place the date in the local season; ``previous`` (one
        per observation, None where unknown) is the same place's day before. Without them
        the model predicts from the one day's weather alone."""
        if not observations:
            return np.empty(0, dtype=np.float64)
        return self.predict_proba(features_from_observations(observations, latitudes, previous))


_CACHE: dict[str, RainModel] = {}


def array_names(metadata: dict[str, Any]) -> list[str]:
    """Every array an artifact with this metadata must contain."""
    names = list(ARRAY_NAMES)
    if metadata.get("masked_calibration_features"):
        names.append("masked_calibration")  # float64 [a, b]: rows lacking those features
    for k in range(int(metadata["networks"])):
        names += [f"net{k}_{name}" for name in NETWORK_ARRAY_NAMES]
        names += [
            f"net{k}_{kind}{i}" for i in range(int(metadata["network_layers"])) for kind in "wb"
        ]
    return names


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def platt(p: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Platt scaling ``sigmoid(a * logit(p) + b)``."""
    a, b = (float(c) for c in coefficients)
    return _sigmoid(a * logit(p) + b)


def write_artifact(
    directory: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]
) -> Path:
    """Write the two artifact files (arrays first, then the metadata naming them)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = array_names(metadata)
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ModelArtifactError(f"missing arrays: {', '.join(missing)}")
    artifact_id = os.urandom(16).hex()
    arrays_path = directory / ARRAYS_NAME
    named: dict[str, Any] = {name: arrays[name] for name in names}  # numpy types **kw as bool
    np.savez_compressed(arrays_path, artifact_id=np.array(artifact_id), **named)
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "artifact_id": artifact_id,
        **metadata,
    }
    meta_path = directory / METADATA_NAME
    meta_path.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    _CACHE.pop(str(directory.resolve()), None)
    return meta_path
