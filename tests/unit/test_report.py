"""raincast report: the page for a run folder and for a run on S3 (moto), escaping of
everything that came from input, and the model card's headline."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from raincast.pipeline.records import RESULT_FIELDS
from raincast_cli.cli import main
from raincast_cli.model_headline import model_headline

HOSTILE = '<script>alert("city")</script>'
HOSTILE_REASON = 'not found: <img src=x onerror=alert("reason")>'
MATH = r"$\frac{1}{$ Springs"  # mathtext that does not parse: must be drawn as text


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def forecast_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RESULT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in RESULT_FIELDS})
    return out.getvalue()


ROWS = [
    {"index": 0, "city": "Sydney", "place": "Sydney", "country": "AU", "lat": -33.87,
     "lon": 151.21, "date": "2016-01-05", "p_rain_tomorrow": 0.949, "rain_tomorrow": "yes",
     "status": "ok"},
    {"index": 1, "city": MATH, "place": "Alice Springs", "country": "AU", "lat": -23.7,
     "lon": 133.88, "date": "2016-01-05", "p_rain_tomorrow": 0.02, "rain_tomorrow": "no",
     "status": "ok"},
    {"index": 2, "city": HOSTILE, "date": "2016-01-05", "status": "error",
     "reason": HOSTILE_REASON},
    {"index": 3, "city": "Brisbane", "place": "Brisbane", "country": "AU", "lat": -27.47,
     "lon": 153.03, "date": "2016-01-05", "status": "error",
     "reason": "no observations on 2016-01-05 within 50 km: Brisbane has no row that day"},
]  # fmt: skip
SUMMARY = {
    "run_id": "hostile-1", "date": "2016-01-05", "weather": "replay", "geocoder": "geonames",
    "trigger": "cli", "completed": True, "total": 4, "by_status": {"ok": 2, "error": 2},
    "errors_by_reason": {"not found": 1, "no observations on 2016-01-05 within 50 km": 1},
}  # fmt: skip


def write_run(folder: Path) -> Path:
    (folder / "cities").mkdir(parents=True)
    (folder / "forecast.csv").write_text(forecast_csv(ROWS), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(SUMMARY), encoding="utf-8")
    doc = {"city": "Sydney", "status": "ok", "model": {"version": "v-test-7", "threshold": 0.5}}
    (folder / "cities" / "00000-sydney.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def check_page(html: str) -> Tags:
    page = parse(html)
    names = [tag for tag, _ in page.tags]
    # Nothing from the input became markup: no script, no img, no handler attribute.
    assert "script" not in names and "img" not in names
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    text = "".join(page.text)
    assert HOSTILE in text and 'not found: <img src=x onerror=alert("reason")>' in text
    assert MATH in text  # the table, and the map's label as SVG text
    # Self-contained: no URL to fetch anything from (SVG namespaces are not fetched; the
    # colour bars are inline data: images).
    references = [
        v for _, attrs in page.tags for k, v in attrs.items()
        if k in ("src", "href", "xlink:href", "action", "poster", "data") and v
        and not v.startswith(("#", "data:image/png;base64,"))
    ]  # fmt: skip
    assert references == []
    assert not re.search(r"url\((?!#)|@import", html)
    return page


def test_run_report_of_a_folder_escapes_input_and_shows_model_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_run(tmp_path / "run")
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == f"Report: {folder / 'report.html'}"
    html = (folder / "report.html").read_text(encoding="utf-8")
    page = check_page(html)
    text = " ".join(" ".join(page.text).split())
    headline = model_headline()
    assert f"{headline.metrics['roc_auc']:.3f}" in text  # the card's headline
    # ... which are the holdout model's: the shipped one is refitted on the test period too.
    assert (
        "2015-01-01 to 2016-06-30, 25,919 station days: the same settings trained on "
        "2007-11-01 to 2014-12-31 (this model is refitted on 2007-11-01 to 2016-06-30, the "
        "test period included)"
    ) in text
    assert "v-test-7" in text  # the version the run recorded differs from the installed one
    assert "weather replay" in text and "geocoder geonames" in text
    assert "not found 1" in text  # errors by reason
    # Sorted, wettest first, with a bar per forecast.
    assert text.index("Sydney Sydney, AU 0.95") < text.index("Alice Springs, AU 0.02")
    assert html.count('<div class="bar">') == 2
    # The map: an inline SVG with the coastline and the located cities labelled.
    assert len(re.findall(r"<svg\b", html)) == 1
    coastline = html[html.index('<g id="PolyCollection_1">') :]
    coastline = coastline[: coastline.index("</g>")]
    outlines = re.findall(r'<path d="([^"]*)"', coastline)
    assert outlines  # the cities span only the mainland: its outline
    assert max(d.count("L ") for d in outlines) > 80


def test_run_report_from_s3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="results-bucket")
        prefix = "runs/hostile-1/"
        put = lambda key, body: s3.put_object(Bucket="results-bucket", Key=prefix + key, Body=body)  # noqa: E731
        put("forecast.csv", forecast_csv(ROWS).encode())
        put("summary.json", json.dumps(SUMMARY).encode())
        put("cities/00000-sydney.json", json.dumps({"status": "ok", "model": {"version": "v9"}}))
        put("manifest.json", json.dumps({"objects": [
            {"key": prefix + "cities/00000-sydney.json", "kind": "city", "status": "ok"}]}))  # fmt: skip
        out = tmp_path / "s3-report.html"
        assert main(["report", "s3://results-bucket/runs/hostile-1/", "--out", str(out)]) == 0
        html = out.read_text(encoding="utf-8")
        check_page(html)
        assert "s3://results-bucket/runs/hostile-1/" in html and "v9" in html

        # The default result layout: the model version from a batch object's documents.
        put(
            "batches/00000-00001.jsonl",
            b'{"status": "error"}\n{"status": "ok", "model": {"version": "v10"}}\n',
        )
        put("manifest.json", json.dumps({"objects": [
            {"key": prefix + "batches/00000-00001.jsonl", "kind": "batch", "indices": [0, 1]}]}))  # fmt: skip
        assert main(["report", "s3://results-bucket/runs/hostile-1/", "--out", str(out)]) == 0
        assert "v10" in out.read_text(encoding="utf-8")

        # Missing objects and buckets: exit 2, one line, no traceback.
        capsys.readouterr()
        assert main(["report", "s3://results-bucket/runs/nope/", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "s3://results-bucket/runs/nope/summary.json: no such object" in err
        assert main(["report", "s3://no-such-bucket/runs/x/", "--out", str(out)]) == 2
        assert "no such bucket" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("s3://Bad_Bucket/runs/x/", "is not an S3 bucket name"),
        ("s3://results-bucket", "give the run's prefix"),
        ("/no/such/folder", "no such folder"),
    ],
)
def test_unreadable_locations_exit_2(
    location: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", location]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_folder_that_is_not_a_run_exits_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["report", str(tmp_path)]) == 2
    assert "no forecast.csv here" in capsys.readouterr().err
    (tmp_path / "forecast.csv").write_text("city\nSydney\n", encoding="utf-8")
    (tmp_path / "summary.json").write_text("{nope", encoding="utf-8")
    assert main(["report", str(tmp_path)]) == 2
    assert "summary.json is not JSON" in capsys.readouterr().err


def test_model_headline_reads_the_cards_numbers_from_the_metadata() -> None:
    installed = model_headline()
    from raincast.model.artifact import RainModel

    metadata = RainModel.load().metadata
    assert installed.climatology == metadata["climatology"]
    assert installed.metrics["roc_auc"] == metadata["test_metrics"]["model"]["roc_auc"]
    assert installed.version == metadata.get("version", metadata["artifact_id"])
    assert "climatology" in installed.baselines and "model" not in installed.baselines
    changed = model_headline({**metadata, "version": "2.0", "climatology": 0.3})
    assert changed.version == "2.0" and changed.climatology == 0.3
    assert installed.holdout_trained_period == "2007-11-01 to 2014-12-31"
    assert installed.trained_period == "2007-11-01 to 2016-06-30"
    # An artifact without the field (not refitted): its test scores are its own.
    older = {k: v for k, v in metadata.items() if k != "holdout_trained_period"}
    assert model_headline(older).holdout_trained_period == installed.trained_period


def test_city_colours_are_the_colormaps_own() -> None:
    # page._colour reads a cached table instead of calling the colormap per city.
    import matplotlib
    import numpy as np

    from raincast_cli.report import page, plots

    for cmap in (plots.PROBABILITY_CMAP, plots.SKILL_CMAP):
        for norm in (matplotlib.colors.Normalize(0.0, 1.0), matplotlib.colors.Normalize(-1, 0.6)):
            for value in [*np.linspace(-1.2, 1.2, 2401), 0.0, 1.0, 1 / 256, float("nan")]:
                expected = matplotlib.colors.to_hex(matplotlib.colormaps[cmap](norm(value)))
                assert page._colour(value, cmap, norm) == expected, (cmap, value)


def test_a_map_of_thousands_of_cities_draws_its_markers_as_one_image() -> None:
    from raincast_cli.report import plots

    def points(count: int) -> list[plots.MapPoint]:
        return [
            plots.MapPoint(f"Town {i}", -30 - (i % 97) * 0.1, 140 + (i % 89) * 0.1, (i % 10) / 10)
            for i in range(count)
        ]

    few = plots.city_map(points(50), title=None, colorbar_label="P(rain)")
    many = plots.city_map(points(plots.RASTERIZE_ABOVE + 1), title=None, colorbar_label="P(rain)")
    # the colour bar is an image in both; the markers are one more, past the threshold
    assert many.count("data:image/png") == few.count("data:image/png") + 1


def test_a_summary_without_the_runs_settings_shows_them_as_unknown(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run")  # a summary.json written by hand, or by an older run
    (folder / "summary.json").write_text(json.dumps({"total": 4}), encoding="utf-8")
    assert main(["report", str(folder)]) == 0
    text = " ".join(" ".join(parse((folder / "report.html").read_text("utf-8")).text).split())
    assert "Run ?" in text
    assert "weather ? geocoder ? trigger ?" in text


def test_forecast_rows_escape_the_city_and_the_place(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run")
    rows = [{**ROWS[0], "city": HOSTILE, "place": 'Bar & "Grill" <b>'}, *ROWS[1:]]
    (folder / "forecast.csv").write_text(forecast_csv(rows), encoding="utf-8")
    assert main(["report", str(folder)]) == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    page = check_page(html)
    assert "b" not in [tag for tag, _ in page.tags]
    assert "Bar &amp; &#34;Grill&#34; &lt;b&gt;, AU" in html
    assert html.count('<span class="badge yes">yes</span>') == 1


BACKTEST_CSV = "date,city,status,p_rain_tomorrow,rained_tomorrow\n2016-01-01,Sydney,ok,0.7,yes\n"


@pytest.mark.parametrize(
    ("csv_text", "scores", "message"),
    [
        ("date,city\n2016-01-01,Sydney\n", "{}", "backtest.csv has no status column"),
        ("city\nSydney\n", "{}", "backtest.csv has no date, status columns"),
        (BACKTEST_CSV, "[1, 2]", "scores.json is not a backtest's scores (not a JSON object)"),
        (BACKTEST_CSV, '{"from": "2016-01-01"}', "scores.json is not a backtest's scores (no to, "),
        (BACKTEST_CSV, "{nope", "scores.json is not JSON"),
        (BACKTEST_CSV.replace("0.7", "wet"), "{}", "backtest.csv line 2: not a number: 'wet'"),
    ],
)
def test_a_backtest_folder_that_is_not_readable_exits_2_with_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], csv_text: str, scores: str, message: str
) -> None:
    (tmp_path / "backtest.csv").write_text(csv_text, encoding="utf-8")
    (tmp_path / "scores.json").write_text(scores, encoding="utf-8")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "report.html").exists()


def test_what_a_report_error_quotes_from_the_file_reaches_the_terminal_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "backtest.csv").write_text(
        BACKTEST_CSV.replace("0.7", "\x1b]0;owned\x07\x1b[2J"), encoding="utf-8"
    )
    (tmp_path / "scores.json").write_text("{}", encoding="utf-8")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a number" in err
    assert "\x1b" not in err and "\x07" not in err
