"""Validation only: the ensemble with 3 against 5 tree members, side by side in one fit.

Stage 1 of the training (``raincast_cli.training.fit_ensemble`` on the fit period, < 2014)
with 5 tree members; members 1-3 are exactly the 3-member ensemble's (same seeds, same
masked copies), so both are scored from one fit, each blended with the same networks at
its own best weight (validation Brier, as the training chooses it) and Platt-calibrated on
the validation period (2014; in-sample for the calibration, the same for both). The test
period is never scored.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/tree_members.py [--members 3 5]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args()

    from raincast.features import features_from_table
    from raincast.model.artifact import platt
    from raincast.model.metrics import score
    from raincast.weather.weatheraus import read_observations
    from raincast_cli.training import (
        WEATHERAUS_LATITUDE,
        TrainingConfig,
        fit_ensemble,
        fit_platt,
        split_masks,
    )

    table = read_observations()
    labelled = ~np.isnan(table.rain_tomorrow)
    x = features_from_table(table, WEATHERAUS_LATITUDE)[labelled]
    y = table.rain_tomorrow[labelled]
    config = TrainingConfig(tree_members=max(args.members), baseline_forest=False, jobs=1)
    fit, validation, _ = split_masks(table.dates[labelled], config)  # test period unused
    ensemble = fit_ensemble(x[fit], y[fit], config, print, "stage 1")
    climatology = float(y[fit].mean())
    per_member = [m.predict_proba(x[validation])[:, 1] for m in ensemble.trees]
    network = ensemble.predict_network(x[validation])
    y_val = y[validation]
    print(f"validation {int(validation.sum())} rows; load average {os.getloadavg()[0]:.2f}")
    print("| tree members | network weight | raw Brier | AUC | Brier skill (calibrated) |")
    print("|---:|---:|---:|---:|---:|")
    for k in sorted(args.members):
        trees = np.mean(per_member[:k], axis=0)
        by_weight = {
            w: score(y_val, ensemble.blend(trees, network, w), climatology)
            for w in config.network_weights
        }
        weight = min(by_weight, key=lambda w: by_weight[w].brier)
        blended = ensemble.blend(trees, network, weight)
        calibrated = score(y_val, platt(blended, fit_platt(blended, y_val)), climatology)
        print(
            f"| {k} | {weight} | {by_weight[weight].brier:.5f} | {calibrated.roc_auc:.4f} "
            f"| {calibrated.brier_skill:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
