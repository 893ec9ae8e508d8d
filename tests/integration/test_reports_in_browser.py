"""The HTML reports in a real browser: Debian's headless Chromium (driven by playwright) opens
the report.html that `raincast run` and `raincast backtest` wrote, with the network off.
The page must show its figures (inline SVG with a real size on screen), make no network
request of any kind, run no injected script, and show the hostile city name as text."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from report_cases import HOSTILE

from raincast_cli.report.browser import chromium_available, visit

DOCS = os.environ.get("RAINCAST_SCREENSHOTS")  # a folder: keep the screenshots there


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if not chromium_available():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/test.sh installs Debian's chromium")
        pytest.skip("no /usr/bin/chromium (scripts/test.sh installs it)")


def assert_clean(page) -> None:
    assert page.requests == [], page.requests
    assert page.csp_violations == [], page.csp_violations
    assert page.dialogs == []  # no injected script ran
    assert page.page_errors == [] and page.console_errors == []


def assert_drawn(screenshot: bytes, min_colours: int = 200) -> None:
    image = Image.open(io.BytesIO(screenshot)).convert("RGB")
    assert image.width >= 1200 and image.height > 900
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= min_colours  # plots, not a blank page


def keep(page, name: str) -> None:
    if DOCS:
        Path(DOCS, name).write_bytes(page.screenshot)


def test_run_report_renders_offline(forecast_run) -> None:
    result, out = forecast_run
    assert result.returncode == 0, result.stderr
    assert "report.html" in result.stdout
    page = visit(out / "report.html")
    keep(page, "report-run.png")
    assert_clean(page)
    assert_drawn(page.screenshot)
    figures = {f["id"]: f for f in page.figures}
    assert figures["map"]["width"] > 500 and figures["map"]["height"] > 250
    # The map labels the cities it drew, the hostile one as plain text.
    assert {"Sydney", "Perth", "Darwin", "Hobart", HOSTILE} <= set(figures["map"]["texts"])
    assert HOSTILE in page.text and "Xyzzyville" in page.text
    assert "not found" in page.text  # errors by reason
    assert "ROC AUC" in page.text  # the card's headline metrics


def test_backtest_report_renders_offline_and_switches_city(backtest_run) -> None:
    result, out = backtest_run
    assert result.returncode == 0, result.stderr
    page = visit(out / "report.html")
    keep(page, "report-backtest.png")
    assert_clean(page)
    assert_drawn(page.screenshot)
    figures = {f["id"]: f for f in page.figures}
    for name in ("reliability", "roc", "skill-map", "series-0"):
        assert figures[name]["width"] > 300 and figures[name]["height"] > 200, figures[name]
    series = [f for f in page.figures if f["id"].startswith("series-")]
    assert [f["width"] > 0 for f in series].count(True) == 1  # one city's chart at a time
    # Choosing another city shows its chart and hides the first.
    switched = visit(
        out / "report.html",
        actions="const s = document.getElementById('series-city');"
        "s.value = 'series-1'; s.dispatchEvent(new Event('change'));",
    )
    assert_clean(switched)
    shown = {f["id"]: f["width"] > 0 for f in switched.figures if f["id"].startswith("series-")}
    assert shown["series-1"] and not shown["series-0"]


def test_the_browser_check_sees_network_use(tmp_path: Path, forecast_run) -> None:
    """The witness can fail: a report with an external style sheet (before the page's
    policy) is caught as a request, an external image (after it) as a policy violation."""
    _, out = forecast_run
    html = (out / "report.html").read_text(encoding="utf-8")
    early = tmp_path / "early.html"
    early.write_text(html.replace("<head>", '<head><link rel="stylesheet" '
                                  'href="http://192.0.2.1/x.css">', 1), encoding="utf-8")  # fmt: skip
    assert visit(early).requests == ["http://192.0.2.1/x.css"]
    late = tmp_path / "late.html"
    late.write_text(html.replace("</main>", '<img src="https://192.0.2.1/x.png"></main>', 1),
                    encoding="utf-8")  # fmt: skip
    page = visit(late)
    assert page.network_used
    assert any("192.0.2.1/x.png" in v for v in page.csp_violations)
