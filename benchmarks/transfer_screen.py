"""Leave-region-out screen inside Australia: settings chosen for places the model never saw.

The weatherAUS stations are grouped into climate regions (``REGIONS``, below). For each
held-out region one tree member (``TrainingConfig().tree_params``, with the training's
masked cloud/sunshine copies, as ``benchmarks/feature_screen.py`` fits it) is fitted on the
fit period (< 2014) with the stations of every other region, and scored on the held-out
region's stations in the 2014 validation period: ROC AUC, Brier skill (against the rain
rate of the rows it was fitted on, as the out-of-domain checks use the Australian base
rate) and the mean forecast minus the observed rain rate. The scores are averaged over
the held-out regions (each region counts once, whatever its number of stations) and over
the seeds; "|gap|" is the mean absolute gap. The held-out rows are scored twice: as they
are, and with every input but rainfall and the temperatures masked ("rain+temps", the
inputs of the Seattle check). A "pooled" fit on every station scored on all of 2014 (what
``feature_screen.py`` scores) shows whether a variant costs skill in Australia. The test
period (2015-2016) is never read, and no out-of-domain data is: New York and Seattle are
not used to choose anything.

Why climate regions and not states: the question is transfer to climates the model never
saw, and states mix climates (New South Wales runs from the coast to the arid west) while
some climates cross state lines. The grouping is by the Bureau's climate classification
(summer-rain tropics, arid and semi-arid interior, winter-rain south-west and South
Australia, the humid east coast, the temperate south-east with Tasmania and the Alps),
from each station's location, not from its data.

Variants (``VARIANTS``): tree parameters, dropped base features, and extra masked copies of
rows with the rain+temps mask. Each fit's scores are cached in ``--cache`` (JSON), so a run
can be extended with more seeds or variants.

    OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 19 python benchmarks/transfer_screen.py \
        [--seeds 0 1] [--variants base,regularised] [--jobs 2]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REGIONS: dict[str, tuple[str, ...]] = {
    "tropics": ("Darwin", "Katherine", "Cairns", "Townsville"),
    "arid interior": (
        "AliceSprings",
        "Uluru",
        "Woomera",
        "Cobar",
        "Mildura",
        "Moree",
        "SalmonGums",
    ),
    "winter-rain west and SA": (
        "Perth",
        "PerthAirport",
        "PearceRAAF",
        "Albany",
        "Walpole",
        "Witchcliffe",
        "Adelaide",
        "Nuriootpa",
    ),
    "east coast": (
        "Brisbane",
        "GoldCoast",
        "CoffsHarbour",
        "NorfolkIsland",
        "Newcastle",
        "Williamtown",
        "NorahHead",
        "Sydney",
        "SydneyAirport",
        "Wollongong",
        "Penrith",
        "Richmond",
        "BadgerysCreek",
    ),
    "temperate south-east": (
        "Albury",
        "WaggaWagga",
        "Canberra",
        "Tuggeranong",
        "MountGinini",
        "Ballarat",
        "Bendigo",
        "Melbourne",
        "MelbourneAirport",
        "Watsonia",
        "Sale",
        "Nhil",
        "Dartmoor",
        "MountGambier",
        "Portland",
        "Hobart",
        "Launceston",
    ),
}

# Inputs a rain+temps source (the Seattle check) has; every other field is masked.
RAIN_TEMPS = ("rainfall", "min_temp", "max_temp")
WIND_DIRECTION = (
    *(
        f"{prefix}_{axis}"
        for prefix in ("gust", "wind_9am", "wind_3pm")
        for axis in ("north", "east")
    ),
    "wind_3pm_north_change_24h",
    "wind_3pm_east_change_24h",
)

# label -> settings: "params" (tree parameters changed), "drop" (base features left out),
# "rain_temps_copies" (fraction of the fit rows also learnt from with the rain+temps mask)
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "regularised": {"params": {"min_samples_leaf": 1000, "l2_regularization": 10.0}},
    "small trees": {"params": {"max_leaf_nodes": 15, "min_samples_leaf": 1000}},
    "15 leaves": {"params": {"max_leaf_nodes": 15}},
    "small trees 2000 per leaf": {"params": {"max_leaf_nodes": 15, "min_samples_leaf": 2000}},
    "without wind direction": {"drop": WIND_DIRECTION},
    "without season": {"drop": ("season_cos", "season_sin")},
    "without pressure levels": {"drop": ("pressure_9am", "pressure_3pm")},
    "rain+temps copies": {"rain_temps_copies": 0.15},
}


def calendar_month(dates: np.ndarray) -> np.ndarray:
    """1-12 for each of ``dates`` (numpy datetime64)."""
    return dates.astype("datetime64[M]").astype(int) % 12 + 1


def region_of(locations: np.ndarray) -> np.ndarray:
    by_station = {s: r for r, stations in REGIONS.items() for s in stations}
    missing = sorted(set(locations) - set(by_station))
    if missing:
        raise SystemExit(f"stations without a region: {', '.join(missing)}")
    return np.array([by_station[s] for s in locations], dtype=object)


def load() -> dict[str, Any]:
    from raincast.features import features_from_table
    from raincast.weather.weatheraus import read_observations
    from raincast_cli.training import WEATHERAUS_LATITUDE, TrainingConfig, split_masks

    table = read_observations()
    labelled = ~np.isnan(table.rain_tomorrow)
    dates = table.dates[labelled]
    fit, validation, _ = split_masks(dates, TrainingConfig())  # test period unused
    return {
        "x": features_from_table(table, WEATHERAUS_LATITUDE)[labelled],
        "y": table.rain_tomorrow[labelled],
        "region": region_of(table.locations[labelled]),
        "station": table.locations[labelled],
        "month": calendar_month(dates),
        "fit": fit,
        "validation": validation,
    }


def rain_temps_masked(x: np.ndarray) -> np.ndarray:
    """``x`` with every feature computed from a field other than rain and temperatures
    missing (the features using only rain and temperatures, and the season, kept)."""
    from raincast.features import FEATURE_NAMES, features_using
    from raincast.weather.base import OBSERVATION_FIELDS

    lacking = [f for f in OBSERVATION_FIELDS if f not in RAIN_TEMPS]
    out = x.copy()
    out[:, [FEATURE_NAMES.index(n) for n in features_using(lacking)]] = np.nan
    return out


def fit_member(
    data: dict[str, Any], variant: str, seed: int, held_out: str | None
) -> tuple[Any, list[int], float]:
    """One tree member fitted on the fit period without ``held_out`` (None: every region);
    returns it, the feature columns it takes and the rain rate of the rows it was fitted
    on."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from raincast.features import FEATURE_NAMES
    from raincast_cli.training import TrainingConfig, with_masked_copies

    config = TrainingConfig()
    settings = VARIANTS[variant]
    x, y, region = data["x"], data["y"], data["region"]
    train = data["fit"] & (region != held_out)
    x_fit, y_fit = x[train], y[train]
    x_aug, y_aug = with_masked_copies(
        x_fit, y_fit, config.masked_copy_fields, config.masked_copy_fraction, config.seed
    )
    fraction = settings.get("rain_temps_copies", 0.0)
    if fraction:
        draw = np.random.default_rng(config.seed + 1).random(len(x_fit)) < fraction
        x_aug = np.vstack([x_aug, rain_temps_masked(x_fit[draw])])
        y_aug = np.concatenate([y_aug, y_fit[draw]])
    keep = [j for j, n in enumerate(FEATURE_NAMES) if n not in settings.get("drop", ())]
    model = HistGradientBoostingClassifier(
        random_state=seed, **{**config.tree_params, **settings.get("params", {})}
    ).fit(x_aug[:, keep], y_aug)
    return model, keep, float(y_fit.mean())


