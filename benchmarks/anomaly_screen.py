"""Leave-region-out screen of features relative to the place's own climate ("anomalies"):
would a model that reads "3 pm humidity 15 points above this place's normal for the month"
rank the days of a place it never saw better than one that reads "3 pm humidity 70%"?

Issue 14's goal outside Australia (ROC AUC >= 0.86) is missed, and the recalibration per
place (``raincast.model.recalibration``) fixes the mean forecast, not the ranking. Without
station identity the model maps the same absolute humidity, pressure or temperature to the
same probability everywhere, while what signals rain differs by climate. This screen adds
to the features, or puts in place of the absolute values, each of ``SOURCES`` (humidity,
pressure, temperatures, dew point and its 3 pm depression, cloud, sunshine, wind speeds)
minus the place's own reference value (``REFERENCES``):

- ``monthly``: the station's own mean of that feature in the row's calendar month, from the
  station's fit-period rows only (< 2014; at least ``MIN_DAYS`` values, else missing): what
  a climate or history service (Open-Meteo's archive, say) gives for a new place;
  "standardised" variants also divide by the station's spread (standard deviation) for the
  month;
- ``monthly (1 year)``: the same from the station's last fit-period year only (2013), a
  history as short as the outside sets' below (one or two years; Australia's stations
  otherwise have about six): does a variant's gain survive a normal from one year?
- ``30-day``: the mean of the station's own previous ``TRAILING_DAYS`` days (at least
  ``MIN_TRAILING`` values; the day itself excluded): relative to the recent weather rather
  than the climate, which needs no more history than a month.

The protocol is ``benchmarks/transfer_screen.py``'s (its regions, helpers and summary; the
tree member of ``TrainingConfig().tree_params`` with the training's masked cloud/sunshine
copies, whose anomalies are masked with them): one member fitted on the fit period without
one region, scored on that region's stations in 2014 (ROC AUC, Brier skill against the
fitted rows' rain rate, mean forecast minus the rain rate; as they are, and with every
input but rain and the temperatures masked, Seattle's inputs, the anomalies of the masked
fields masked too), averaged over the regions and the seeds; and a "pooled" member fitted
on every region, scored on all of 2014: what a variant costs in Australia. The test period
(2015-2016) is never read.

The pooled member of each variant and seed is then scored outside Australia
(``raincast_cli.outside_data``; evaluation only, nothing is chosen on it), with each place's
references from its own data: Seattle (2012-2015) and the four cities (2016-2017) take the
earlier years as the history of the monthly references and are scored on the later ones;
New York has one year (2013), so a month's reference there is the mean of the airport's two
neighbouring calendar months (January's: February and December), which holds none of the
scored month's days. The 30-day references only ever read earlier days. The base features
are scored on the same rows.

Each fit's scores are cached in ``--cache`` (JSON), so a run can be extended with seeds or
variants. The whole screen (7 variants, seeds 0 and 1: 84 fits of 8-25 s each, at nice 19
on 2 shared cores) takes about 18 minutes in one process.

    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks nice -n 19 \
        python benchmarks/anomaly_screen.py [--seeds 0 1] [--variants base,...] [--jobs 1]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transfer_screen as screen

# Base features that get an anomaly column (computed from the feature column itself, so a
# feature that is missing, or masked, has a missing anomaly).
SOURCES: tuple[str, ...] = (
    "humidity_9am",
    "humidity_3pm",
    "pressure_9am",
    "pressure_3pm",
    "min_temp",
    "max_temp",
    "temp_9am",
    "temp_3pm",
    "dew_point_9am",
    "dew_point_3pm",
    "dew_point_depression_3pm",
    "cloud_9am",
    "cloud_3pm",
    "sunshine",
    "wind_gust_speed",
    "wind_speed_9am",
    "wind_speed_3pm",
)
REFERENCES = ("monthly", "monthly (1 year)", "30-day")
MIN_DAYS = 10  # values of a station and calendar month for its monthly reference
TRAILING_DAYS = 30
MIN_TRAILING = 10  # values in the previous TRAILING_DAYS days for the 30-day reference

# label -> settings: "reference" (one of REFERENCES; none: the base features), "scale"
# (anomalies divided by the reference spread), "replace" (SOURCES' absolute values left out)
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "+ monthly anomalies": {"reference": "monthly"},
    "+ standardised monthly anomalies": {"reference": "monthly", "scale": True},
    "monthly anomalies instead": {"reference": "monthly", "replace": True},
    "standardised monthly anomalies instead": {
        "reference": "monthly",
        "scale": True,
        "replace": True,
    },
    "+ standardised monthly anomalies (1-year normal)": {
        "reference": "monthly (1 year)",
        "scale": True,
    },
    "+ 30-day anomalies": {"reference": "30-day"},
}

Reference = tuple[np.ndarray, np.ndarray]  # (centre, spread), rows x SOURCES


def source_columns() -> list[int]:
    from raincast.features import FEATURE_NAMES

    return [FEATURE_NAMES.index(name) for name in SOURCES]


def monthly_reference(
    values: np.ndarray,
    station: np.ndarray,
    month: np.ndarray,
    history: np.ndarray,
    neighbours: bool = False,
) -> Reference:
    """Each row's station mean and standard deviation of ``values`` (rows x columns) in the
    row's calendar month, over the station's ``history`` rows (a mask; NaN where fewer than
    ``MIN_DAYS`` values). ``neighbours``: from the two neighbouring calendar months instead
    (their means averaged), for a place with no earlier year."""
    codes, place = np.unique(station.astype(str), return_inverse=True)
    group = place * 12 + (month - 1)
    known = ~np.isnan(values) & history[:, None]
    filled = np.where(known, values, 0.0)
    size = len(codes) * 12
    shape = (len(codes), 12, values.shape[1])

    def total(weights: np.ndarray) -> np.ndarray:
        sums = [np.bincount(group, weights=w, minlength=size) for w in weights.T]
        return np.stack(sums, axis=1).reshape(shape)

    n, s, ss = total(known * 1.0), total(filled), total(filled**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n >= MIN_DAYS, s / n, np.nan)
        spread = np.sqrt(np.maximum(ss / n - mean**2, 0.0))
    spread = np.where(spread > 0.0, spread, np.nan)
    if neighbours:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # neither neighbour: NaN
            mean = np.nanmean([np.roll(mean, 1, axis=1), np.roll(mean, -1, axis=1)], axis=0)
            spread = np.nanmean([np.roll(spread, 1, axis=1), np.roll(spread, -1, axis=1)], axis=0)
    flat = (-1, values.shape[1])
    return mean.reshape(flat)[group], spread.reshape(flat)[group]


def trailing_reference(values: np.ndarray, station: np.ndarray, days: np.ndarray) -> Reference:
    """Each row's mean and standard deviation of ``values`` over its station's previous
    ``TRAILING_DAYS`` days (``days``: day numbers; NaN where fewer than ``MIN_TRAILING``
    values)."""
    station = station.astype(str)
    centre = np.full(values.shape, np.nan)
    spread = np.full(values.shape, np.nan)
    zeros = np.zeros((1, values.shape[1]))
    for s in np.unique(station):
        rows = np.flatnonzero(station == s)
        day = days[rows] - days[rows].min()
        grid = np.full((day.max() + 1, values.shape[1]), np.nan)
        grid[day] = values[rows]
        known = ~np.isnan(grid)
        filled = np.where(known, grid, 0.0)
        # cumulative[i]: the sum over grid[:i], so grid[lo:i] sums to cumulative[i] - [lo]
        n, t, tt = (np.vstack([zeros, np.cumsum(a, axis=0)]) for a in (known, filled, filled**2))
        lo = np.maximum(day - TRAILING_DAYS, 0)
        count = n[day] - n[lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = (t[day] - t[lo]) / count
            sd = np.sqrt(np.maximum((tt[day] - tt[lo]) / count - mean**2, 0.0))
        enough = count >= MIN_TRAILING
        centre[rows] = np.where(enough, mean, np.nan)
        spread[rows] = np.where(enough & (sd > 0.0), sd, np.nan)
    return centre, spread


def day_numbers(dates: np.ndarray) -> np.ndarray:
    return np.asarray(dates).astype("datetime64[D]").astype(np.int64)


def design(x: np.ndarray, references: dict[str, Reference], variant: str) -> np.ndarray:
    """The variant's input matrix: the base features (without ``SOURCES`` when it replaces
    them) and the anomalies of ``SOURCES`` against the variant's reference."""
    settings = VARIANTS[variant]
    if not settings.get("reference"):
        return x
    from raincast.features import FEATURE_NAMES

    columns = source_columns()
    centre, spread = references[settings["reference"]]
    anomalies = x[:, columns] - centre
    if settings.get("scale"):
        anomalies = anomalies / spread
    keep = [j for j in range(len(FEATURE_NAMES)) if not settings.get("replace") or j not in columns]
    return np.hstack([x[:, keep], anomalies])


