"""Leave-region-out screen of corrections from a place's own climate: would a forecast for a
place the model never saw be better calibrated if it knew how often it rains there?

Outside Australia the model ranks well but its mean forecast is off (Seattle, from rain and
temperatures only: 4 points low). Issue 14 suggests the place's climatological rain-day
frequency for the month as an input or a calibration offset, without station identity.
This script measures offsets on held-out Australian climate regions
(``benchmarks/transfer_screen.py``'s regions and tree member: fitted on the fit period,
< 2014, without the region, scored on its stations in 2014; the test period and the
out-of-domain data are never read). For each held-out station the corrections use only
that station's own fit-period rows, what a deployment would read from a climate or
history API for the place:

- ``prior shift a``: logit p + a * (logit c[s, m] - logit c_train[m]), where c[s, m] is the
  station's rain-day frequency in calendar month m and c_train[m] the training rows'
  (the Bayes correction for a different base rate, scaled by a);
- ``history recalibration``: logit p + (logit c[s] - logit mean(p over the station's own
  fit-period rows)), per station, and ``... by month`` per station and month (shrunk
  towards the station's offset with 30 days' weight): the model's own mean forecast for
  the place's past set against how often it rained then; ``shipped recalibration``: the
  same by month with the Predict step's own ``raincast.model.recalibration.HistoryOffsets``
  (rain rates counted with half a rain day added), from all the station's history rows.

The same corrections are applied to the pooled fit (every region) on all of 2014, where the
stations are in the training data: a correction that generalises should cost nothing
there. Scores: ROC AUC, Brier skill (against the fitted rows' rain rate) and the mean
forecast minus the observed rate, averaged over the regions, and over the stations of each
region ("station |gap|": the mean absolute gap of the stations, what a user of one place
sees). Inputs as they are, and with only rain and temperatures ("rain+temps", Seattle's).

``--outside`` then applies the same corrections, with the shipped model, to the
out-of-domain sets (``raincast_cli.outside_data``: New York 2013, Seattle 2012-2015, five
cities 2016-2017), each split by time into the history and the scored part: evaluation
only, after the screen.

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks nice -n 19 \
        python benchmarks/climatology_screen.py [--outside]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transfer_screen as screen

from raincast.model.recalibration import HistoryOffsets

SHRINK_DAYS = 30.0
PRIOR_SHIFTS = (0.25, 0.5, 1.0)


def logit(p: np.ndarray | float) -> Any:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def monthly_rates(y: np.ndarray, month: np.ndarray) -> dict[int, float]:
    """The rain rate of ``y`` in each calendar month."""
    return {m: float(y[month == m].mean()) for m in range(1, 13)}


def offsets(
    data: dict[str, Any],
    rows: np.ndarray,
    history: np.ndarray,
    p_history: np.ndarray,
    train_month: dict[int, float],
) -> dict[str, np.ndarray]:
    """Each correction's logit offset for ``rows`` (a mask), from the stations' own
    ``history`` rows (a mask; ``p_history``: the model's forecasts for them);
    ``train_month``: the rain rate by month of the rows the model was fitted on."""
    y, station, month = data["y"], data["station"], data["month"]
    out = {f"prior shift {a}": np.zeros(int(rows.sum())) for a in PRIOR_SHIFTS}
    out["history recalibration"] = np.zeros(int(rows.sum()))
    out["history recalibration by month"] = np.zeros(int(rows.sum()))
    out["shipped recalibration"] = np.zeros(int(rows.sum()))
    index = np.flatnonzero(rows)
    p_all = np.full(len(y), np.nan)
    p_all[history] = p_history
    for s in np.unique(station[rows]):
        mine = index[station[index] == s]
        past = np.flatnonzero(history & (station == s))
        if len(past) == 0:
            continue
        p_past = p_all[past]
        station_offset = logit(y[past].mean()) - logit(p_past.mean())
        out["history recalibration"][np.searchsorted(index, mine)] = station_offset
        shipped = HistoryOffsets.fit(p_past, y[past], month[past])
        out["shipped recalibration"][np.searchsorted(index, mine)] = shipped.apply_offsets(
            month[mine]
        )
        for m in range(1, 13):
            now = mine[month[mine] == m]
            if len(now) == 0:
                continue
            then = month[past] == m
            at = np.searchsorted(index, now)
            climate = (y[past][then].sum() + 0.5) / (then.sum() + 1.0)
            for a in PRIOR_SHIFTS:
                out[f"prior shift {a}"][at] = a * (logit(climate) - logit(train_month[m]))
            n = float(then.sum())
            monthly = (
                logit(y[past][then].mean()) - logit(p_past[then].mean()) if n else station_offset
            )
            w = n / (n + SHRINK_DAYS)
            out["history recalibration by month"][at] = w * monthly + (1 - w) * station_offset
    return out


def scores(
    y: np.ndarray, p: np.ndarray, climatology: float, stations: np.ndarray
) -> dict[str, float]:
    from raincast.model.metrics import score

    s = score(y, p, climatology)
    gaps = [abs(p[stations == t].mean() - y[stations == t].mean()) for t in np.unique(stations)]
    return {
        "auc": s.roc_auc,
        "bss": s.brier_skill,
        "gap": float(p.mean() - y.mean()),
        "station_abs_gap": float(np.mean(gaps)),
    }


def evaluate(data: dict[str, Any], held_out: str | None, seed: int) -> dict[str, dict[str, float]]:
    """Scores of each correction (and none) for one held-out region (None: pooled)."""
    x, y, region, station, month = (data[k] for k in ("x", "y", "region", "station", "month"))
    model, keep, climatology = screen.fit_member(data, "base", seed, held_out)
    fitted = data["fit"] & (region != held_out)
    train_month = monthly_rates(y[fitted], month[fitted])
    where = (region == held_out) if held_out else np.ones(len(y), bool)
    rows, history = data["validation"] & where, data["fit"] & where
    out: dict[str, dict[str, float]] = {}
    for label, masked in (("", False), ("rain+temps ", True)):
        x_rows = screen.rain_temps_masked(x[rows]) if masked else x[rows]
        x_hist = screen.rain_temps_masked(x[history]) if masked else x[history]
        p = model.predict_proba(x_rows[:, keep])[:, 1]
        p_hist = model.predict_proba(x_hist[:, keep])[:, 1]
        out[f"{label}none"] = scores(y[rows], p, climatology, station[rows])
        for name, offset in offsets(data, rows, history, p_hist, train_month).items():
            corrected = sigmoid(logit(p) + offset)
            out[f"{label}{name}"] = scores(y[rows], corrected, climatology, station[rows])
    return out


def outside(australia: dict[str, Any]) -> None:
    """The corrections with the shipped model on the out-of-domain data sets, each split by
    time into a history and a scored part (evaluation only: nothing here is chosen on them;
    the corrections were screened above first)."""
    from raincast.model.artifact import RainModel
    from raincast_cli.outside_data import installed

    model = RainModel.load()
    climatology = float(australia["y"].mean())
    train_month = monthly_rates(australia["y"], australia["month"])
    print("\nshipped model outside Australia (history -> scored, by time):")

    def skipped(data_set: Any, exc: Exception) -> None:
        print(f"  {data_set.title}: skipped ({exc})")

    for data_set, table in installed(skipped):
        x, y_all, labelled = data_set.labelled(table)
        dates = table.dates[labelled]
        month = screen.calendar_month(dates)
        year = dates.astype("datetime64[Y]").astype(int) + 1970
        data = {"y": y_all, "station": table.locations[labelled], "month": month}
        p = model.predict_proba(x)
        if len(np.unique(year)) > 2:  # earlier years the history, later ones scored
            cut = int(np.median(np.unique(year)))
            splits = [(f"history to {cut}, scored after", year <= cut, year > cut)]
        else:  # one year: each half the other's history (no month has its own history)
            first = month <= 6
            splits = [("history Jan-Jun, scored Jul-Dec", first, ~first),
                      ("history Jul-Dec, scored Jan-Jun", ~first, first)]  # fmt: skip
        for label, history, rows in splits:
            y, stations = y_all[rows], data["station"][rows]
            print(f"  {data_set.title}, {label} (rain rate {y.mean():.3f}):")
            found = {"none": np.zeros(int(rows.sum()))}
            found.update(offsets(data, rows, history, p[history], train_month))
            for name, offset in found.items():
                corrected = sigmoid(logit(p[rows]) + offset)
                m = scores(y, corrected, climatology, stations)
                print(
                    f"    {name}: AUC {m['auc']:.4f}, Brier skill {m['bss']:.4f}, mean "
                    f"forecast {corrected.mean():.3f} ({100 * m['gap']:+.1f} points)"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--outside", action="store_true", help="also apply them to the out-of-domain sets"
    )
    args = parser.parse_args()
    data = screen.load()
    held: list[str | None] = [*screen.REGIONS, None]
    print(
        f"{len(held) - 1} held-out regions and the pooled fit, seed {args.seed}; load "
        f"average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    from joblib import Parallel, delayed

    started = time.perf_counter()
    results = Parallel(n_jobs=args.jobs)(delayed(evaluate)(data, r, args.seed) for r in held)
    print(f"fitted and scored in {time.perf_counter() - started:.0f} s", flush=True)
    by_region = dict(zip(held, results, strict=True))
    print(
        "\n| correction | LRO AUC | LRO BSS | LRO gap | LRO |gap| | station |gap| "
        "| pooled AUC | pooled BSS | pooled station |gap| |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in results[0]:
        lro = [by_region[r][name] for r in screen.REGIONS]
        pooled = by_region[None][name]
        print(
            f"| {name} | {np.mean([m['auc'] for m in lro]):.4f} "
            f"| {np.mean([m['bss'] for m in lro]):.4f} | {np.mean([m['gap'] for m in lro]):+.3f} "
            f"| {np.mean([abs(m['gap']) for m in lro]):.3f} "
            f"| {np.mean([m['station_abs_gap'] for m in lro]):.3f} "
            f"| {pooled['auc']:.4f} | {pooled['bss']:.4f} | {pooled['station_abs_gap']:.3f} |"
        )
    print("\nper held-out region (gap without correction -> history recalibration by month):")
    for r in screen.REGIONS:
        m = by_region[r]
        print(
            f"  {r}: {m['none']['gap']:+.3f} -> {m['history recalibration by month']['gap']:+.3f}"
            f"; rain+temps {m['rain+temps none']['gap']:+.3f} -> "
            f"{m['rain+temps history recalibration by month']['gap']:+.3f}"
        )
    if args.outside:
        outside(data)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
