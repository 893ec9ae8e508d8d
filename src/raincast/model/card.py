"""MODEL_CARD.md, written from the artifact's metadata (so the card cannot disagree with it)."""

from __future__ import annotations

from typing import Any

BASELINE_NAMES = {
    "model": "**raincast model**",
    "climatology": "climatology (training base rate)",
    "persistence": "persistence (rain tomorrow = rain today)",
    "tutorial_forest": "tutorial recipe (random forest, 200 trees, depth 11)",
}


def metrics_table(metrics: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| forecast | ROC AUC | Brier | Brier skill | accuracy @0.5 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in metrics.items():
        lines.append(
            f"| {BASELINE_NAMES.get(name, name)} | {m['roc_auc']:.4f} | {m['brier']:.4f} "
            f"| {m['brier_skill']:.4f} | {m['accuracy']:.4f} |"
        )
    return "\n".join(lines)


def model_card(meta: dict[str, Any]) -> str:
    p = meta["periods"]
    features = ", ".join(f"`{f}`" for f in meta["features"])
    v = meta["validation"]
    t = meta["training"]
    tp = t["tree_params"]
    return f"""# Raincast rain model

Probability that it rains tomorrow (more than 1 mm in the 24 hours to 9 am of the next day,
the Bureau of Meteorology's "RainTomorrow") from one day's weather observations at a place.

Artifact: `rain_model.json` (metadata, format `{meta["format"]}` version
{meta["format_version"]}) + `rain_model.npz` (numeric arrays only, loaded with
`allow_pickle=False`; no pickle, no code runs on load). Inference is numpy only:
`raincast.model.artifact.RainModel`.

## Data
Daily observations of 49 Australian Bureau of Meteorology stations ("Rain in Australia",
weatherAUS), {p["fit"]["start"]} to {p["test"]["end"]}. Observations courtesy of the Australian
Bureau of Meteorology. Evaporation is not used (no online source supplies it); RISK_MM
(tomorrow's rainfall) is never read. Missing values (sunshine and cloud are missing for
40-60% of rows) are kept and handled by the model, not dropped.

## Split (by time, never shuffled)
| period | from | to | rows | rain rate |
|---|---|---|---:|---:|
| fit (stage 1) | {p["fit"]["start"]} | {p["fit"]["end"]} | {p["fit"]["rows"]} | {p["fit"]["rain_rate"]} |
| validation | {p["validation"]["start"]} | {p["validation"]["end"]} | {p["validation"]["rows"]} | {p["validation"]["rain_rate"]} |
| test (held out) | {p["test"]["start"]} | {p["test"]["end"]} | {p["test"]["rows"]} | {p["test"]["rain_rate"]} |

Every row of the test period is later than every training row: the scores measure
forecasting a period the model never saw, not interpolation between shuffled days.

Stage 1 fits the members on the fit period; the blend weight of the networks
(chosen: {v["network_weight"]}, by validation Brier score) and the Platt calibration
(a = {v["calibration"][0]}, b = {v["calibration"][1]}) are chosen on the validation period.
Stage 2 refits the same members on fit + validation ({meta["trained_period"]["start"]} to
{meta["trained_period"]["end"]}) and keeps the stage-1 blend and calibration. The test period
is used for nothing but the scores below.

## Model
- {meta["tree_members"]} gradient-boosted tree models (scikit-learn HistGradientBoosting,
  {tp["max_iter"]} trees each, learning rate {tp["learning_rate"]}, at most
  {tp["max_leaf_nodes"]} leaves, min {tp["min_samples_leaf"]} samples per leaf,
  {tp["max_features"]} of features per split, seeds {t["seed"]}..), probabilities averaged;
  missing values handled natively by the trees.
- {meta["networks"]} neural networks (hidden layers {t["network_hidden"]}, ReLU, L2
  {t["network_alpha"]}, seeds {t["seed"]}..) on median-imputed, standardised features with
  missing-value indicators, probabilities averaged.
- Blend (1 - w) * trees + w * networks, then Platt scaling.
- {meta["trees"]} trees, {meta["nodes"]} nodes in total. Trained with scikit-learn
  {t["scikit_learn"]}, numpy {t["numpy"]}, in {t["seconds"]} s (`raincast train`; wall
  time depends on how busy the machine's cores are).

## Features ({len(meta["features"])})
{features}.

All come from one day's observation record (what every weather source, including the
online Open-Meteo source, supplies), the date and the sign of the latitude:
9 am -> 3 pm changes of humidity, pressure, temperature and cloud; daily temperature range;
dew points (Magnus formula); wind as north/east components (calm = 0); `rain_today`
(rainfall > 1 mm); the season as cos/sin of the day of the year, shifted by half a year in
the northern hemisphere (NaN when the latitude is not given). **No station identity** and
no coordinates beyond the hemisphere: the model is meant to apply to any place.

## Test-period scores ({p["test"]["start"]} to {p["test"]["end"]}, {p["test"]["rows"]} rows)
Brier skill = 1 - Brier / Brier of climatology (training base rate {meta["climatology"]:.4f}).
Persistence uses the base rate when today's rain is unknown. The tutorial recipe is trained
on the same period and features with median imputation. Reproduce with
`python benchmarks/model_bench.py`.

{metrics_table(meta["test_metrics"])}

## Limits
- Trained on 49 Australian stations, 2007-2016 (fit + validation to
  {meta["trained_period"]["end"]}): tropical, arid, temperate and alpine Australian climates.
  Elsewhere (other continents, the northern hemisphere, climates not represented here) the
  probabilities are an extrapolation that has not been measured: the physics behind the
  main features (afternoon humidity, pressure, cloud, wind) is general, but how they map to
  rain depends on the local climate, so expect lower skill and possibly biased
  probabilities. Score it on local data with `raincast predict-observations` before relying
  on it.
- No station identity, so the model cannot learn a place's own climate (e.g. that 60%
  afternoon humidity is dry for one coast and wet for another); this costs some skill even
  in Australia and is the price of applying to any place.
- Online sources (Open-Meteo) give model reanalysis/forecast values, not station
  measurements; sunshine and cloud definitions differ. Expect somewhat lower skill.
- "Rain" is > 1 mm over 24 h to 9 am local time; light rain below that counts as dry.
- One day's observation only: no multi-day trends, no radar, no numerical weather forecast.
"""
