"""``raincast geocode`` through ``raincast_cli.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from raincast.geocoding.locationiq import SEARCH_URL as LIQ_URL
from raincast.geocoding.open_meteo import SEARCH_URL as OM_URL
from raincast_cli.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "geocoding"


def test_table_for_found_names(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["geocode", "Springfield, IL, US", "Köln", "WaggaWagga"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == [
        "QUERY",
        "PLACE",
        "CC",
        "ADMIN1",
        "LAT",
        "LON",
        "TIMEZONE",
        "POPULATION",
        "GEONAMEID",
    ]
    assert lines[1].split() == [
        *["Springfield,", "IL,", "US", "Springfield", "US", "IL"],
        *["39.80172", "-89.64371", "America/Chicago", "114394", "4250542"],
    ]
    assert "Köln" in out and "2886242" in out
    assert "Wagga Wagga" in out and "Australia/Sydney" in out


def test_ambiguous_names_list_alternatives(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", "--alternatives", "2", "Springfield"]) == 0
    out = capsys.readouterr().out
    assert "also: Springfield, MA, US; Springfield, IL, US" in out


def test_not_found_exits_1_and_still_prints_everything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["geocode", "Sydney", "Xyzzyville", "Hobart"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Sydney" in out and "Hobart" in out
    assert "not found: no place named 'Xyzzyville'" in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["geocode", "--json", "São Paulo", "Xyzzyville"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [d["query"] for d in data] == ["São Paulo", "Xyzzyville"]
    assert data[0]["provider"] == "geonames"
    assert data[0]["place"]["geonameid"] == 3448439 and data[0]["place"]["name"] == "São Paulo"
    assert data[0]["alternatives"] and data[0]["reason"] is None
    assert data[1]["place"] is None and data[1]["reason"].startswith("not found")


def test_prefer_country(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", "--json", "--prefer-country", "AU", "Richmond"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["place"]["country_code"] == "AU"
    assert main(["geocode", "--provider", "open-meteo", "--prefer-country", "AU", "X"]) == 2
    assert "geonames only" in capsys.readouterr().err


@responses.activate
def test_open_meteo_provider(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(OM_URL, body=(FIXTURES / "open_meteo_springfield.json").read_text())
    assert main(["geocode", "--provider", "open-meteo", "--json", "Springfield, IL"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["provider"] == "open-meteo" and data[0]["place"]["admin1"] == "Illinois"


@responses.activate
def test_provider_failure_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(OM_URL, json={"error": "boom"}, status=503)
    code = main(["geocode", "--provider", "open-meteo", "Sydney"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip() == "raincast geocode: open-meteo: server error HTTP 503: boom"


def test_missing_locationiq_key_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCATIONIQ_API_KEY", raising=False)
    assert main(["geocode", "--provider", "locationiq", "Sydney"]) == 2
    assert "LOCATIONIQ_API_KEY" in capsys.readouterr().err


@responses.activate
def test_locationiq_key_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCATIONIQ_API_KEY", "pk.test-key")
    responses.get(LIQ_URL, body=(FIXTURES / "locationiq_sao_paulo.json").read_text())
    assert main(["geocode", "--provider", "locationiq", "São Paulo"]) == 0
    out = capsys.readouterr().out
    assert "São Paulo" in out and "pk.test-key" not in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["geocode"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["geocode", "--provider", "google", "Sydney"])
    assert info.value.code == 2
    assert "invalid choice: 'google'" in capsys.readouterr().err
    assert main(["geocode", "--alternatives", "-1", "Sydney"]) == 2


def test_escape_sequences_in_names_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["geocode", "\x1b]0;owned\x07Sydney\x1b[2J", "Ho\u202ebart"])
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07Sydney\\x1b[2J" in out and "Ho\\u202ebart" in out
