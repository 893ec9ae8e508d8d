"""Validation only: the full stage-1 ensemble (the training's tree members and networks,
fitted as ``raincast train`` fits them on the fit period, < 2014) under variants of the
training settings, scored on the 2014 validation period after the training's own choice of
blend weight and Platt calibration (validation Brier). The test period (2015-2016) is never
read.

Each variant's members are fitted once and their validation predictions cached under
``--cache`` (one .npz per part: the trees of a variant, the networks of a variant), so a
tree variant can be scored with any network variant, and two processes can fit different
variants side by side:

    OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 19 python benchmarks/stage1_screen.py \
        fit trees:base "trees:half_life=4" nets:base "nets:hidden=128-64"
    PYTHONPATH=src python benchmarks/stage1_screen.py score trees:base+nets:base ...
    PYTHONPATH=src python benchmarks/stage1_screen.py calibrations trees:base+nets:base
    PYTHONPATH=src python benchmarks/stage1_screen.py networks trees:base+nets:members=15

A part is ``trees:`` or ``nets:`` followed by ``base`` (``TrainingConfig()``'s settings
when it is fitted: a cache made before a change of the defaults keeps the old ones) or
settings joined by ``;``: ``half_life=4`` (recency weighting of the training rows: a row's
weight halves every 4 years back from the end of the fit period), tree parameters
(``l2_regularization=0.5``, ``learning_rate=0.1``, ``max_iter=900``, ``max_bins=127``,
...), network ``hidden=128-64``, ``alpha=1e-4``; ``members=5`` (seeds 0..4), ``first=5``
(seeds from 5). Parts of one kind joined by ``+`` are averaged together, e.g.
``nets:members=5+nets:first=5;members=5`` is 10 networks.

``score``: the Platt calibration is fitted and scored on the same validation rows
(in-sample, as in ``benchmarks/tree_members.py``: the same for every variant; two
parameters), and also two-fold (fit on one half of 2014 by date, scored on the other).
``calibrations``: alternatives to blend + Platt (beta, isotonic, a stacked logistic blend, a
logit-space blend, the weight chosen per fold), all two-fold. ``networks``: the expected
score with k of the given networks (mean over random subsets), so that the number of
networks is not chosen on the luck of particular seeds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DAY_YEARS = 365.25


def parse(part: str) -> tuple[str, dict[str, str]]:
    kind, _, spec = part.partition(":")
    if kind not in ("trees", "nets"):
        raise SystemExit(f"unknown part {part!r} (trees:... or nets:...)")
    settings = {}
    if spec != "base":
        for item in spec.split(";"):
            name, _, value = item.partition("=")
            settings[name] = value
    return kind, settings


def _number(value: str) -> float | int:
    return float(value) if any(c in value for c in ".e") else int(value)


def recency_weights(dates: np.ndarray, half_life: float | None) -> np.ndarray | None:
    """Weight halving every ``half_life`` years back from the latest date, mean 1."""
    if half_life is None:
        return None
    age = (dates.max() - dates).astype("timedelta64[D]").astype(np.float64) / DAY_YEARS
    w = 0.5 ** (age / half_life)
    return w / w.mean()


def load():
    from raincast.features import features_from_table
    from raincast.weather.weatheraus import read_observations
    from raincast_cli.training import WEATHERAUS_LATITUDE, TrainingConfig, split_masks

    table = read_observations()
    labelled = ~np.isnan(table.rain_tomorrow)
    x = features_from_table(table, WEATHERAUS_LATITUDE)[labelled]
    y = table.rain_tomorrow[labelled]
    dates = table.dates[labelled]
    fit, validation, _ = split_masks(dates, TrainingConfig())  # test period unused
    return x, y, dates, fit, validation


def fit_part(part: str, cache: Path, data) -> None:
    from dataclasses import replace

    from sklearn.ensemble import HistGradientBoostingClassifier

    from raincast.features import FEATURE_NAMES, features_using
    from raincast_cli.training import TrainingConfig, make_network, with_masked_copies

    out = cache_file(cache, part)
    if out.exists():
        print(f"{part}: cached", flush=True)
        return
    x, y, dates, fit, validation = data
    kind, settings = parse(part)
    config = TrainingConfig()
    half_life = float(settings.pop("half_life")) if "half_life" in settings else None
    x_fit, y_fit, d_fit = x[fit], y[fit], dates[fit]
    x_val = x[validation]
    masked = [FEATURE_NAMES.index(n) for n in features_using(config.masked_copy_fields)]
    x_val_masked = x_val.copy()
    x_val_masked[:, masked] = np.nan
    weights = recency_weights(d_fit, half_life)
    start = time.perf_counter()
    p_val, p_masked = [], []
    if kind == "trees":
        members = int(settings.pop("members", config.tree_members))
        params = {**config.tree_params, **{k: _number(v) for k, v in settings.items()}}
        # the masked copies, with the weights of the rows they copy
        x_aug, y_aug = with_masked_copies(
            x_fit,
            y_fit,
            config.masked_copy_fields,
            config.masked_copy_fraction,
            config.seed,
        )
        w_aug = None
        if weights is not None:
            # the copies' weights are their rows' (the same draw as with_masked_copies)
            rows = np.flatnonzero(~np.isnan(x_fit[:, masked]).all(axis=1))
            draw = np.random.default_rng(config.seed).random(len(rows))
            rows = rows[draw < config.masked_copy_fraction]
            w_aug = np.concatenate([weights, weights[rows]])
            assert len(w_aug) == len(y_aug)
        for i in range(members):
            model = HistGradientBoostingClassifier(random_state=config.seed + i, **params)
            model.fit(x_aug, y_aug, sample_weight=w_aug)
            p_val.append(model.predict_proba(x_val)[:, 1])
            p_masked.append(model.predict_proba(x_val_masked)[:, 1])
            print(f"{part}: tree {i + 1}/{members} {time.perf_counter() - start:.0f} s", flush=True)
    else:
        members = int(settings.pop("members", config.networks))
        first = int(settings.pop("first", 0))
        changes: dict[str, Any] = {}
        if "hidden" in settings:
            changes["network_hidden"] = tuple(int(h) for h in settings.pop("hidden").split("-"))
        if "alpha" in settings:
            changes["network_alpha"] = float(settings.pop("alpha"))
        if "max_iter" in settings:
            changes["network_max_iter"] = int(settings.pop("max_iter"))
        if settings:
            raise SystemExit(f"unknown network settings {settings}")
        net_config = replace(config, **changes)
        for i in range(members):
            network = make_network(net_config, config.seed + first + i)
            fit_params = {} if weights is None else {"mlpclassifier__sample_weight": weights}
            network.fit(x_fit, y_fit, **fit_params)
            p_val.append(network.predict_proba(x_val)[:, 1])
            p_masked.append(network.predict_proba(x_val_masked)[:, 1])
            print(
                f"{part}: network {i + 1}/{members} {time.perf_counter() - start:.0f} s", flush=True
            )
    np.savez(
        out, val=np.array(p_val), masked=np.array(p_masked), seconds=time.perf_counter() - start
    )


def cache_file(cache: Path, part: str) -> Path:
    """The cache file of one part (``kind:settings``) of a combo."""
    return cache / (part.replace(":", "_").replace(";", "__").replace("/", "-") + ".npz")


def cached_parts(combo: str, cache: Path) -> dict[str, list[np.ndarray]]:
    """The cached validation predictions of a combo's parts, by kind (trees, nets)."""
    parts: dict[str, list[np.ndarray]] = {}
    for part in combo.split("+"):
        kind, _ = parse(part)
        parts.setdefault(kind, []).extend(np.load(cache_file(cache, part))["val"])
    return parts


