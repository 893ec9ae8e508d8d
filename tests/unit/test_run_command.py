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
    given = run_command._request(args(cities, date="2015-03-04", run_id="r1"))
    assert given.request == {"run_id": "r1", "weather": "replay", "geocoder": "geonames",
                             "trigger": "cli", "date": "2015-03-04", "recalibrate": "auto"}  # fmt: skip
    asked = run_command._request(args(cities, recalibrate="none")).request
    assert asked["recalibrate"] == "none"
    assert len(given.cities) == 2 and given.run_id == "r1"
    assert (given.data, given.filename) == (b"Sydney\nPerth\n", "my-list.txt")
    default_id = run_command._request(args(cities)).run_id
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


@pytest.mark.parametrize("date", ["2007-10-31", "2016-07-01", "2026-01-01", "1990-05-05"])
def test_a_date_outside_the_offline_data_is_refused_naming_the_range(
    tmp_path: Path, capsys, date: str
) -> None:
    cities = tmp_path / "c.txt"
    cities.write_text("Sydney\n")
    with pytest.raises(InvalidRequest, match="the replay covers 2007-11-01 to 2016-06-30"):
        run_command._request(args(cities, date=date))
    assert run_command.run(args(cities, date=date, out=tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"date {date} is outside the offline observations" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("date", ["2007-11-01", "2016-06-30"])
def test_the_first_and_last_day_of_the_offline_data_are_fine(tmp_path: Path, date: str) -> None:
    cities = tmp_path / "c.txt"
    cities.write_text("Sydney\n")
    assert run_command._request(args(cities, date=date)).request["date"] == date
    # A live source takes any date.
    assert run_command._request(args(cities, date="2026-01-01", weather="open-meteo"))


def test_the_prepare_step_refuses_the_same_dates() -> None:
    from raincast.pipeline.prepare import prepare_run

    prepared = prepare_run(
        {"cities": ["Sydney"], "date": "2020-01-01"}, "exec-1", None, None, "results",
        lambda weather: "2016-06-30",
    )  # fmt: skip
    assert prepared["ok"] is False and prepared["error"] == "InvalidRequest"
    assert "2007-11-01 to 2016-06-30" in prepared["message"]


def test_stdin_is_read_once_and_uploaded_as_read(tmp_path: Path, monkeypatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"city;country\nSydney;AU\n")

    monkeypatch.setattr(run_command.sys, "stdin", Stdin)
    given = run_command._request(args(Path("-")))
    assert [r.city for r in given.cities.rows] == ["Sydney"]
    assert given.data == b"city;country\nSydney;AU\n" and given.filename == "stdin"
    assert given.run_id.startswith("stdin-")


@pytest.mark.parametrize(
    ("name", "uploaded"),
    [("my list.csv", "my-list.csv"), ("<stdin>", "stdin"), ("63", "63"),
     ("../../etc/passwd", "passwd"), ("x.JSON", "x.json"), ("a.b c", "a-b-c")],
)  # fmt: skip
def test_upload_name_is_a_safe_key_part(name: str, uploaded: str) -> None:
    assert run_command.upload_name(Path(name).name if "/" in name else name) == uploaded


def test_table_and_errors_never_print_escape_sequences(tmp_path: Path, capsys) -> None:
    rows = [
        {"city": "\x1b[2J\x1b]0;owned\x07Syd", "place": "", "country": "\u202eUA",
         "date": "2016-06-30", "p_rain_tomorrow": "", "rain_tomorrow": "", "status": "error",
         "reason": "bad row: \x1b[31mred"},
    ]  # fmt: skip
    table = run_command.format_table(rows)
    assert "\x1b" not in table and "\u202e" not in table and "\x07" not in table
    assert "\\x1b[2J" in table
    bad = tmp_path / "\x1b[31mevil.csv"
    bad.write_bytes(b"name\nSydney\n")
    assert run_command.run(args(bad)) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[31mevil.csv" in err


@pytest.mark.parametrize("out", ["/proc/no-such-folder", "file-in-the-way/out"])
def test_an_out_folder_that_cannot_be_written_is_refused_before_anything_runs(
    tmp_path: Path, capsys, out: str
) -> None:
    cities = tmp_path / "c.csv"
    cities.write_text("city\nSydney\n")
    (tmp_path / "file-in-the-way").write_text("a file, not a folder")
    target = out if out.startswith("/") else str(tmp_path / out)
    assert run_command.run(args(cities, out=target)) == 2
    err = capsys.readouterr().err
    assert "raincast run: error: cannot write the results to" in err
    assert "Traceback" not in err


def test_a_symbolic_link_planted_in_the_out_folder_is_refused_not_followed(
    tmp_path: Path, capsys
) -> None:
    cities = tmp_path / "c.csv"
    cities.write_text("city\nSydney\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    (out / "cities").mkdir(parents=True)
    (out / "cities" / "00000-sydney.json").symlink_to(victim)
    assert run_command.run(args(cities, out=str(out), run_id="planted")) == 1
    err = capsys.readouterr().err
    assert "refusing to write" in err and "symbolic link" in err
    assert "Traceback" not in err
    assert victim.read_text() == "keep me"


def test_a_long_run_prints_the_first_rows_and_says_where_the_rest_are() -> None:
    """10,000 cities are not 10,000 terminal lines: the table stops at TABLE_ROWS and
    names the file that has every row; a list that fits is printed whole."""
    row = {"city": "Sydney", "place": "Sydney", "country": "AU", "date": "2016-06-30",
           "p_rain_tomorrow": "0.2345", "rain_tomorrow": "no", "status": "ok", "reason": ""}  # fmt: skip
    limit = run_command.TABLE_ROWS
    many = [dict(row, city=f"City {i}") for i in range(limit + 250)]
    lines = run_command.format_table(many, rest_in="out/x/forecast.csv").splitlines()
    assert len(lines) == 1 + limit + 1  # header, the rows, the note
    assert lines[limit].split()[:2] == ["City", str(limit - 1)]
    assert lines[-1] == "... and 250 more cities: every row is in out/x/forecast.csv"
    whole = run_command.format_table(many[:limit], rest_in="out/x/forecast.csv").splitlines()
    assert len(whole) == 1 + limit and "more cities" not in whole[-1]
    # A reader over forecast.csv (what the run passes) is read through, not held whole.
    streamed = run_command.format_table(iter(many), rest_in="out/x/forecast.csv")
    assert streamed.splitlines() == lines


def test_a_refused_run_ends_the_zygote_it_started(tmp_path: Path, monkeypatch, capsys) -> None:
    """The zygote starts before the list is read (it imports while the list and the
    template are checked); a run refused at that point ends it, it does not leave it."""
    import sfnstack.lambdas.pool as pool

    started: list[pool.Zygote] = []
    start = pool.start_zygote

    def recording(preload: tuple[str, ...]) -> pool.Zygote | None:
        zygote = start(preload)
        if zygote is not None:
            started.append(zygote)
        return zygote

    monkeypatch.setattr(pool, "start_zygote", recording)
    cities = tmp_path / "c.csv"
    cities.write_bytes(b"\xff\xfe\x00\x00")  # refused: not text
    assert run_command.run(args(cities)) == 2
    cities.write_text("city\nSydney\n")
    (tmp_path / "file-in-the-way").write_text("a file, not a folder")
    assert run_command.run(args(cities, out=str(tmp_path / "file-in-the-way" / "x"))) == 2
    assert len(started) == 2
    for zygote in started:
        assert zygote.process.wait(5) is not None and not zygote.alive
    assert "raincast run: error:" in capsys.readouterr().err
