"""Cheap screen of candidate features for the rain model, base and every variant side by
side in one run.

Each row fits one tree member per seed (``TrainingConfig().tree_params``, with the
training's masked cloud/sunshine copies) on the fit period (< 2014) and scores it on the
validation period (2014) only: ROC AUC and Brier skill of the raw members (no calibration;
Brier skill against the fit period's rain rate), their mean over seeds and, as the ensemble
averages its members, of their averaged forecast ("avg"). With ``--networks`` it also fits
one network per network seed (as the ensemble's, without masked copies) and reports the
networks' average and the blend (1 - w) * trees + w * networks at the shipped weight. The
test period (2015-2016) is never scored. New York (``raincast_cli.new_york``) is scored
too, out of domain, to flag a variant that breaks there; it is never a reason to choose one.

"base" is what the feature builder makes now (``raincast.features.FEATURE_NAMES``: kept
candidates are in it; ``--drop`` shows what they bring). A variant adds candidates (below;
each computed only from the observation fields of the day and of the day before, what every
weather source supplies, like the builder; none uses station identity), drops base
features, or changes a tree parameter.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/feature_screen.py [--seeds 0 1 2]
        [--only dpd_9am,wind_dir_change] [--combine dpd_9am+wind_dir_change]
        [--drop f1,f2] [--param max_features=0.3] [--networks [--network-seeds 0 1 2]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import numpy as np

Columns = dict[str, np.ndarray]
# The shipped ensemble's network weight, chosen on validation Brier by the last training.
NETWORK_WEIGHT = 0.4
Candidate = Callable[[Columns, Columns], Columns]


def _wrapped(degrees: np.ndarray) -> np.ndarray:
    """An angle difference in (-180, 180]."""
    return 180.0 - np.mod(180.0 - degrees, 360.0)


def candidates() -> dict[str, Candidate]:
    from raincast.features import _dew_point

    def dpd_9am(c: Columns, p: Columns) -> Columns:
        return {
            "dew_point_depression_9am": c["temp_9am"] - _dew_point(c["temp_9am"], c["humidity_9am"])
        }

    def dew_point_change(c: Columns, p: Columns) -> Columns:
        return {
            "dew_point_change": _dew_point(c["temp_3pm"], c["humidity_3pm"])
            - _dew_point(c["temp_9am"], c["humidity_9am"])
        }

    def changes_9am_24h(c: Columns, p: Columns) -> Columns:
        return {
            "humidity_9am_change_24h": c["humidity_9am"] - p["humidity_9am"],
            "temp_9am_change_24h": c["temp_9am"] - p["temp_9am"],
            "dew_point_9am_change_24h": _dew_point(c["temp_9am"], c["humidity_9am"])
            - _dew_point(p["temp_9am"], p["humidity_9am"]),
        }

    def dpd_3pm_change_24h(c: Columns, p: Columns) -> Columns:
        today = c["temp_3pm"] - _dew_point(c["temp_3pm"], c["humidity_3pm"])
        before = p["temp_3pm"] - _dew_point(p["temp_3pm"], p["humidity_3pm"])
        return {"dew_point_depression_3pm_change_24h": today - before}

    def pressure_30h(c: Columns, p: Columns) -> Columns:
        return {"pressure_change_30h": c["pressure_3pm"] - p["pressure_9am"]}

    def humidity_x_pressure(c: Columns, p: Columns) -> Columns:
        return {
            "humidity_3pm_x_pressure_fall": c["humidity_3pm"]
            * (c["pressure_9am"] - c["pressure_3pm"]),
            "humidity_3pm_x_pressure_fall_24h": c["humidity_3pm"]
            * (p["pressure_3pm"] - c["pressure_3pm"]),
        }

    def wind_dir_change(c: Columns, p: Columns) -> Columns:
        return {
            "wind_dir_change": _wrapped(c["wind_dir_3pm"] - c["wind_dir_9am"]),
            "wind_dir_3pm_change_24h": _wrapped(c["wind_dir_3pm"] - p["wind_dir_3pm"]),
        }

    def wind_speed_24h(c: Columns, p: Columns) -> Columns:
        return {
            "wind_gust_speed_change_24h": c["wind_gust_speed"] - p["wind_gust_speed"],
            "wind_speed_3pm_change_24h": c["wind_speed_3pm"] - p["wind_speed_3pm"],
        }

    def temp_range_24h(c: Columns, p: Columns) -> Columns:
        return {
            "temp_range_change_24h": (c["max_temp"] - c["min_temp"])
            - (p["max_temp"] - p["min_temp"])
        }

    def rain_two_days(c: Columns, p: Columns) -> Columns:
        both = np.where(
            np.isnan(c["rainfall"]) | np.isnan(p["rainfall"]),
            np.nan,
            ((c["rainfall"] > 1.0) & (p["rainfall"] > 1.0)) * 1.0,
        )
        return {"rainfall_two_days": c["rainfall"] + p["rainfall"], "rain_both_days": both}

    def rain_log(c: Columns, p: Columns) -> Columns:
        # the trees do not see a monotone transform (same splits); the networks do
        return {
            "log_rainfall": np.log1p(c["rainfall"]),
            "log_rainfall_yesterday": np.log1p(p["rainfall"]),
        }

    def max_minus_temp_9am(c: Columns, p: Columns) -> Columns:
        return {"max_minus_temp_9am": c["max_temp"] - c["temp_9am"]}

    return {
        name: function
        for name, function in locals().items()
        if callable(function) and not name.startswith("_")
    }


def uses_masked(candidate: Candidate, fields: tuple[str, ...]) -> list[str]:
    """The candidate's features that are NaN when only ``fields`` are missing."""
    from raincast.weather.base import OBSERVATION_FIELDS

    full = {name: np.array([10.0]) for name in OBSERVATION_FIELDS}
    lacking = {name: np.array([np.nan if name in fields else 10.0]) for name in full}
    with_all, without = candidate(full, full), candidate(lacking, lacking)
    return [k for k in with_all if np.isnan(without[k][0]) and not np.isnan(with_all[k][0])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", default=None, help="comma-separated candidates (default: all)")
    parser.add_argument(
        "--combine", action="append", default=[], help="a+b+c: also screen these together"
    )
    parser.add_argument(
        "--networks",
        action="store_true",
        help="also fit one network per seed (as the ensemble's) and report it and the blend",
    )
    parser.add_argument(
        "--network-seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds of the networks (default: --seeds); the blend averages all of each",
    )
    parser.add_argument(
        "--drop", action="append", default=[], help="f1,f2: also screen base without these"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        help="name=value: also screen base with this tree parameter changed",
    )
    args = parser.parse_args()

    from sklearn.ensemble import HistGradientBoostingClassifier

    from raincast.features import (
        FEATURE_NAMES,
        features_from_table,
        features_using,
        previous_values,
    )
    from raincast.model.metrics import score
    from raincast.weather.weatheraus import read_observations
    from raincast_cli.new_york import read_new_york
    from raincast_cli.training import (
        WEATHERAUS_LATITUDE,
        TrainingConfig,
        make_network,
        split_masks,
    )

    config = TrainingConfig()
    network_seeds = args.network_seeds if args.network_seeds is not None else args.seeds
    everything = candidates()
    chosen = [n for n in args.only.split(",") if n] if args.only is not None else list(everything)
    # label -> (candidates added, base features dropped, tree parameters changed)
    rows: dict[str, tuple[list[str], list[str], dict[str, float]]] = {"base": ([], [], {})}
    rows.update({name: ([name], [], {}) for name in chosen})
    rows.update({combo: (combo.split("+"), [], {}) for combo in args.combine})
    rows.update({f"without {d}": ([], d.split(","), {}) for d in args.drop})
    for change in args.param:
        name, value = change.split("=")
        rows[change] = ([], [], {name: float(value) if "." in value else int(value)})
    for names, dropped, _ in rows.values():
        unknown = (set(names) - set(everything)) | (set(dropped) - set(FEATURE_NAMES))
        if unknown:
            raise SystemExit(f"unknown candidates or features: {', '.join(sorted(unknown))}")

    def extra(values: Columns, before: Columns, names: list[str]) -> tuple[np.ndarray, list[str]]:
        """The candidates' columns (in ``extra_names`` order) and their names."""
        columns: Columns = {}
        for name in names:
            columns.update(everything[name](values, before))
        n = len(next(iter(values.values())))
        stacked = np.column_stack(list(columns.values())) if columns else np.zeros((n, 0))
        return stacked, list(columns)

    table = read_observations()
    labelled = ~np.isnan(table.rain_tomorrow)
    x_base = features_from_table(table, WEATHERAUS_LATITUDE)
    values = {k: np.asarray(v, dtype=np.float64) for k, v in table.values.items()}
    before = previous_values(table)
    fit, validation, _ = split_masks(table.dates[labelled], config)  # test period unused
    y = table.rain_tomorrow[labelled]
    y_fit, y_val = y[fit], y[validation]
    climatology = float(y_fit.mean())

    ny = read_new_york()
    ny_labelled = ~np.isnan(ny.rain_tomorrow)
    ny_base = features_from_table(ny, 40.7)
    ny_values = {k: np.asarray(v, dtype=np.float64) for k, v in ny.values.items()}
    ny_before = previous_values(ny)
    y_ny = ny.rain_tomorrow[ny_labelled]

    base_masked = list(features_using(config.masked_copy_fields))
    print(
        f"fit {int(fit.sum())} rows (< {config.validation_start}), validation "
        f"{int(validation.sum())} rows; New York {int(ny_labelled.sum())} days; seeds "
        f"{args.seeds}, network seeds {network_seeds if args.networks else 'none'} (one member each; 'avg' = their mean, as the ensemble averages its "
        f"members); load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(
        "| variant | features | val AUC (seeds) | d AUC | val BSS | d BSS | avg AUC | avg BSS "
        f"| NY AUC | NY mean (rate {y_ny.mean():.3f}) | s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base_scores: tuple[float, float] | None = None
    for label, (names, dropped, params) in rows.items():
        added, added_names = extra(values, before, names)
        ny_added, _ = extra(ny_values, ny_before, names)
        names_all = [*FEATURE_NAMES, *added_names]
        keep = [j for j, name in enumerate(names_all) if name not in dropped]
        kept_names = [names_all[j] for j in keep]
        masked_names = set(base_masked)
        for name in names:
            masked_names.update(uses_masked(everything[name], config.masked_copy_fields))
        masked = [kept_names.index(m) for m in masked_names if m in kept_names]
        x = np.hstack([x_base, added])[labelled][:, keep]
        x_fit = x[fit]
        copied = np.flatnonzero(~np.isnan(x_fit[:, masked]).all(axis=1))
        draw = np.random.default_rng(config.seed).random(len(copied))
        copied = copied[draw < config.masked_copy_fraction]
        copies = x_fit[copied]
        copies[:, masked] = np.nan
        x_train = np.vstack([x_fit, copies])
        y_train = np.concatenate([y_fit, y_fit[copied]])
        x_ny = np.hstack([ny_base, ny_added])[ny_labelled][:, keep]
        aucs, bsss, p_vals, p_nys = [], [], [], []
        net_vals: list[np.ndarray] = []
        net_nys: list[np.ndarray] = []
        start = time.perf_counter()
        for seed in args.seeds:
            model = HistGradientBoostingClassifier(
                random_state=seed, **{**config.tree_params, **params}
            )
            model.fit(x_train, y_train)
            p_val = model.predict_proba(x[validation])[:, 1]
            s = score(y_val, p_val, climatology)
            aucs.append(s.roc_auc)
            bsss.append(s.brier_skill)
            p_vals.append(p_val)
            p_nys.append(model.predict_proba(x_ny)[:, 1])
        for seed in network_seeds if args.networks else []:
            network = make_network(config, seed).fit(x_fit, y_fit)  # no copies, as trained
            net_vals.append(network.predict_proba(x[validation])[:, 1])
            net_nys.append(network.predict_proba(x_ny)[:, 1])
        auc, bss = float(np.mean(aucs)), float(np.mean(bsss))
        averaged = score(y_val, np.mean(p_vals, axis=0), climatology)
        p_ny = np.mean(p_nys, axis=0)
        if base_scores is None:
            base_scores = (auc, bss)
        spread = f" ({min(aucs):.4f}..{max(aucs):.4f})" if len(aucs) > 1 else ""
        print(
            f"| {label} | {len(keep)} | {auc:.4f}{spread} | {auc - base_scores[0]:+.4f} | "
            f"{bss:.4f} | {bss - base_scores[1]:+.4f} | {averaged.roc_auc:.4f} | "
            f"{averaged.brier_skill:.4f} | {score(y_ny, p_ny, climatology).roc_auc:.4f} | "
            f"{p_ny.mean():.3f} | {time.perf_counter() - start:.0f} |",
            flush=True,
        )
        if args.networks:
            net = score(y_val, np.mean(net_vals, axis=0), climatology)
            blend = np.mean(p_vals, axis=0) * (1 - NETWORK_WEIGHT) + NETWORK_WEIGHT * np.mean(
                net_vals, axis=0
            )
            blended = score(y_val, blend, climatology)
            blend_ny = np.mean(p_nys, axis=0) * (1 - NETWORK_WEIGHT) + NETWORK_WEIGHT * np.mean(
                net_nys, axis=0
            )
            print(
                f"|   networks / blend (w {NETWORK_WEIGHT}) | | net {net.roc_auc:.4f} | | "
                f"net {net.brier_skill:.4f} | | blend {blended.roc_auc:.4f} | blend "
                f"{blended.brier_skill:.4f} | {score(y_ny, blend_ny, climatology).roc_auc:.4f} | "
                f"{blend_ny.mean():.3f} | {time.perf_counter() - start:.0f} |",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