def score_combo(combo: str, cache: Path, data, members: int | None) -> None:
    from raincast.model.artifact import platt
    from raincast.model.metrics import score
    from raincast_cli.training import TrainingConfig, fit_platt

    _, y, dates, fit, validation = data
    y_val, d_val = y[validation], dates[validation]
    climatology = float(y[fit].mean())
    parts = cached_parts(combo, cache)
    if members is not None:
        parts = {k: v[:members] for k, v in parts.items()}
    trees, nets = np.mean(parts["trees"], axis=0), np.mean(parts["nets"], axis=0)
    weights = TrainingConfig().network_weights
    fine = np.round(np.arange(0.0, 0.81, 0.05), 2)
    brier = {w: score(y_val, (1 - w) * trees + w * nets, climatology).brier for w in weights}
    w = min(brier, key=lambda weight: brier[weight])
    brier_fine = {v: score(y_val, (1 - v) * trees + v * nets, climatology).brier for v in fine}
    w_fine = min(brier_fine, key=lambda weight: brier_fine[weight])
    blend = (1 - w) * trees + w * nets
    cal = fit_platt(blend, y_val)
    s = score(y_val, platt(blend, cal), climatology)
    raw = score(y_val, blend, climatology)
    # two-fold by date: calibrate on one half of 2014, score the other
    half = d_val < np.datetime64("2014-07-01")
    p2 = np.empty_like(blend)
    for a, b in ((half, ~half), (~half, half)):
        p2[b] = platt(blend[b], fit_platt(blend[a], y_val[a]))
    s2 = score(y_val, p2, climatology)
    t = score(y_val, trees, climatology)
    n = score(y_val, nets, climatology)
    print(
        f"| {combo} | {t.brier_skill:.4f} | {n.brier_skill:.4f} | {w} ({w_fine}) | "
        f"{raw.brier:.5f} | {s.brier:.5f} | {s.roc_auc:.4f} | {s.brier_skill:.4f} | "
        f"{s2.brier_skill:.4f} | a={cal[0]:.3f} b={cal[1]:.3f} |",
        flush=True,
    )