def load() -> dict[str, Any]:
    """``transfer_screen.load()``'s rows with each station's references: monthly from its
    fit-period rows, 30-day from its previous days."""
    from raincast.weather.weatheraus import read_observations

    data = screen.load()
    table = read_observations()
    days = day_numbers(table.dates[~np.isnan(table.rain_tomorrow)])
    if len(days) != len(data["y"]):
        raise SystemExit("the observations table changed between two reads")
    values = data["x"][:, source_columns()]
    last_year = data["fit"] & (days >= day_numbers(np.array(["2013-01-01"]))[0])
    station, month = data["station"], data["month"]
    data["references"] = {
        "monthly": monthly_reference(values, station, month, data["fit"]),
        "monthly (1 year)": monthly_reference(values, station, month, last_year),
        "30-day": trailing_reference(values, station, days),
    }
    return data


def outside_sets() -> list[dict[str, Any]]:
    """The out-of-domain sets with their references from their own data and the rows scored
    (evaluation only)."""
    from raincast_cli.outside_data import installed

    def skipped(data_set: Any, exc: Exception) -> None:
        print(f"  {data_set.title}: skipped ({exc})")

    out = []
    for data_set, table in installed(skipped):
        x, y, labelled = data_set.labelled(table)
        dates = table.dates[labelled]
        station = table.locations[labelled]
        month = screen.calendar_month(dates)
        year = dates.astype("datetime64[Y]").astype(int) + 1970
        values = x[:, source_columns()]
        trailing = trailing_reference(values, station, day_numbers(dates))
        if len(np.unique(year)) > 1:  # earlier years the monthly history, later ones scored
            cut = int(np.median(np.unique(year)))
            scored = year > cut
            monthly = monthly_reference(values, station, month, ~scored)
            label = f"monthly history to {cut}, scored after"
        else:
            scored = np.ones(len(y), dtype=bool)
            monthly = monthly_reference(values, station, month, scored, neighbours=True)
            label = "monthly reference from the neighbouring months, every day scored"
        out.append(
            {
                "key": data_set.key,
                "title": data_set.title,
                "label": label,
                "x": x[scored],
                "y": y[scored],
                "references": {
                    "monthly": (monthly[0][scored], monthly[1][scored]),
                    # their history is a year or less already
                    "monthly (1 year)": (monthly[0][scored], monthly[1][scored]),
                    "30-day": (trailing[0][scored], trailing[1][scored]),
                },
            }
        )
    return out


