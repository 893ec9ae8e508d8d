"""The backtest's scores: reliability table, ROC curve, the headline scores."""

from __future__ import annotations

import numpy as np
import pytest

from raincast.model.metrics import roc_auc
from raincast_cli.scoring import forecast_scores, reliability_table, roc_curve


def test_reliability_table_bins_forecasts_and_counts_rain() -> None:
    p = np.array([0.05, 0.07, 0.15, 0.95, 1.0, 0.5])
    y = np.array([0, 1, 0, 1, 1, 0])
    table = reliability_table(y, p)
    assert len(table) == 10
    assert [row["n"] for row in table] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert table[0] == {"lower": 0.0, "upper": 0.1, "n": 2, "mean_forecast": 0.06,
                        "observed_rate": 0.5}  # fmt: skip
    assert table[2]["mean_forecast"] is None and table[2]["observed_rate"] is None
    # 1.0 belongs to the last bin, not an eleventh one.
    assert table[9]["mean_forecast"] == 0.975 and table[9]["observed_rate"] == 1.0


def test_roc_curve_runs_from_corner_to_corner_and_its_area_is_the_auc() -> None:
    rng = np.random.default_rng(7)
    y = rng.random(3000) < 0.25
    p = np.clip(0.35 * y + 0.65 * rng.random(3000), 0, 1).round(2)  # many ties
    fpr, tpr = roc_curve(y, p)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, p), abs=1e-12)
    # Collinear points are dropped: fewer points than distinct thresholds.
    assert len(fpr) < len(np.unique(p)) + 1


def test_roc_curve_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="both outcomes"):
        roc_curve(np.array([1, 1]), np.array([0.2, 0.9]))


def test_forecast_scores_against_the_base_rate() -> None:
    y = np.array([1, 0, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.1, 0.2, 0.6, 0.4])
    s = forecast_scores(y, p, climatology=0.25)
    brier = float(np.mean((p - y) ** 2))
    reference = float(np.mean((0.25 - y) ** 2))
    assert s["n"] == 5
    assert s["brier"] == round(brier, 4)
    assert s["brier_skill"] == round(1 - brier / reference, 4)
    assert s["auc"] == 1.0
    assert s["accuracy"] == 1.0
    assert s["rain_rate"] == 0.4
    assert sum(row["n"] for row in s["reliability"]) == 5


def test_forecast_scores_without_both_outcomes_or_without_forecasts() -> None:
    one_outcome = forecast_scores(np.array([0.0, 0.0]), np.array([0.1, 0.3]), 0.2)
    assert one_outcome["auc"] is None and one_outcome["n"] == 2
    assert one_outcome["brier"] == 0.05
    empty = forecast_scores(np.array([]), np.array([]), 0.2)
    assert empty["n"] == 0 and empty["auc"] is None and empty["brier_skill"] is None
