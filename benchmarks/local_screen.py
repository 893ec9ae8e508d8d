"""Local adaptation screen: can a place's own labelled past year re-rank its days, not only
shift their mean?

The shipped history recalibration (``raincast.model.recalibration``) shifts the model's
logit by an offset per place and calendar month, from the model's mean forecast over the
place's 365 days ending 7 days before the forecast date against how often it rained on
them. A monotone shift cannot change the ranking within a place, and the AUC there is
below issue 14's goal of 0.86. This screen fits, on exactly that window (the same
``history_period`` and ``MIN_LABELLED_DAYS``, refitted for every scored day), small
logistic regressions on top of the model and compares, on exactly the days the model
benchmark's replay scores (``recalibrate_series`` not NaN, as in
``benchmarks/model_bench.py``):

- ``model``: the model alone;
- ``recal``: the shipped month recalibration (``recalibrate_series`` itself);
- ``platt``: per-place Platt scaling, a + b * logit p fitted on the window (monotone, a
  reference);
- ``stack l=L``: the local stack, logit p + offset[month] + c0 + c1 * logit p + w . f, on
  the window, where offset is the shipped month recalibration fitted on the same window
  (so the stack shrinks towards the shipped forecast), f a few of the place's inputs
  standardised on the window (``LOCAL_FEATURES``, those the set has: 3 pm humidity, the
  24 h change of 3 pm pressure, rain today, the temperature range, the 3 pm dew-point
  depression, the 24 h change of the maximum temperature; missing values at the window
  mean), and an L2 penalty L on c1 and w (c0 free; the window has 180-365 days).

Sets: the shipped model on the sets outside Australia (``raincast_cli.outside_data``), per
set and per place; with ``--australia`` also the holdout model on Australia's held-out
period (``benchmarks/holdout_model``), each station's past year from its own rows, where
the stack must not cost anything. Scores: days, ROC AUC, Brier skill (against the rain
rate of the holdout model's training period, as in the model benchmark) and the mean
forecast minus the rain rate; ``dAUC`` is each variant's AUC minus ``recal``'s (and
``model``'s) with a 90% interval from a paired bootstrap over 14-day blocks of the place's
days (a within-place ranking change beyond noise has an interval that excludes 0).

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks nice -n 19 \
        .venv/bin/python benchmarks/local_screen.py [--australia]

About 45 s with ``--australia`` (10 s without), one process, on the 2-core machine.

Finding (one run; the penalty worth looking at, 30, is the one with the best Brier skill in
Australia, so it was not chosen on the sets outside): the stack re-ranks some places, not
all, and not by enough for the goal. Its within-place AUC change against the shipped
recalibration is beyond the bootstrap's noise at 3 of the 8 places outside Australia, JFK
+0.011 (0.854 -> 0.865), Seattle +0.010 (0.775 -> 0.785) and Beijing +0.017 (0.790 ->
0.807); it is within noise at LGA (+0.008), San Diego (+0.021), Mumbai (+0.001), EWR
(+0.000) and Chicago (-0.004); no place is significantly worse. Against the model alone
only JFK's gain (+0.013) is beyond noise (Seattle's recalibration costs 0.0075 of AUC,
which the stack only wins back: +0.002 over the model). Pooled AUC: New York 0.868 ->
0.874, Seattle 0.775 -> 0.785, the third set 0.829 -> 0.851 (still under 0.86); Brier
skill +0.01 (New York), +0.015 (Seattle), +0.047 (third set; Chicago's -0.09 -> +0.01).
Costs: the mean forecast sits above the rain rate at 7 of the 8 places (+1.0 to +2.2
points; Mumbai -0.8), the places' mean absolute gap 1.25 -> 1.29 points, New York's pooled
+1.0 -> +1.7, LGA +1.2 -> +2.2 (out of the goal), Seattle +0.3 -> +1.0; in Australia
(holdout model, 49 stations, 25,857 held-out days) pooled AUC 0.8964 -> 0.8966 and Brier
skill 0.4222 -> 0.4237, but the stations' own AUC 0.0007 lower than with the
recalibration and 0.0031 lower than the model alone (8 of 49 stations above it). The
weakest penalty (3) gives the largest lifts outside (JFK +0.033, Beijing +0.034) and
visibly overfits in Australia (station AUC -0.0053 against the model, Brier skill
0.4174), the strongest (300) changes little anywhere. Per-place Platt (monotone) never
helps within a place. Eight places and three penalties make a few intervals excluding 0
expected by chance, so this is a lead, not a result: worth a second look with the penalty
and the feature list fixed in advance on more out-of-domain places, not worth shipping
on this evidence. Also seen: the shipped month offsets themselves cost within-station
AUC in Australia (-0.0024 against the model alone; 44 of 49 stations lower).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from raincast.features import FEATURE_NAMES
from raincast.model.metrics import roc_auc, score
from raincast.model.recalibration import (
    MIN_LABELLED_DAYS,
    HistoryOffsets,
    history_period,
    logit,
    recalibrate_series,
    sigmoid,
)

LOCAL_FEATURES = (
    "humidity_3pm",
    "pressure_3pm_change_24h",
    "rain_today",
    "temp_range",
    "dew_point_depression_3pm",
    "max_temp_change_24h",
)
PENALTIES = (3.0, 30.0, 300.0)
MIN_PRESENT = 0.8  # a feature enters a window's fit if present on this share of its days
BLOCK_DAYS = 14
BOOTSTRAPS = 400
EPOCH = dt.date(1970, 1, 1)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, offset: np.ndarray, penalty: np.ndarray, steps: int = 30
) -> np.ndarray:
    """Coefficients of an L2-penalised logistic regression with a fixed ``offset`` (Newton
    steps): minimises the log loss of sigmoid(offset + x @ w) + 0.5 * sum(penalty * w**2)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = sigmoid(offset + x @ w)
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return w


