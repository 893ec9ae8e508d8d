"""Input-derived text made safe where it ends up: spreadsheet cells (OWASP's CSV-injection
guidance) and the terminal (no escape sequences, control or bidi characters)."""

from __future__ import annotations

import csv
import io

import pytest

from raincast.pipeline.summary import forecast_csv
from raincast.sanitize import FORMULA_PREFIXES, printable, spreadsheet_cell

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\uff1d1+1",  # full-width equals: some spreadsheets fold it to '='
]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_cells_are_neutralised(value: str) -> None:
    cell = spreadsheet_cell(value)
    assert cell == "'" + value
    assert not cell.startswith(FORMULA_PREFIXES)


@pytest.mark.parametrize("value", [-33.86, 151.2, 0, 7, 0.2345, "-33.86", "+1.5", "1e-3", None])
def test_numbers_stay_numbers(value: object) -> None:
    assert spreadsheet_cell(value) == value


@pytest.mark.parametrize("value", ["Sydney", "São Paulo", "'quoted", "", "2016-06-30", "a=b"])
def test_plain_text_is_unchanged(value: str) -> None:
    assert spreadsheet_cell(value) == value


def test_forecast_csv_has_no_formula_cells_and_keeps_numbers() -> None:
    rows = [
        {"index": 0, "city": "=cmd|' /C calc'!A0", "place": "+SUM(A1)", "country": "@AU",
         "lat": -33.86, "lon": 151.21, "date": "2016-06-30", "p_rain_tomorrow": 0.25,
         "rain_tomorrow": "no", "status": "ok", "reason": None},
        {"index": 1, "city": "-Perth", "place": None, "country": "\tX", "lat": None,
         "lon": None, "date": "2016-06-30", "p_rain_tomorrow": None, "rain_tomorrow": None,
         "status": "error", "reason": "=HYPERLINK(\"http://x\")"},
    ]  # fmt: skip
    parsed = list(csv.DictReader(io.StringIO(forecast_csv(rows).decode("utf-8"))))
    for row in parsed:
        for column in ("city", "place", "country", "reason"):
            assert not row[column].startswith(FORMULA_PREFIXES), (column, row[column])
    assert parsed[0]["city"] == "'=cmd|' /C calc'!A0"
    assert parsed[1]["reason"] == '\'=HYPERLINK("http://x")'
    assert (parsed[0]["lat"], parsed[0]["lon"], parsed[0]["p_rain_tomorrow"]) == (
        "-33.86", "151.21", "0.25"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Sydney", "Sydney"),
        ("São Paulo 東京", "São Paulo 東京"),
        ("\x1b[31mRed\x1b[0m", "\\x1b[31mRed\\x1b[0m"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
        ("a\rb\nc\x00", "a\\rb\\nc\\x00"),
        ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(text).isprintable()
