"""raincast backtest's parts that need no runtime: the range check (and the command's exit 2
for it), the outcome read from the replayed observations, scores.json, backtest.csv."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import pytest

from raincast.weather.base import OBSERVATION_FIELDS
from raincast.weather.replay import cached_replay_data
from raincast_cli.backtest import (
    CSV_FIELDS,
    REQUIRED_COLUMNS,
    REQUIRED_SCORES,
    BacktestRangeError,
    BacktestRow,
    DayResult,
    available_range,
    backtest_csv,
    check_range,
    in_sample_note,
    reason_kind,
    rows_for_day,
    score_rows,
)
from raincast_cli.cli import main
from raincast_cli.model_headline import model_headline

RAINFALL = OBSERVATION_FIELDS.index("rainfall")


def test_the_range_is_the_offline_observations() -> None:
    first, last = available_range()
    assert (first, last) == (dt.date(2007, 11, 1), dt.date(2016, 6, 30))
    days = check_range(dt.date(2016, 6, 28), dt.date(2016, 6, 30), (first, last))
    assert days == [dt.date(2016, 6, 28), dt.date(2016, 6, 29), dt.date(2016, 6, 30)]


@pytest.mark.parametrize(
    ("start", "end"),
    [("2016-06-01", "2016-07-02"), ("2007-10-31", "2007-11-03"), ("2020-01-01", "2020-01-31")],
)
def test_a_range_outside_the_data_is_refused_with_the_available_range(
    start: str, end: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(BacktestRangeError, match="cover 2007-11-01 to 2016-06-30"):
        check_range(dt.date.fromisoformat(start), dt.date.fromisoformat(end), available_range())
    # The command refuses it up front: exit 2, one line, nothing run, nothing written.
    assert main(["backtest", "--from", start, "--to", end, "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "outside the offline observations, which cover 2007-11-01 to 2016-06-30" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2016-01-05", "--to", "2016-01-01"], "--to 2016-01-01 is before --from"),
        (["--from", "5 Jan", "--to", "2016-01-01"], "--from '5 Jan' is not a date"),
        (["--from", "2016-01-01", "--to", "2016-01-02", "--cities", "/no/such.csv"], "no/such.csv"),
        (["--from", "2016-01-01", "--to", "2016-01-02", "--days-in-flight", "0"], "at least 1"),
        (["--from", "2016-01-01", "--to", "2016-01-02", "--out", "/proc/no/such"], "/proc/no"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("raincast backtest: error:")
    assert "Traceback" not in err


def _doc(city: str, station: str, p: float | None, status: str = "ok", reason: str = "") -> dict:
    doc = {"city": city, "status": status, "reason": reason or None,
           "place": {"lat": -33.87, "lon": 151.21}}  # fmt: skip
    if status == "ok":
        doc["observation"] = {"source": {"station": station}}
        doc["p_rain_tomorrow"] = p
    return doc


def test_the_outcome_is_the_stations_rainfall_on_the_next_day() -> None:
    data = cached_replay_data()
    day = dt.date(2016, 1, 5)
    docs = [
        _doc("Sydney", "Sydney", 0.9),
        _doc("Perth", "Perth", 0.1),
        _doc("Nowhere", "", None, "error", "not found: no place named 'Nowhere'"),
    ]
    rows = rows_for_day(DayResult(day, docs, 0.0), data)
    for row in rows[:2]:
        rainfall = float(data.series[row.station].row(day + dt.timedelta(days=1))[RAINFALL])
        assert row.rainfall_tomorrow_mm == rainfall
        assert row.rained_tomorrow == ("yes" if rainfall > 1.0 else "no")
        assert row.status == "ok"
    assert rows[0].rained_tomorrow == "yes"  # 51.4 mm in Sydney on 2016-01-06
    assert rows[2].status == "error" and rows[2].rained_tomorrow == ""
    assert rows[2].reason.startswith("not found")


def test_a_day_without_a_next_day_observation_is_reported_not_scored() -> None:
    rows = rows_for_day(DayResult(dt.date(2016, 6, 30), [_doc("Sydney", "Sydney", 0.3)], 0.0),
                        cached_replay_data())  # fmt: skip
    assert rows[0].status == "unscored"
    assert rows[0].p_rain_tomorrow == 0.3 and rows[0].rained_tomorrow == ""
    assert rows[0].reason == (
        "no next-day observation: Sydney has no rainfall recorded on 2016-07-01"
    )
    scores = score_rows(rows, model_headline(), [dt.date(2016, 6, 30)])
    assert scores["overall"]["n"] == 0 and scores["unscored"] == 1
    assert scores["per_city"]["Sydney"]["n"] == 0
    assert scores["not_scored_by_reason"] == {"no next-day observation": 1}


def test_scores_json_overall_and_per_city() -> None:
    headline = model_headline()
    day = "2016-01-05"
    rows = [
        BacktestRow(day, "A", "ok", station="S1", p_rain_tomorrow=0.9, rained_tomorrow="yes"),
        BacktestRow(day, "A", "ok", station="S1", p_rain_tomorrow=0.2, rained_tomorrow="no"),
        BacktestRow(day, "B", "ok", station="S2", p_rain_tomorrow=0.7, rained_tomorrow="no"),
        BacktestRow(day, "C", "error", reason="no observations on 2016-01-05 within 50 km: x"),
    ]
    scores = score_rows(rows, headline, [dt.date(2016, 1, 5)])
    assert scores["overall"]["n"] == 3 and scores["errors"] == 1 and scores["scored"] == 3
    assert list(scores["per_city"]) == ["A", "B", "C"]
    assert scores["per_city"]["A"]["auc"] == 1.0 and scores["per_city"]["A"]["stations"] == ["S1"]
    assert scores["per_city"]["B"]["auc"] is None  # one outcome only
    assert scores["per_city"]["C"]["n"] == 0
    expected_brier = round(((0.9 - 1) ** 2 + 0.2**2 + 0.7**2) / 3, 4)
    assert scores["overall"]["brier"] == expected_brier
    assert scores["climatology"] == headline.climatology
    for key in ("n", "auc", "brier", "brier_skill", "accuracy", "reliability"):
        assert key in scores["overall"] and key in scores["per_city"]["A"]
    assert scores["not_scored_by_reason"] == {"no observations on that day within 50 km": 1}
    # The shipped model is refit on all the offline data, so every replayed day is in-sample;
    # a model trained to 2014-12 (the holdout model) is out of sample in 2016.
    assert headline.trained_period == "2007-11-01 to 2016-06-30"
    assert scores["in_training_period"] is True
    holdout = dataclasses.replace(headline, trained_period="2007-11-01 to 2014-12-31")
    assert score_rows(rows, holdout, [dt.date(2016, 1, 5)])["in_training_period"] is False
    assert score_rows(rows, holdout, [dt.date(2016, 1, 5)])["in_sample_note"] is None
    assert score_rows(rows, holdout, [dt.date(2012, 3, 1)])["in_training_period"] is True
    assert scores["in_sample_note"] == in_sample_note(headline)  # what the report shows
    # what the report needs of a backtest's files (read_backtest checks them) is written
    assert set(REQUIRED_SCORES) <= set(scores) and set(REQUIRED_COLUMNS) <= set(CSV_FIELDS)


def test_reason_kinds_leave_dates_out() -> None:
    assert reason_kind("no observations on 2016-01-08 within 50 km: Gold Coast") == (
        "no observations on that day within 50 km"
    )


def test_backtest_csv_columns_and_no_spreadsheet_formulas() -> None:
    rows = [
        BacktestRow("2016-01-05", "=HYPERLINK(\"http://x\")", "error", reason="+1 bad"),
        BacktestRow("2016-01-05", "Sydney", "ok", station="Sydney", p_rain_tomorrow=0.949,
                    rained_tomorrow="yes", rainfall_tomorrow_mm=51.4, lat=-33.87, lon=151.2),
    ]  # fmt: skip
    records = list(csv.DictReader(io.StringIO(backtest_csv(rows))))
    assert tuple(records[0]) == CSV_FIELDS
    assert records[0]["city"].startswith("'=") and records[0]["reason"] == "'+1 bad"
    assert records[1] == {
        "date": "2016-01-05", "city": "Sydney", "station": "Sydney", "p_rain_tomorrow": "0.949",
        "rained_tomorrow": "yes", "status": "ok", "reason": "", "rainfall_tomorrow_mm": "51.4",
        "lat": "-33.87", "lon": "151.2",
    }  # fmt: skip
    assert BacktestRow.from_csv(records[1]) == rows[1]


def test_the_in_sample_note_does_not_call_a_period_the_model_was_fitted_on_held_out() -> None:
    """The shipped model is refitted on every offline day, the test period included: the
    note must not name that period as this model's held-out one (it read "trained on
    2007-11-01 to 2016-06-30 ... Its held-out test period is 2015-01-01 to 2016-06-30"), but
    say whose scores the model card's test-period scores are."""
    shipped = model_headline()
    note = in_sample_note(shipped)
    assert "2007-11-01 to 2016-06-30" in note and "in-sample" in note
    assert "held-out test period is" not in note
    assert "trained on 2007-11-01 to 2014-12-31" in note  # whose scores the card's are
    assert "2015-01-01 to 2016-06-30" in note
    # A model that was not refitted (trained to 2014-12): its own held-out period.
    holdout = dataclasses.replace(
        shipped, trained_period="2007-11-01 to 2014-12-31",
        holdout_trained_period="2007-11-01 to 2014-12-31",
    )  # fmt: skip
    assert "Its held-out test period is 2015-01-01 to 2016-06-30" in in_sample_note(holdout)
    assert shipped.holdout_trained_period == "2007-11-01 to 2014-12-31"