def copied_rows(x: np.ndarray, fields: tuple[str, ...], fraction: float, seed: int) -> np.ndarray:
    """The rows ``raincast_cli.training.with_masked_copies`` copies (its selection)."""
    from raincast.features import FEATURE_NAMES, features_using

    if not fields or fraction <= 0.0:
        return np.zeros(0, dtype=np.int64)
    columns = [FEATURE_NAMES.index(name) for name in features_using(fields)]
    rows = np.flatnonzero(~np.isnan(x[:, columns]).all(axis=1))
    if fraction < 1.0:
        rows = rows[np.random.default_rng(seed).random(len(rows)) < fraction]
    return rows


def fit_member(
    data: dict[str, Any], variant: str, seed: int, held_out: str | None
) -> tuple[Any, float]:
    """One tree member of ``variant`` fitted on the fit period without ``held_out`` (None:
    every region), with the training's masked copies (their anomalies masked with them);
    returns it and the rain rate of the rows it was fitted on."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from raincast_cli.training import TrainingConfig, with_masked_copies

    config = TrainingConfig()
    train = data["fit"] & (data["region"] != held_out)
    x_fit, y_fit = data["x"][train], data["y"][train]
    fields, fraction = config.masked_copy_fields, config.masked_copy_fraction
    x_aug, y_aug = with_masked_copies(x_fit, y_fit, fields, fraction, config.seed)
    rows = copied_rows(x_fit, fields, fraction, config.seed)
    copies = x_aug[len(x_fit) :]
    known = ~np.isnan(copies)
    if len(copies) != len(rows) or not np.array_equal(copies[known], x_fit[rows][known]):
        raise RuntimeError("copied_rows no longer matches with_masked_copies")
    references = {
        name: (np.vstack([c[train], c[train][rows]]), np.vstack([s[train], s[train][rows]]))
        for name, (c, s) in data["references"].items()
    }
    model = HistGradientBoostingClassifier(random_state=seed, **config.tree_params)
    model.fit(design(x_aug, references, variant), y_aug)
    return model, float(y_fit.mean())


def scores(y: np.ndarray, p: np.ndarray, climatology: float) -> dict[str, float]:
    from raincast.model.metrics import score

    s = score(y, p, climatology)
    return {"auc": s.roc_auc, "bss": s.brier_skill, "gap": float(p.mean() - y.mean())}


def fit_and_score(
    data: dict[str, Any],
    outside: list[dict[str, Any]],
    variant: str,
    seed: int,
    held_out: str | None,
) -> dict[str, float]:
    """One member fitted without ``held_out``, scored on the held-out region's validation
    rows as they are and with rain+temps only (the pooled fit, ``held_out`` None: on all
    of them, and on the ``outside`` sets)."""
    x, y, region = data["x"], data["y"], data["region"]
    scored = data["validation"] & ((region == held_out) if held_out else True)
    refs = {n: (c[scored], s[scored]) for n, (c, s) in data["references"].items()}
    start = time.perf_counter()
    model, climatology = fit_member(data, variant, seed, held_out)
    y_val = y[scored]
    out: dict[str, float] = {"seconds": time.perf_counter() - start, "rate": float(y_val.mean())}
    for label, x_val in (("", x[scored]), ("rt_", screen.rain_temps_masked(x[scored]))):
        p = model.predict_proba(design(x_val, refs, variant))[:, 1]
        out.update({f"{label}{k}": v for k, v in scores(y_val, p, climatology).items()})
    if held_out is None:
        for s in outside:
            p = model.predict_proba(design(s["x"], s["references"], variant))[:, 1]
            out.update({f"{s['key']}_{k}": v for k, v in scores(s["y"], p, climatology).items()})
    return out


def coverage(data: dict[str, Any]) -> str:
    """The share of the 2014 rows with a value that have a reference for it (3 pm humidity,
    9 am pressure, max temperature)."""
    values = data["x"][data["validation"]][:, source_columns()]
    parts = []
    for name, (centre, _) in data["references"].items():
        have = []
        for field in ("humidity_3pm", "pressure_9am", "max_temp"):
            j = SOURCES.index(field)
            known = ~np.isnan(values[:, j])
            have.append(f"{field} {np.mean(~np.isnan(centre[data['validation']][known, j])):.1%}")
        parts.append(f"{name}: " + ", ".join(have))
    return "2014 rows with a value that have its reference: " + "; ".join(parts)


def outside_means(pooled: list[dict[str, float]], set_key: str) -> dict[str, float]:
    """The pooled fits' scores on one outside set, averaged over the seeds."""
    return {m: float(np.mean([r[f"{set_key}_{m}"] for r in pooled])) for m in ("auc", "bss", "gap")}


