import datetime as dt
import json
from pathlib import Path

import pytest
import responses

from raincast.weather.open_meteo import FORECAST_URL
from raincast_cli.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "open_meteo"


def test_readable_output_for_a_replay_day(capsys):
    assert main(["weather", "-33.95", "151.17", "--date", "2015-06-01"]) == 0
    out = capsys.readouterr().out
    assert "station Sydney Airport (SydneyAirport)" in out
    assert "min temperature      9.4 °C" in out
    assert "gust direction       247.5° (WSW)" in out
    assert "rain today (>1 mm)   no" in out


def test_json_output(capsys):
    assert main(["weather", "-33.8688", "151.2093", "--date", "2015-06-01", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["provider"] == "replay"
    assert result["observation"]["source"]["station"] == "Sydney"
    assert result["observation"]["min_temp"] == 10.1
    assert result["reason"] is None


def test_default_date_is_the_last_day_of_the_replay_data(capsys):
    assert main(["weather", "-33.8688", "151.2093", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["date"] == "2016-06-30"


def test_not_found_exits_1_with_the_reason(capsys):
    assert main(["weather", "-20", "125", "--date", "2015-06-01"]) == 1
    assert (
        "nearest station is Uluru (Yulara), 842 km away (radius 50 km)" in capsys.readouterr().out
    )
    assert main(["weather", "-20", "125", "--date", "2015-06-01", "--radius-km", "900"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["-33", "151", "--date", "2015-02-30"], "not a date"),
        (["-33", "151", "--date", "yesterday"], "not a date"),
        (["-95", "151"], "latitude must be between -90 and 90"),
        (["-33", "200"], "longitude must be between -180 and 180"),
        (["north", "151"], "latitude must be a number"),
        (["-33", "151", "--radius-km", "0"], "positive number of km"),
        (["-33", "151", "--provider", "darksky"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(["weather", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_radius_with_open_meteo_is_a_usage_error(capsys):
    assert main(["weather", "-33", "151", "--provider", "open-meteo", "--radius-km", "5"]) == 2
    assert "replay provider only" in capsys.readouterr().err


@responses.activate
def test_open_meteo_provider(capsys):
    body = json.loads((FIXTURES / "forecast_sydney_2026-11-20.json").read_text(encoding="utf-8"))
    responses.get(FORECAST_URL, json=body)
    args = ["weather", "-33.8688", "151.2093", "--date", "2026-11-20", "--provider", "open-meteo"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "model grid point -33.875, 151.25, Australia/Sydney" in out
    assert "cloud 3pm            8 oktas" in out


@responses.activate
def test_open_meteo_out_of_range_exits_1(capsys):
    body = json.loads((FIXTURES / "error_start_date_out_of_range.json").read_text())
    responses.get(FORECAST_URL, json=body, status=400)
    beyond = (dt.date.today() + dt.timedelta(days=40)).isoformat()  # past the 16-day forecast
    args = ["weather", "-33.8688", "151.2093", "--date", beyond, "--provider", "open-meteo"]
    assert main([*args, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["observation"] is None
    assert "out of allowed range" in result["reason"]


@responses.activate
def test_provider_failure_exits_2(capsys, monkeypatch):
    monkeypatch.setenv("RAINCAST_HTTP_MAX_ATTEMPTS", "2")  # retried, but not for long
    responses.get(FORECAST_URL, body="unavailable", status=503)
    args = ["weather", "-33.8688", "151.2093", "--date", "2026-11-20", "--provider", "open-meteo"]
    assert main(args) == 2
    assert "open-meteo: server error HTTP 503" in capsys.readouterr().err
    assert len(responses.calls) == 2
