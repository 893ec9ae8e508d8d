"""``raincast backtest --from DAY --to DAY``: replay real station days through the pipeline
and score every forecast against what happened the next day (see ``raincast_cli.backtest``).

Writes ``backtest.csv`` (one row per day and city), ``scores.json`` (overall and per city)
and ``report.html`` into ``--out``. Exit 0 when every day ran (whatever the scores), 1 when
a run itself failed, 2 for bad arguments: dates outside the offline observations (the
message gives the range they cover), a bad city list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from raincast.cities import CityListError, load_city_list
from raincast_cli.backtest import (
    DEFAULT_DAYS_IN_FLIGHT,
    BacktestRangeError,
    DayProgress,
    available_range,
    backtest_csv,
    backtest_runtime,
    check_range,
    in_sample_note,
    in_training_period,
    replay_days,
    rows_for_day,
    score_rows,
    write_json,
)
from raincast_cli.commands.run import find_template
from raincast_cli.model_headline import model_headline

EXAMPLE_CITIES = Path("examples") / "cities-australia.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                        help="first day whose observations are forecast from")  # fmt: skip
    parser.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                        help="last day (inclusive)")  # fmt: skip
    parser.add_argument("--cities", type=Path, metavar="FILE",
                        help=f"city list (default: the project's {EXAMPLE_CITIES})")  # fmt: skip
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where to write backtest.csv, scores.json, report.html "
                        "(default: out/backtest-FROM-TO)")  # fmt: skip
    parser.add_argument("--workers", type=int, help="Lambda worker processes (default: CPU count)")
    parser.add_argument("--days-in-flight", type=int, default=DEFAULT_DAYS_IN_FLIGHT,
                        help=f"days run at once (default {DEFAULT_DAYS_IN_FLIGHT})")  # fmt: skip
    parser.add_argument("--template", type=Path, help="template.yaml (default: the project's)")


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BacktestRangeError(f"{option} {text!r} is not a date in YYYY-MM-DD form") from None


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        start, end = _date(args.start, "--from"), _date(args.end, "--to")
        days = check_range(start, end, available_range())
        if args.workers is not None and args.workers < 1:
            raise BacktestRangeError("--workers must be at least 1")
        if args.days_in_flight < 1:
            raise BacktestRangeError("--days-in-flight must be at least 1")
        template = Path(args.template) if args.template else find_template()
        cities_path = args.cities or template.parent / EXAMPLE_CITIES
        cities = load_city_list(cities_path)
        out_dir = args.out or Path("out") / f"backtest-{start:%Y%m%d}-{end:%Y%m%d}"
        out_dir.mkdir(parents=True, exist_ok=True)  # before the run: a bad --out fails fast
    except (BacktestRangeError, CityListError, OSError) as exc:
        print(f"raincast backtest: error: {exc}", file=err)
        return 2
    headline = model_headline()
    print(
        f"raincast: backtest {start} to {end}: {len(days)} days x {len(cities)} cities "
        f"from {_printable(cities_path.name)}, model {headline.version}",
        file=err,
    )
    if in_training_period(headline, start, end):
        print(f"raincast: note: {in_sample_note(headline)}", file=err)

    from raincast.weather.replay import cached_replay_data

    data = cached_replay_data()
    started = time.monotonic()
    rows = []
    progress = DayProgress(len(days), len(cities), err)
    runtime = backtest_runtime(template, workers=args.workers)
    try:
        list_bytes = Path(cities_path).read_bytes()
        for day in replay_days(runtime, cities, list_bytes, Path(cities_path).name, days,
                               days_in_flight=args.days_in_flight):  # fmt: skip
            day_rows = rows_for_day(day, data)
            rows.extend(day_rows)
            progress.day_done(day.date, day_rows)
    except RuntimeError as exc:
        progress.finish()
        print(f"raincast backtest: {exc}", file=err)
        return 1
    finally:
        runtime.close()
    progress.finish()
    seconds = time.monotonic() - started

    scores = score_rows(rows, headline, days)
    scores["seconds"] = round(seconds, 1)
    scores["cities_file"] = Path(cities_path).name
    (out_dir / "backtest.csv").write_text(backtest_csv(rows), encoding="utf-8")
    write_json(out_dir / "scores.json", scores)

    from raincast_cli.report import write_backtest_report

    files = "backtest.csv, scores.json, report.html"
    try:
        write_backtest_report(out_dir)
    except Exception as exc:  # the scores are written; a report that fails is a warning
        print(f"raincast backtest: warning: no report.html: {exc}", file=err)
        files = "backtest.csv, scores.json"
    print(format_scores(scores))
    print(f"\n{len(days)} days in {seconds:.1f} s. Results: {out_dir}/ ({files})")
    return 0


def format_scores(scores: dict) -> str:
    def number(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"{'':24} {'n':>6} {'AUC':>6} {'Brier':>6} {'skill':>6} {'acc.':>6}"]

    def line(name: str, s: dict) -> str:
        return (
            f"{name[:24]:24} {s['n']:>6} {number(s['auc']):>6} {number(s['brier']):>6} "
            f"{number(s['brier_skill']):>6} {number(s['accuracy']):>6}"
        )

    lines.append(line("overall", scores["overall"]))
    for city, s in scores["per_city"].items():
        lines.append(line(_printable(city), s))
    not_scored = ", ".join(f"{k}: {v}" for k, v in scores["not_scored_by_reason"].items())
    lines.append(
        f"\n{scores['forecasts']} forecasts: {scores['scored']} scored, "
        f"{scores['unscored']} without a next-day observation, {scores['errors']} errors"
        + (f".\nNot scored: {not_scored}" if not_scored else "")
    )
    return "\n".join(lines)


def _printable(text: str) -> str:
    """No terminal escapes from a city name."""
    return "".join(c if c.isprintable() else "?" for c in text)
