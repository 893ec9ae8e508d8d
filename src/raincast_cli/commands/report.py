"""``raincast report RUN``: the HTML report of a forecast run or a backtest.

RUN is a folder written by ``raincast run`` (forecast.csv, summary.json, ...) or by
``raincast backtest`` (backtest.csv, scores.json), or a run's results on S3,
``s3://<results bucket>/runs/<run id>/``, read through boto3 (credentials, region and
``AWS_ENDPOINT_URL`` from the environment as usual). The page is one self-contained file
that opens offline. Exit 2 when the results cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raincast.pipeline.records import InvalidRequest, validate_run_id
from raincast.sanitize import printable
from raincast_cli.report import REPORT_NAME, write_backtest_report, write_run_report
from raincast_cli.report.results import ReportInputError, is_s3_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN",
                        help="a run's or backtest's folder, or s3://BUCKET/runs/RUN_ID/")  # fmt: skip
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help=f"where to write the page (default: {REPORT_NAME} in the folder; "
                        f"for S3, out/<run id>/{REPORT_NAME})")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        target = make_report(args.run, args.out)
    except (ReportInputError, InvalidRequest, OSError) as exc:
        print(f"raincast report: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    print(f"Report: {target}")
    return 0


def make_report(location: str, out: Path | None) -> Path:
    if is_s3_url(location):
        if out is None:
            run_id = location.rstrip("/").rsplit("/", 1)[-1]
            out = Path("out") / validate_run_id(run_id) / REPORT_NAME
        out.parent.mkdir(parents=True, exist_ok=True)
        return write_run_report(location, out)
    folder = Path(location)
    if (folder / "backtest.csv").is_file() and (folder / "scores.json").is_file():
        import jinja2  # the report's own dependency, imported with it

        try:
            return write_backtest_report(folder, out)
        except ValueError as exc:  # read_backtest's: which file, and what is wrong
            raise ReportInputError(str(exc)) from None
        except (KeyError, TypeError, AttributeError, jinja2.UndefinedError) as exc:
            # a scores.json with the right keys and the wrong things in them
            what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ReportInputError(f"{folder}: not a readable backtest ({what})") from None
    return write_run_report(folder, out)
