"""``raincast predict-observations`` end to end with the committed model."""

import csv
import gzip

import numpy as np
import pytest

from raincast.features import features_from_table
from raincast.model.artifact import RainModel
from raincast.weather.weatheraus import default_path, read_observations
from raincast_cli.cli import main


@pytest.fixture(scope="module")
def sample_lines():
    with gzip.open(default_path(), "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(41)]  # header + 40 real rows
    return lines


def test_predict_observations_scores_every_row(tmp_path, sample_lines, capsys):
    source = tmp_path / "obs.csv.gz"
    source.write_bytes(gzip.compress("".join(sample_lines).encode()))
    out = tmp_path / "pred.csv"
    assert main(["predict-observations", str(source), "--out", str(out)]) == 0
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Date", "Location", "p_rain_tomorrow"]
    assert len(rows) == 41
    table = read_observations(source)
    assert [r[0] for r in rows[1:]] == [str(d) for d in table.dates]
    assert [r[1] for r in rows[1:]] == list(table.locations)
    expected = RainModel.load().predict_proba(features_from_table(table, -25.0))
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], expected, atol=1e-6)
    assert "scored 40 rows" in capsys.readouterr().err


def test_predict_observations_plain_csv_without_optional_columns(tmp_path):
    source = tmp_path / "mine.csv"
    source.write_text("Date,Location,Humidity3pm,Rainfall\n2024-05-01,Home,91,12.0\n")
    out = tmp_path / "pred.csv"
    assert main(["predict-observations", str(source), "--out", str(out), "--latitude", "52"]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[1][:2] == ["2024-05-01", "Home"]
    assert 0.0 < float(rows[1][2]) < 1.0


def test_predict_observations_neutralises_formula_locations(tmp_path):
    source = tmp_path / "mine.csv"
    source.write_text("Date,Location,Humidity3pm,Rainfall\n2024-05-01,=cmd|' /C calc'!A0,91,12.0\n")
    out = tmp_path / "pred.csv"
    assert main(["predict-observations", str(source), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[1][1] == "'=cmd|' /C calc'!A0"
    assert 0.0 < float(rows[1][2]) < 1.0


@pytest.mark.parametrize(
    "content, message",
    [
        ("Location,Rainfall\nSydney,1\n", "missing column(s) Date"),
        ("Date,Location,Rainfall\n2020-13-01,Sydney,1\n", "bad date"),
        ("Date,Location,Rainfall\n2020-01-01,Sydney,lots\n", "not a number"),
    ],
)
def test_bad_files_exit_2_with_a_clear_message(tmp_path, capsys, content, message):
    source = tmp_path / "bad.csv"
    source.write_text(content)
    out = tmp_path / "pred.csv"
    assert main(["predict-observations", str(source), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_file_exits_2(tmp_path, capsys):
    code = main(["predict-observations", str(tmp_path / "nope.csv"), "--out", "x.csv"])
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