def fit_and_score(
    data: dict[str, Any], variant: str, seed: int, held_out: str | None
) -> dict[str, float]:
    """One tree member fitted without ``held_out`` (None: every region, the pooled fit),
    scored on the held-out region's validation rows (pooled: on all of them)."""
    from raincast.model.metrics import score

    x, y, region = data["x"], data["y"], data["region"]
    scored = data["validation"] & ((region == held_out) if held_out else True)
    start = time.perf_counter()
    model, keep, climatology = fit_member(data, variant, seed, held_out)
    y_val = y[scored]
    out: dict[str, float] = {"seconds": time.perf_counter() - start, "rate": float(y_val.mean())}
    for label, x_val in (("", x[scored]), ("rt_", rain_temps_masked(x[scored]))):
        p = model.predict_proba(x_val[:, keep])[:, 1]
        s = score(y_val, p, climatology)
        out.update(
            {
                f"{label}auc": s.roc_auc,
                f"{label}bss": s.brier_skill,
                f"{label}gap": float(p.mean() - y_val.mean()),
            }
        )
    return out


def key(variant: str, seed: int, held_out: str | None) -> str:
    return f"{variant}|{seed}|{held_out or 'pooled'}"


def summary(results: dict[str, dict[str, float]], variant: str, seed: int) -> dict[str, float]:
    """The seed's averages over the held-out regions, and its pooled fit's scores."""
    regions = [results[key(variant, seed, r)] for r in REGIONS]
    pooled = results[key(variant, seed, None)]
    out = {m: float(np.mean([r[m] for r in regions])) for m in ("auc", "bss", "gap", "rt_auc")}
    out["abs_gap"] = float(np.mean([abs(r["gap"]) for r in regions]))
    out["rt_gap"] = float(np.mean([r["rt_gap"] for r in regions]))
    out["rt_abs_gap"] = float(np.mean([abs(r["rt_gap"]) for r in regions]))
    out["pooled_auc"], out["pooled_bss"] = pooled["auc"], pooled["bss"]
    return out


