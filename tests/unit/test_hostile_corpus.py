"""The hostile-input corpus (tests/hostile) through the parsing layer and through
``raincast run``'s own code, in-process: every refused case exits 2 with one line naming
the problem, before anything runs; every accepted case gives each row its reason. (The
representative end-to-end runs are in tests/integration/test_hostile_run.py, the uploads
to ``raincast serve`` in tests/integration/test_hostile_serve.py.)"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from raincast.cities import CityList, CityListError, parse_city_list, read_city_list
from raincast_cli.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hostile"))

import corpus

MIN_FILES = 40


def test_the_corpus_has_a_case_for_every_file_and_enough_files() -> None:
    files = sorted(p.name for p in corpus.FILES.iterdir())
    named = {c.file for c in corpus.cases()}
    named |= {
        c.file.rsplit(":", 1)[-1] for c in corpus.cases() if c.kind in ("stdin", "date", "pipe")
    }
    assert len(files) >= MIN_FILES
    assert [f for f in files if f not in named] == []
    names = [c.name for c in corpus.cases()]
    assert len(names) == len(set(names))


def parse(case: corpus.Case, tmp_path: Path) -> CityList:
    with corpus.source(case, tmp_path) as src:
        stdin = io.BytesIO(src.stdin) if src.stdin is not None else None
        data, name = read_city_list(src.path, stdin=stdin, timeout=0.3)
    return parse_city_list(data, name)


def check_rows(case: corpus.Case, parsed: CityList) -> None:
    expected = case.rows
    if isinstance(expected, dict):  # a count, for the big generated lists
        assert len(parsed) == expected["count"]
        assert len(parsed.invalid_rows) == expected["errors"]
        return
    got = [(r.city, r.error) for r in parsed.rows]
    assert [city for city, _ in got] == [row[0] for row in expected]
    for (city, error), (_, parse_error, outcome) in zip(got, expected, strict=True):
        if parse_error is None:
            assert error is None, (city, error)
        else:
            assert error is not None and parse_error in error, (city, error)
        assert (outcome == "bad row") == (error is not None)


@pytest.mark.parametrize("case", corpus.cases("parse"), ids=str)
def test_parsing_layer(case: corpus.Case, tmp_path: Path) -> None:
    started = time.monotonic()
    if case.refused:
        with pytest.raises(CityListError) as raised:
            parse(case, tmp_path)
        message = str(raised.value)
        assert case.refused in message
        assert "\n" not in message and message.isprintable()
    else:
        check_rows(case, parse(case, tmp_path))
    assert time.monotonic() - started < 10  # never a hang


@pytest.mark.parametrize("case", corpus.cases("cli"), ids=str)
def test_raincast_run_reads_and_checks_it(
    case: corpus.Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """``raincast run`` up to starting the runtime: refused cases exit 2 with one line and
    write nothing; accepted ones reach the runtime with every row (the runtime is replaced
    by a recorder here: the end-to-end test runs the real one)."""
    from raincast_cli.commands import run as run_command

    started: list[tuple[dict, CityList, bytes]] = []

    def record(request, cities, data, filename, template, out_dir, workers, **_):
        started.append((request, cities, data))
        return 0

    monkeypatch.setattr(run_command, "execute", record)
    out = tmp_path / "out"
    with corpus.source(case, tmp_path) as src:
        if src.stdin is not None:
            monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": io.BytesIO(src.stdin)}))
        code = main(["run", src.path, "--out", str(out), *src.args])
    err = capsys.readouterr().err
    if case.refused:
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("raincast run: error: "), err
        assert case.refused in err
        assert started == [] and not out.exists()
    else:
        assert code == 0 and err == ""
        ((_request, cities, data),) = started
        check_rows(case, cities)
        assert parse_city_list(data, cities.source).rows == cities.rows  # the bytes it read
