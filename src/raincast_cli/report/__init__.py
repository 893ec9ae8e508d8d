"""HTML reports: one self-contained page for a forecast run (``write_run_report``) and one
for a backtest (``write_backtest_report``). ``raincast report`` makes either from a folder
(or a run on S3); ``raincast run`` and ``raincast backtest`` write theirs as they finish."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raincast_cli.report.results import RunFiles

REPORT_NAME = "report.html"


def write_run_report(
    location: str | Path,
    out: Path | None = None,
    s3_client: Any = None,
    files: RunFiles | None = None,
) -> Path:
    """The report of the run in folder or S3 prefix ``location`` (or of ``files``, the run's
    objects in hand, whose folder ``location`` is), written to ``out`` (default: report.html
    in the folder). Raises ReportInputError when the results cannot be read."""
    from raincast_cli.model_headline import model_headline
    from raincast_cli.report.page import render_run_report
    from raincast_cli.report.results import load_run_results

    results = load_run_results(str(location), s3_client=s3_client, files=files)
    target = out or Path(location) / REPORT_NAME
    target.write_text(render_run_report(results, model_headline()), encoding="utf-8")
    return target


def write_backtest_report(directory: Path, out: Path | None = None) -> Path:
    """The report of the backtest whose backtest.csv and scores.json are in ``directory``."""
    from raincast_cli.backtest import read_backtest
    from raincast_cli.report.page import render_backtest_report

    rows, scores = read_backtest(directory)
    target = out or directory / REPORT_NAME
    target.write_text(render_backtest_report(rows, scores), encoding="utf-8")
    return target