def _lr(features: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6).fit(features, y)
    return lambda f: model.predict_proba(f)[:, 1]


def calibrations(combo: str, cache: Path, data) -> None:
    """Alternatives to blend + Platt, each scored two-fold by date on 2014 (fit on one half,
    scored on the other) against blend + Platt the same way."""
    from sklearn.isotonic import IsotonicRegression

    from raincast.model.artifact import logit
    from raincast.model.metrics import score

    _, y, dates, fit, validation = data
    y_val, d_val = y[validation], dates[validation]
    climatology = float(y[fit].mean())
    parts = cached_parts(combo, cache)
    t, n = np.mean(parts["trees"], axis=0), np.mean(parts["nets"], axis=0)
    eps = 1e-12
    lt, ln = logit(t), logit(n)
    half = d_val < np.datetime64("2014-07-01")
    folds = ((half, ~half), (~half, half))

    def two_fold(make) -> float:
        p = np.empty_like(t)
        for a, b in folds:
            p[b] = make(a)(b)
        return score(y_val, p, climatology).brier_skill

    def platt_blend(w):
        blend = (1 - w) * t + w * n

        def make(a):
            f = _lr(logit(blend[a])[:, None], y_val[a])
            return lambda b: f(logit(blend[b])[:, None])

        return make

    def chosen_w_platt(a):
        # the blend weight chosen on the fitting half too
        grid = np.round(np.arange(0.0, 0.81, 0.05), 2)
        w = min(grid, key=lambda w: np.mean(((1 - w) * t[a] + w * n[a] - y_val[a]) ** 2))
        return platt_blend(w)(a)

    def stacked(a):
        f = _lr(np.column_stack([lt[a], ln[a]]), y_val[a])
        return lambda b: f(np.column_stack([lt[b], ln[b]]))

    def logit_blend_platt(a):
        grid = np.round(np.arange(0.0, 0.81, 0.05), 2)

        def sig(z):
            return 1 / (1 + np.exp(-z))

        w = min(grid, key=lambda w: np.mean((sig((1 - w) * lt[a] + w * ln[a]) - y_val[a]) ** 2))
        z = (1 - w) * lt + w * ln
        f = _lr(z[a][:, None], y_val[a])
        return lambda b: f(z[b][:, None])

    def beta(w):
        blend = np.clip((1 - w) * t + w * n, eps, 1 - eps)
        feats = np.column_stack([np.log(blend), -np.log1p(-blend)])

        def make(a):
            f = _lr(feats[a], y_val[a])
            return lambda b: f(feats[b])

        return make

    def isotonic(w):
        blend = (1 - w) * t + w * n

        def make(a):
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(blend[a], y_val[a])
            return lambda b: iso.predict(blend[b])

        return make

    print(f"{combo}: two-fold (by half of 2014) validation Brier skill")
    for w in (0.4, 0.45, 0.5):
        print(
            f"  blend w={w} + Platt {two_fold(platt_blend(w)):.4f}  beta {two_fold(beta(w)):.4f}"
            f"  isotonic {two_fold(isotonic(w)):.4f}"
        )
    print(f"  blend w chosen per fold + Platt {two_fold(chosen_w_platt):.4f}")
    print(f"  stacked logistic on logit(trees), logit(nets) {two_fold(stacked):.4f}")
    print(f"  logit-space blend + Platt {two_fold(logit_blend_platt):.4f}", flush=True)


