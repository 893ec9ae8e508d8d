"""End to end: `raincast backtest` replays real days through the ForecastStateMachine on the
local runtime and scores each forecast against the station's next day, read here from the
original observations CSV (not the replay index the pipeline uses)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
from report_cases import BACKTEST_FROM, HOSTILE

from raincast.model.artifact import RainModel
from raincast.weather import get_weather_source
from raincast.weather.weatheraus import read_observations

DAYS = [dt.date.fromisoformat(BACKTEST_FROM) + dt.timedelta(days=i) for i in range(4)]
CITIES = ["Sydney", "Perth", "Darwin", "Hobart", HOSTILE, "Xyzzyville"]


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "backtest.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def next_day_rainfall(station: str, day: dt.date) -> float | None:
    table = read_observations()
    at = np.nonzero((table.locations == station) & (table.dates == np.datetime64(day)))[0]
    if len(at) == 0:
        return None
    value = float(table.values["rainfall"][at[0]])
    return None if np.isnan(value) else value


def test_backtest_writes_one_row_per_day_and_city(backtest_run) -> None:
    result, out = backtest_run
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [(r["date"], r["city"].removeprefix("'")) for r in rows] == [
        (d.isoformat(), c) for d in DAYS for c in CITIES
    ]
    assert list(rows[0]) == [
        "date", "city", "station", "p_rain_tomorrow", "rained_tomorrow", "status", "reason",
        "rainfall_tomorrow_mm", "lat", "lon",
    ]  # fmt: skip
    # Progress across days on stderr; the scores on stdout.
    assert "backtest: day 4/4 (2016-06-30)" in result.stderr
    assert "overall" in result.stdout and "report.html" in result.stdout
    assert {p.name for p in out.iterdir()} >= {"backtest.csv", "scores.json", "report.html"}


def test_each_forecast_is_the_models_and_is_scored_against_its_stations_next_day(
    backtest_run,
) -> None:
    _, out = backtest_run
    rows = read_rows(out)
    weather = get_weather_source("replay")
    model = RainModel.load()
    checked = 0
    for row in rows:
        day = dt.date.fromisoformat(row["date"])
        if row["city"] == "Xyzzyville":
            assert row["status"] == "error" and row["reason"].startswith("not found")
            continue
        if day == DAYS[-1]:
            # 2016-06-30 is the last day of the data: forecast, reported, not scored.
            assert row["status"] == "unscored", row
            assert row["p_rain_tomorrow"] != "" and row["rained_tomorrow"] == ""
            assert "no rainfall recorded on 2016-07-01" in row["reason"]
            continue
        assert row["status"] == "ok", row
        lat, lon = float(row["lat"]), float(row["lon"])
        observed = weather.observe(lat, lon, day)
        assert observed.observation.source["station"] == row["station"]
        expected_p = float(
            model.predict_observations(
                [observed.observation], latitudes=[lat], previous=[observed.previous]
            )[0]
        )
        assert float(row["p_rain_tomorrow"]) == round(expected_p, 4)
        rainfall = next_day_rainfall(row["station"], day + dt.timedelta(days=1))
        assert float(row["rainfall_tomorrow_mm"]) == rainfall
        assert row["rained_tomorrow"] == ("yes" if rainfall > 1.0 else "no")
        checked += 1
    assert checked == 15  # 5 located cities x 3 days with a next day


def test_scores_json_scores_what_the_csv_holds(backtest_run) -> None:
    _, out = backtest_run
    rows = [r for r in read_rows(out) if r["status"] == "ok"]
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    y = np.array([r["rained_tomorrow"] == "yes" for r in rows], dtype=float)
    p = np.array([float(r["p_rain_tomorrow"]) for r in rows])
    overall = scores["overall"]
    assert overall["n"] == len(rows) == scores["scored"] == 15
    assert overall["brier"] == round(float(np.mean((p - y) ** 2)), 4)
    reference = float(np.mean((scores["climatology"] - y) ** 2))
    assert overall["brier_skill"] == round(1 - float(np.mean((p - y) ** 2)) / reference, 4)
    assert sum(b["n"] for b in overall["reliability"]) == 15
    assert scores["unscored"] == 5 and scores["errors"] == 4
    assert scores["not_scored_by_reason"] == {"no next-day observation": 5, "not found": 4}
    assert set(scores["per_city"]) == {c if c != HOSTILE else HOSTILE for c in CITIES}
    assert scores["per_city"]["Sydney"]["n"] == 3 and scores["per_city"]["Xyzzyville"]["n"] == 0
    # The shipped model is refit on all the offline data: a replayed day is in-sample.
    assert scores["in_training_period"] is True


def test_the_command_and_the_report_say_the_replayed_days_are_in_sample(backtest_run) -> None:
    result, out = backtest_run
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    note = scores["in_sample_note"]
    assert "in-sample" in note and "no offline day is held out from it" in note
    assert f"raincast: note: {note}" in result.stderr
    assert "held-out test period is" not in result.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert note.replace("'", "&#39;") in page
