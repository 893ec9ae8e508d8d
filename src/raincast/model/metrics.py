"""Probability-forecast scores (numpy only, so the benchmark and tests need no sklearn)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney statistic; tied scores share their rank)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1  # 1-based rank of each distinct score
    average_rank = first_rank + (counts - 1) / 2.0
    rank_sum = average_rank[inverse][y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    y = np.asarray(labels, dtype=np.float64)
    return float(np.mean((np.asarray(probabilities, dtype=np.float64) - y) ** 2))


@dataclass(frozen=True)
class Scores:
    roc_auc: float
    brier: float
    brier_skill: float  # 1 - brier / brier of climatology (the training base rate)
    accuracy: float  # rain predicted when p >= 0.5
    rows: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def score(labels: np.ndarray, probabilities: np.ndarray, climatology: float) -> Scores:
    """Scores of a probability forecast against 0/1 labels; ``climatology`` is the base rate
    of the training period (the reference forecast of the skill score)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or np.isnan(y).any() or np.isnan(p).any():
        raise ValueError("labels and probabilities must be equal-length 1-d arrays without NaN")
    reference = brier(y, np.full_like(y, climatology))
    b = brier(y, p)
    return Scores(
        roc_auc=roc_auc(y, p) if 0 < y.sum() < len(y) else float("nan"),
        brier=b,
        brier_skill=1.0 - b / reference,
        accuracy=float(np.mean((p >= 0.5) == (y == 1.0))),
        rows=len(y),
    )