def network_counts(combo: str, cache: Path, data, draws: int = 12) -> None:
    """Mean and spread over ``draws`` random subsets of k of the combo's networks."""
    from raincast.model.artifact import platt
    from raincast.model.metrics import score
    from raincast_cli.training import fit_platt

    _, y, _, fit, validation = data
    y_val = y[validation]
    climatology = float(y[fit].mean())
    parts = cached_parts(combo, cache)
    trees, nets = np.mean(parts["trees"], axis=0), np.array(parts["nets"])
    rng = np.random.default_rng(0)

    def best(network: np.ndarray):
        scores = []
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            blend = (1 - w) * trees + w * network
            scores.append(score(y_val, platt(blend, fit_platt(blend, y_val)), climatology))
        return min(scores, key=lambda s: s.brier)

    print(f"{combo}: {len(nets)} networks; k of them at random, {draws} draws")
    print("| networks | BSS mean | BSS sd | AUC mean |\n|---:|---:|---:|---:|")
    for k in (1, 3, 5, 7, 10, 15, 20):
        if k > len(nets):
            break
        got = [
            best(nets[rng.choice(len(nets), k, replace=False)].mean(axis=0)) for _ in range(draws)
        ]
        bss = [g.brier_skill for g in got]
        print(
            f"| {k} | {np.mean(bss):.4f} | {np.std(bss):.4f} | "
            f"{np.mean([g.roc_auc for g in got]):.4f} |",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["fit", "score", "calibrations", "networks"])
    parser.add_argument("parts", nargs="+")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/stage1_screen"))
    parser.add_argument("--members", type=int, default=None, help="score the first N only")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    data = load()
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    if args.action == "fit":
        for part in args.parts:
            fit_part(part, args.cache, data)
        return 0
    if args.action == "networks":
        for combo in args.parts:
            network_counts(combo, args.cache, data)
        return 0
    if args.action == "calibrations":
        for combo in args.parts:
            calibrations(combo, args.cache, data)
        return 0
    print(
        "| trees + networks | trees BSS (raw) | nets BSS (raw) | weight (fine) | raw Brier | "
        "Brier | AUC | BSS | BSS (2-fold Platt) | Platt |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for combo in args.parts:
        score_combo(combo, args.cache, data, args.members)
    return 0


if __name__ == "__main__":
    sys.exit(main())