def seed_range(values: list[float]) -> str:
    return f" ({min(values):.4f}..{max(values):.4f})" if len(values) > 1 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--jobs", type=int, default=1, help="fits side by side")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/anomaly_screen.json"))
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(
            f"unknown variants: {', '.join(sorted(unknown))} (known: {list(VARIANTS)})"
        )

    started = time.perf_counter()
    results: dict[str, dict[str, float]] = (
        json.loads(args.cache.read_text()) if args.cache.exists() else {}
    )
    held: list[str | None] = [*screen.REGIONS, None]
    todo = [
        (v, s, r)
        for v in variants
        for s in args.seeds
        for r in held
        if screen.key(v, s, r) not in results
    ]
    data = load()
    outside = outside_sets()
    print(
        f"fit {int(data['fit'].sum())} rows (< 2014), validation "
        f"{int(data['validation'].sum())} rows; {len(SOURCES)} anomaly sources; seeds "
        f"{args.seeds}; {len(todo)} fits to do, {args.jobs} at a time; load average "
        f"{os.getloadavg()[0]:.2f}\n{coverage(data)}\noutside (evaluation only): "
        + "; ".join(f"{s['title']}: {len(s['y'])} days, {s['label']}" for s in outside),
        flush=True,
    )
    screen.run_fits(
        todo, functools.partial(fit_and_score, data, outside), results, args.jobs, args.cache
    )

    print(
        "\nHeld-out regions (mean over the 5 regions and the seeds; seed range in brackets) "
        "and the pooled fit on 2014 (every region):"
    )
    print(
        "\n| variant | LRO AUC (seeds) | d AUC | LRO BSS | d BSS | abs gap "
        "| rain+temps AUC | d | pooled 2014 AUC | d | pooled 2014 BSS | d |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summaries = {v: [screen.summary(results, v, s) for s in args.seeds] for v in variants}
    means = {
        v: {k: float(np.mean([p[k] for p in ps])) for k in ps[0]} for v, ps in summaries.items()
    }
    base = means[variants[0]]
    for v in variants:
        m, per_seed = means[v], summaries[v]
        print(
            f"| {v} | {m['auc']:.4f}{seed_range([p['auc'] for p in per_seed])} "
            f"| {m['auc'] - base['auc']:+.4f} | {m['bss']:.4f} | {m['bss'] - base['bss']:+.4f} "
            f"| {m['abs_gap']:.3f} | {m['rt_auc']:.4f} | {m['rt_auc'] - base['rt_auc']:+.4f} "
            f"| {m['pooled_auc']:.4f} | {m['pooled_auc'] - base['pooled_auc']:+.4f} "
            f"| {m['pooled_bss']:.4f} | {m['pooled_bss'] - base['pooled_bss']:+.4f} |"
        )
    if len(args.seeds) > 1:
        print("\nseed spread (max - min over the seeds):")
        for v in variants:
            print(
                f"  {v}: "
                + ", ".join(
                    f"{k} {max(p[k] for p in summaries[v]) - min(p[k] for p in summaries[v]):.4f}"
                    for k in ("auc", "bss", "rt_auc", "pooled_auc", "pooled_bss")
                )
            )

    print("\nHeld-out AUC by region (mean over the seeds):\n")
    print("| variant | " + " | ".join(screen.REGIONS) + " |")
    print("|---|" + "---:|" * len(screen.REGIONS))
    for v in variants:
        cells = [
            np.mean([results[screen.key(v, s, r)]["auc"] for s in args.seeds])
            for r in screen.REGIONS
        ]
        print(f"| {v} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")

    if outside:
        print(
            "\nOutside Australia, the pooled member (fitted < 2014 on every region; "
            "evaluation only):\n"
        )
        print("| set | variant | AUC (seeds) | d AUC | BSS | d BSS | mean forecast - rate |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for s in outside:
            rows = [
                (v, [results[screen.key(v, seed, None)] for seed in args.seeds]) for v in variants
            ]
            first = outside_means(rows[0][1], s["key"])
            for v, pooled in rows:
                m = outside_means(pooled, s["key"])
                aucs = [r[f"{s['key']}_auc"] for r in pooled]
                print(
                    f"| {s['key']} | {v} | {m['auc']:.4f}{seed_range(aucs)} "
                    f"| {m['auc'] - first['auc']:+.4f} | {m['bss']:.4f} "
                    f"| {m['bss'] - first['bss']:+.4f} | {100 * m['gap']:+.1f} pt |"
                )
    print(
        f"\nwall time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
