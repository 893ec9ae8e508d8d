"""Scores of a set of probability forecasts against what happened, for backtests.

The headline scores (ROC AUC, Brier, Brier skill against the training base rate, accuracy)
are ``raincast.model.metrics.score``'s, the same function that scores the model card's test
period, so a backtest's numbers and the card's are comparable. This module adds what a
report draws: the reliability table (forecasts binned by probability: how often it rained
in each bin) and the ROC curve's points.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from raincast.model.metrics import score

RELIABILITY_BINS = 10


def reliability_table(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = RELIABILITY_BINS
) -> list[dict[str, Any]]:
    """Forecasts in ``bins`` equal-width probability bins (the last one includes 1.0): per
    bin the count, the mean forecast and the observed frequency of rain (None when empty)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    table = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        table.append(
            {
                "lower": round(b / bins, 4),
                "upper": round((b + 1) / bins, 4),
                "n": n,
                "mean_forecast": round(float(p[inside].mean()), 4) if n else None,
                "observed_rate": round(float(y[inside].mean()), 4) if n else None,
            }
        )
    return table


def roc_curve(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probabilities, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("an ROC curve needs both outcomes")
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    # One point per distinct threshold: the last index of each run of equal scores.
    last_of_run = np.r_[np.nonzero(np.diff(p_sorted))[0], len(p_sorted) - 1]
    tp = np.cumsum(y_sorted)[last_of_run]
    fp = (last_of_run + 1) - tp
    fpr, tpr = np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]
    # Drop points in the middle of a straight segment (the curve is the same without them):
    # where the step before and the step after point the same way (zero cross product).
    dx, dy = np.diff(fpr), np.diff(tpr)
    bends = np.abs(dx[:-1] * dy[1:] - dy[:-1] * dx[1:]) > 1e-12
    keep = np.r_[True, bends, True]
    return fpr[keep], tpr[keep]


def forecast_scores(
    labels: np.ndarray, probabilities: np.ndarray, climatology: float
) -> dict[str, Any]:
    """``n``, ``auc`` (None when only one outcome occurred), ``brier``, ``brier_skill``
    (1 - Brier / Brier of always forecasting ``climatology``), ``accuracy`` (rain forecast
    when p >= 0.5), the observed ``rain_rate`` and the reliability table. Empty input gives
    n = 0 and None for every score."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if len(y) == 0:
        return {
            "n": 0, "auc": None, "brier": None, "brier_skill": None, "accuracy": None,
            "rain_rate": None, "reliability": reliability_table(y, p),
        }  # fmt: skip
    s = score(y, p, climatology)
    return {
        "n": s.rows,
        "auc": _number(s.roc_auc),
        "brier": _number(s.brier),
        "brier_skill": _number(s.brier_skill),
        "accuracy": _number(s.accuracy),
        "rain_rate": _number(float(y.mean())),
        "reliability": reliability_table(y, p),
    }


def _number(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 4)