def run_fits(
    todo: list[tuple[str, int, str | None]],
    fit: Callable[..., dict[str, Any]],
    results: dict[str, Any],
    jobs: int,
    cache: Path,
) -> None:
    """Runs ``fit(variant, seed, region)`` for each job of ``todo``, ``jobs`` at a time,
    into ``results`` (by ``key``), written to ``cache`` after each batch so that a screen
    that is stopped goes on from there; prints the progress (a fit's result has its
    ``seconds``). The screens built on this one run their fits with it."""
    if not todo:
        return
    from joblib import Parallel, delayed

    started = time.perf_counter()
    for i in range(0, len(todo), jobs):
        batch = todo[i : i + jobs]
        done = Parallel(n_jobs=min(jobs, len(batch)))(delayed(fit)(*job) for job in batch)
        for job, scores in zip(batch, done, strict=True):
            results[key(*job)] = scores
        cache.write_text(json.dumps(results, indent=1))
        print(
            f"  {i + len(batch)}/{len(todo)} fits ({time.perf_counter() - started:.0f} s; "
            f"last {', '.join(key(*j) for j in batch)}: "
            + ", ".join(f"{s['seconds']:.0f} s" for s in done)
            + ")",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="fits side by side")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/transfer_screen.json"))
    parser.add_argument("--regions", action="store_true", help="also print every region's row")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(
            f"unknown variants: {', '.join(sorted(unknown))} (known: {list(VARIANTS)})"
        )

    results: dict[str, dict[str, float]] = (
        json.loads(args.cache.read_text()) if args.cache.exists() else {}
    )
    held: list[str | None] = [*REGIONS, None]
    todo = [
        (v, s, r) for v in variants for s in args.seeds for r in held if key(v, s, r) not in results
    ]
    data = load()
    print(
        f"fit {int(data['fit'].sum())} rows (< 2014), validation "
        f"{int(data['validation'].sum())} rows; regions "
        + ", ".join(f"{r} ({len(s)})" for r, s in REGIONS.items())
        + f"; seeds {args.seeds}; {len(todo)} fits to do, {args.jobs} at a time; load "
        f"average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    run_fits(todo, functools.partial(fit_and_score, data), results, args.jobs, args.cache)

    if args.regions:
        print(
            "\n| variant | seed | held-out region | rate | AUC | BSS | gap | rain+temps AUC | gap |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for v in variants:
            for s in args.seeds:
                for r in REGIONS:
                    m = results[key(v, s, r)]
                    print(
                        f"| {v} | {s} | {r} | {m['rate']:.3f} | {m['auc']:.4f} | "
                        f"{m['bss']:.4f} | {m['gap']:+.3f} | {m['rt_auc']:.4f} | "
                        f"{m['rt_gap']:+.3f} |"
                    )
    print(
        "\n| variant | LRO AUC (seeds) | d AUC | LRO BSS | d BSS | gap | abs gap "
        "| rain+temps AUC | gap | abs gap | pooled val AUC | d | pooled val BSS | d |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base: dict[str, float] | None = None
    for v in variants:
        per_seed = [summary(results, v, s) for s in args.seeds]
        m = {k: float(np.mean([p[k] for p in per_seed])) for k in per_seed[0]}
        if base is None:
            base = m
        spread = (
            f" ({min(p['auc'] for p in per_seed):.4f}..{max(p['auc'] for p in per_seed):.4f})"
            if len(per_seed) > 1
            else ""
        )
        print(
            f"| {v} | {m['auc']:.4f}{spread} | {m['auc'] - base['auc']:+.4f} | {m['bss']:.4f} "
            f"| {m['bss'] - base['bss']:+.4f} | {m['gap']:+.3f} | {m['abs_gap']:.3f} "
            f"| {m['rt_auc']:.4f} | {m['rt_gap']:+.3f} | {m['rt_abs_gap']:.3f} "
            f"| {m['pooled_auc']:.4f} | {m['pooled_auc'] - base['pooled_auc']:+.4f} "
            f"| {m['pooled_bss']:.4f} | {m['pooled_bss'] - base['pooled_bss']:+.4f} |"
        )
    if len(args.seeds) > 1:
        print("\nseed spread (max - min over seeds of the region-averaged score):")
        for v in variants:
            per_seed = [summary(results, v, s) for s in args.seeds]
            print(
                f"  {v}: "
                + ", ".join(
                    f"{k} {max(p[k] for p in per_seed) - min(p[k] for p in per_seed):.4f}"
                    for k in ("auc", "bss", "gap", "rt_auc", "pooled_auc", "pooled_bss")
                )
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