def local_variants(
    p: np.ndarray,
    y: np.ndarray,
    dates: np.ndarray,
    places: np.ndarray,
    x: np.ndarray,
    scored: np.ndarray,
) -> dict[str, np.ndarray]:
    """Platt and the local stacks for each ``scored`` day (NaN elsewhere), each fitted on
    the day's place's history window (the days whose next day is in it, as
    ``recalibrate_series`` counts them)."""
    columns = [FEATURE_NAMES.index(name) for name in LOCAL_FEATURES]
    f_all = x[:, columns]
    z_all = logit(p)
    day = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    month = (np.asarray(dates, dtype="datetime64[M]").astype(np.int64) % 12) + 1
    names = ["platt", *(f"stack l={lam:g}" for lam in PENALTIES)]
    out = {name: np.full(len(p), np.nan) for name in names}
    # the middle penalty's coefficients (per standard deviation), NaN where a feature is
    # absent from the window: which inputs the stack re-weights
    out["coefficients"] = np.full((len(p), 2 + len(LOCAL_FEATURES)), np.nan)
    for here in np.unique(places[scored]):
        rows = np.flatnonzero(places == here)
        rows = rows[np.argsort(day[rows], kind="stable")]
        days = day[rows]
        for i in rows[scored[rows]]:
            start, end = history_period(EPOCH + dt.timedelta(days=int(day[i])))
            lo, hi = np.searchsorted(days, [(start - EPOCH).days, (end - EPOCH).days])
            past = rows[lo:hi]
            if len(past) < MIN_LABELLED_DAYS:
                continue
            yp, zp = y[past], z_all[past]
            # Platt: a + b * logit p, unpenalised
            platt_x = np.column_stack([np.ones(len(past)), zp])
            a, b = fit_logistic(platt_x, yp, np.zeros(len(past)), np.zeros(2))
            out["platt"][i] = sigmoid(a + b * z_all[i])
            # the stack on top of the shipped month recalibration of the same window
            shipped = HistoryOffsets.fit(p[past], yp, month[past])
            base_past = zp + shipped.apply_offsets(month[past])
            base_now = z_all[i] + shipped.offset(int(month[i]))
            fp = f_all[past]
            present = np.mean(~np.isnan(fp), axis=0) >= MIN_PRESENT
            fp, fi = fp[:, present], f_all[i, present]
            mean = np.nanmean(fp, axis=0)
            spread = np.nanstd(fp, axis=0)
            spread[~(spread > 0)] = 1.0
            fp = np.nan_to_num((fp - mean) / spread)
            fi = np.nan_to_num((fi - mean) / spread)
            z_mean, z_spread = zp.mean(), zp.std() or 1.0
            stack_x = np.column_stack([np.ones(len(past)), (zp - z_mean) / z_spread, fp])
            now_x = np.concatenate([[1.0, (z_all[i] - z_mean) / z_spread], fi])
            for lam in PENALTIES:
                penalty = np.full(stack_x.shape[1], lam)
                penalty[0] = 0.0
                w = fit_logistic(stack_x, yp, base_past, penalty)
                out[f"stack l={lam:g}"][i] = sigmoid(base_now + now_x @ w)
                if lam == PENALTIES[len(PENALTIES) // 2]:
                    out["coefficients"][i, :2] = w[:2]
                    out["coefficients"][i, 2 + np.flatnonzero(present)] = w[2:]
    return out


def blocks(day: np.ndarray) -> np.ndarray:
    """Each day's ``BLOCK_DAYS`` block number (for the block bootstrap)."""
    return (day - day.min()) // BLOCK_DAYS


def delta_auc(
    y: np.ndarray, p: np.ndarray, ref: np.ndarray, day: np.ndarray, rng: np.random.Generator
) -> tuple[float, float, float]:
    """AUC of ``p`` minus that of ``ref`` and a 90% paired block-bootstrap interval."""
    point = roc_auc(y, p) - roc_auc(y, ref)
    block = blocks(day)
    ids = np.unique(block)
    members = [np.flatnonzero(block == b) for b in ids]
    found = []
    for _ in range(BOOTSTRAPS):
        take = np.concatenate([members[k] for k in rng.integers(0, len(ids), len(ids))])
        yt = y[take]
        if 0 < yt.sum() < len(yt):
            found.append(roc_auc(yt, p[take]) - roc_auc(yt, ref[take]))
    lo, hi = np.percentile(found, [5, 95])
    return point, float(lo), float(hi)


def report(
    title: str,
    p: np.ndarray,
    y: np.ndarray,
    dates: np.ndarray,
    places: np.ndarray,
    x: np.ndarray,
    climatology: float,
    per_place: bool = True,
) -> dict[str, dict[str, float]]:
    """Every variant on the days the model benchmark scores; prints the set's table and,
    with ``per_place``, each place's. Returns the set's pooled scores."""
    recal = recalibrate_series(p, y, dates, places)
    scored = ~np.isnan(recal)
    started = time.perf_counter()
    variants = {"model": p, "recal": recal}
    variants.update(local_variants(p, y, dates, places, x, scored))
    coefficients = variants.pop("coefficients")
    seconds = time.perf_counter() - started
    day = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    rng = np.random.default_rng(0)
    print(
        f"\n== {title}: {int(scored.sum())} scored days of {len(y)}, "
        f"{len(np.unique(places[scored]))} places (local fits {seconds:.0f} s)"
    )
    print(
        "| rows | variant | days | AUC | dAUC vs recal [90%] | dAUC vs model [90%] "
        "| Brier skill | gap |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    groups: list[tuple[str, np.ndarray]] = [("all", scored)]
    if per_place and len(np.unique(places[scored])) > 1:
        groups += [(str(h), scored & (places == h)) for h in np.unique(places[scored])]
    pooled: dict[str, dict[str, float]] = {}
    for label, rows in groups:
        yr = y[rows]
        for name, q in variants.items():
            s = score(yr, q[rows], climatology)
            gap = 100 * float(q[rows].mean() - yr.mean())
            deltas = []
            for ref_name in ("recal", "model"):
                ref = variants[ref_name][rows]
                if name == ref_name:
                    deltas.append("")
                elif label == "all" and len(groups) > 1:  # pooled places: no interval
                    deltas.append(f"{s.roc_auc - roc_auc(yr, ref):+.4f}")
                else:  # within one place: a ranking change; the interval says if beyond noise
                    d, lo, hi = delta_auc(yr, q[rows], ref, day[rows], rng)
                    deltas.append(f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            print(
                f"| {label} | {name} | {len(yr)} | {s.roc_auc:.4f} | {deltas[0]} | {deltas[1]} "
                f"| {s.brier_skill:.4f} | {gap:+.1f} pt |"
            )
            if label == "all":
                pooled[name] = {"auc": s.roc_auc, "bss": s.brier_skill, "gap": gap}
    print_coefficients(coefficients, places, scored)
    return pooled


def print_coefficients(coefficients: np.ndarray, places: np.ndarray, scored: np.ndarray) -> None:
    """Each place's mean stack coefficients (middle penalty) over its scored days."""
    lam = PENALTIES[len(PENALTIES) // 2]
    names = ["c0", "logit p", *LOCAL_FEATURES]
    print(f"\nstack l={lam:g}, mean coefficients per standard deviation (- : absent):")
    print("| place | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for h in np.unique(places[scored]):
        c = coefficients[scored & (places == h)]
        cells = [
            "-" if np.isnan(c[:, j]).all() else f"{np.nanmean(c[:, j]):+.2f}"
            for j in range(c.shape[1])
        ]
        print(f"| {h} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--australia", action="store_true", help="also the holdout model's held-out period"
    )
    args = parser.parse_args()
    from model_bench import HOLDOUT_DIR

    from raincast.features import features_from_table
    from raincast.model.artifact import RainModel
    from raincast.weather.weatheraus import read_observations
    from raincast_cli.outside_data import OutsideDataSet, installed
    from raincast_cli.training import WEATHERAUS_LATITUDE

    started = time.perf_counter()
    print(f"load average at the start {os.getloadavg()[0]:.2f}", flush=True)
    holdout = RainModel.load(HOLDOUT_DIR)
    shipped = RainModel.load()
    table = read_observations()
    train_end = np.datetime64(holdout.metadata["trained_period"]["end"])
    y_au = table.rain_tomorrow
    climatology = float(y_au[(table.dates <= train_end) & ~np.isnan(y_au)].mean())
    print(f"climatology (holdout training period's rain rate) {climatology:.4f}")

    def skipped(data: OutsideDataSet, exc: Exception) -> None:
        print(f"\n== {data.title}: skipped ({exc})")

    for data, outside in installed(skipped):
        xo, yo, labelled = data.labelled(outside)
        report(
            f"{data.title}, shipped model",
            shipped.predict_proba(xo),
            yo,
            outside.dates[labelled],
            outside.locations[labelled],
            xo,
            climatology,
        )
    if args.australia:
        test_start = np.datetime64(holdout.metadata["periods"]["test"]["start"])
        # the held-out period and the year before it, for its first days' windows
        window_start = test_start - np.timedelta64(400, "D")
        keep = (table.dates >= window_start) & ~np.isnan(y_au)
        x = features_from_table(table, WEATHERAUS_LATITUDE)[keep]
        y, dates, places = y_au[keep], table.dates[keep], table.locations[keep]
        p = holdout.predict_proba(x)
        # only the held-out days are scored: mask the rest out of the scored set by
        # scoring the report on them (windows still read the earlier rows)
        in_test = dates >= test_start
        report_australia(p, y, dates, places, x, climatology, in_test)
    print(
        f"\nwall time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    return 0


def report_australia(
    p: np.ndarray,
    y: np.ndarray,
    dates: np.ndarray,
    places: np.ndarray,
    x: np.ndarray,
    climatology: float,
    in_test: np.ndarray,
) -> None:
    """The Australian sanity check: every variant on the held-out days that have a window,
    pooled, and the mean over the stations of each one's within-station AUC change."""
    recal = recalibrate_series(p, y, dates, places)
    scored = ~np.isnan(recal) & in_test
    started = time.perf_counter()
    variants = {"model": p, "recal": recal}
    variants.update(local_variants(p, y, dates, places, x, scored))
    coefficients = variants.pop("coefficients")
    seconds = time.perf_counter() - started
    stations = np.unique(places[scored])
    print(
        f"\n== Australia, holdout model, held-out period: {int(scored.sum())} scored days, "
        f"{len(stations)} stations (local fits {seconds:.0f} s)"
    )
    print(
        "| variant | days | pooled AUC | Brier skill | gap | mean station AUC "
        "| mean station dAUC vs recal | stations up | mean station dAUC vs model "
        "| stations up | mean station |gap| |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, q in variants.items():
        s = score(y[scored], q[scored], climatology)
        aucs, deltas, vs_model, gaps = [], [], [], []
        for h in stations:
            rows = scored & (places == h)
            if 0 < y[rows].sum() < rows.sum():
                a = roc_auc(y[rows], q[rows])
                aucs.append(a)
                deltas.append(a - roc_auc(y[rows], recal[rows]))
                vs_model.append(a - roc_auc(y[rows], p[rows]))
            gaps.append(abs(float(q[rows].mean() - y[rows].mean())))
        print(
            f"| {name} | {int(scored.sum())} | {s.roc_auc:.4f} | {s.brier_skill:.4f} "
            f"| {100 * float(q[scored].mean() - y[scored].mean()):+.1f} pt "
            f"| {np.mean(aucs):.4f} | {np.mean(deltas):+.4f} "
            f"| {sum(d > 0 for d in deltas)}/{len(deltas)} | {np.mean(vs_model):+.4f} "
            f"| {sum(d > 0 for d in vs_model)}/{len(vs_model)} | {100 * np.mean(gaps):.1f} pt |"
        )
    # the stations pooled into one row: the mean of their days' coefficients
    print_coefficients(coefficients, np.full(len(places), "all stations"), scored)


if __name__ == "__main__":
    sys.exit(main())
