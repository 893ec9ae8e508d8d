"""`raincast run`'s own pieces: argument checks, progress from history events, the table."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from raincast.cities import CityListError
from raincast.pipeline.records import InvalidRequest
from raincast_cli.commands import run as run_command

ROOT = Path(__file__).resolve().parents[2]


def args(cities: Path, **overrides: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    ns = parser.parse_args([str(cities)])
    for key, value in overrides.items():
        setattr(ns, key, value)
    return ns


def test_request_from_arguments(tmp_path: Path) -> None:
    cities = tmp_path / "my list.txt"
    cities.write_text("Sydney\nPerth\n")
    request, parsed, run_id = run_command._request(args(cities, date="2015-03-04", run_id="r1"))
    assert request == {"run_id": "r1", "weather": "replay", "geocoder": "geonames", "trigger": "cli",
                       "date": "2015-03-04"}  # fmt: skip
    assert len(parsed) == 2 and run_id == "r1"
    _, _, default_id = run_command._request(args(cities))
    assert default_id.startswith("my-list-") and default_id.endswith("Z")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"date": "30/06/2016"}, InvalidRequest, "YYYY-MM-DD"),
        ({"run_id": "a b"}, InvalidRequest, "run id"),
        ({"workers": 0}, InvalidRequest, "--workers"),
        ({"geocoder": "locationiq"}, InvalidRequest, "LOCATIONIQ_API_KEY"),
    ],
)
def test_bad_arguments(tmp_path: Path, monkeypatch, overrides, error, message) -> None:
    monkeypatch.delenv("LOCATIONIQ_API_KEY", raising=False)
    cities = tmp_path / "c.txt"
    cities.write_text("Sydney\n")
    with pytest.raises(error, match=message):
        run_command._request(args(cities, **overrides))


def test_bad_file_exits_2_with_the_reason(tmp_path: Path, capsys) -> None:
    cities = tmp_path / "c.csv"
    cities.write_bytes(b"\xff\xfe\x00\x00")
    assert run_command.run(args(cities)) == 2
    assert "raincast run: error:" in capsys.readouterr().err
    with pytest.raises(CityListError):
        run_command._request(args(tmp_path / "missing.csv"))


def test_find_template_from_a_subdirectory(monkeypatch) -> None:
    monkeypatch.chdir(ROOT / "examples")
    assert run_command.find_template() == ROOT / "template.yaml"


def test_progress_counts_cities_from_map_iterations() -> None:
    stream = io.StringIO()
    progress = run_command.Progress(total=60, batch_size=25, stream=stream)
    progress.on_event({"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Prepare"}})
    for index in (2, 0):  # batches finish in any order; the last one has 10 cities
        progress.on_event(
            {"type": "MapIterationSucceeded", "mapIterationSucceededEventDetails": {"index": index}}
        )
    progress.on_event(
        {"type": "MapIterationFailed", "mapIterationFailedEventDetails": {"index": 1}}
    )
    assert progress.done == 60 and progress.failed_batches == 1
    lines = stream.getvalue().splitlines()
    assert lines[0] == "checking the city list: 0/60 cities"
    assert lines[-1] == "forecasting: 60/60 cities"


def test_table_shows_probabilities_and_reasons() -> None:
    rows = [
        {"city": "Sydney", "place": "Sydney", "country": "AU", "date": "2016-06-30",
         "p_rain_tomorrow": "0.2345", "rain_tomorrow": "no", "status": "ok", "reason": ""},
        {"city": "Atlantisxx", "place": "", "country": "", "date": "2016-06-30",
         "p_rain_tomorrow": "", "rain_tomorrow": "", "status": "error", "reason": "not found: x"},
    ]  # fmt: skip
    lines = run_command.format_table(rows).splitlines()
    assert lines[0].split()[:3] == ["city", "place", "found"]
    assert lines[1].split() == ["Sydney", "Sydney,", "AU", "2016-06-30", "0.23", "no"]
    assert lines[2].split()[:4] == ["Atlantisxx", "-", "2016-06-30", "-"]
    assert lines[2].endswith("error: not found: x")
