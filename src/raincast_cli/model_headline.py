"""The model card's headline, as the reports and the backtest use it: which model, its base
rate (the reference of every Brier skill score), and its held-out test-period scores.

This is the one place that reads those fields of the artifact's metadata, so a change of
the artifact (new fields, a new version scheme, new metrics) is adapted here once and flows
into every report and backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HEADLINE_METRICS = ("roc_auc", "brier", "brier_skill", "accuracy")


@dataclass(frozen=True)
class ModelHeadline:
    version: str  # the artifact's version, or its artifact id when it has none
    trained_at: str | None
    trained_period: str | None  # "2007-11-01 to 2014-12-31"
    test_period: str | None
    # What the model behind the test-period scores was trained on: the holdout model's
    # period when the shipped one was refitted on everything (then the test period is in
    # the shipped model's own training period), else trained_period.
    holdout_trained_period: str | None
    climatology: float  # training base rate of rain
    metrics: dict[str, float]  # the model's test-period scores (HEADLINE_METRICS + rows)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def refitted(self) -> bool:
        """Whether this model was refitted after its test-period scores were measured (on
        more days, the test period included): those scores are then the holdout model's."""
        return self.holdout_trained_period not in (None, self.trained_period)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "trained_at": self.trained_at,
            "trained_period": self.trained_period,
            "test_period": self.test_period,
            "holdout_trained_period": self.holdout_trained_period,
            "climatology": self.climatology,
            "metrics": self.metrics,
            "baselines": self.baselines,
        }


def model_headline(metadata: dict[str, Any] | None = None) -> ModelHeadline:
    """The headline of ``metadata`` (default: the installed artifact's, read and checked by
    ``RainModel.read_metadata``, without loading the model's arrays)."""
    if metadata is None:
        from raincast.model.artifact import RainModel

        metadata = RainModel.read_metadata()
    periods = metadata.get("periods") or {}
    test_metrics = dict(metadata.get("test_metrics") or {})
    model_metrics = test_metrics.pop("model", {})
    return ModelHeadline(
        version=str(
            metadata.get("version") or metadata.get("model_version") or metadata["artifact_id"]
        ),
        trained_at=metadata.get("trained_at"),
        trained_period=_period(metadata.get("trained_period")),
        test_period=_period(periods.get("test")),
        holdout_trained_period=_period(
            metadata.get("holdout_trained_period") or metadata.get("trained_period")
        ),
        climatology=float(metadata["climatology"]),
        metrics={k: model_metrics[k] for k in (*HEADLINE_METRICS, "rows") if k in model_metrics},
        baselines=test_metrics,
    )


def _period(period: dict[str, Any] | None) -> str | None:
    if not period or not period.get("start"):
        return None
    return f"{period['start']} to {period.get('end', '?')}"
