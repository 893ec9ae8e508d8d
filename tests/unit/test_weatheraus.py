import datetime as dt
import gzip

import numpy as np
import pytest

from raincast.weather.weatheraus import ObservationFileError, read_observations


def test_shipped_observations_cover_49_stations():
    table = read_observations()
    assert len(table) == 124_907
    assert np.unique(table.locations).size == 49
    assert str(table.dates.min()) == "2007-11-01"
    assert str(table.dates.max()) == "2016-06-30"


def test_first_row_converted_to_observation_units():
    obs = read_observations().observation(0)
    assert obs.date == dt.date(2008, 12, 1)
    assert obs.min_temp == 13.4
    assert obs.wind_gust_dir == 270.0  # "W"
    assert obs.wind_dir_3pm == 292.5  # "WNW"
    assert obs.sunshine is None  # "NA"
    assert obs.rain_today is False  # 0.6 mm is not rain by the Bureau's 1 mm rule


def test_gzipped_and_plain_files_read_alike(tmp_path):
    text = (
        "Date,Location,Rainfall,Humidity3pm,RainTomorrow\n"
        "2020-01-01,Sydney,3.2,80,Yes\n"
        "2020-01-02,Sydney,NA,45,No\n"
    )
    plain = tmp_path / "obs.csv"
    plain.write_text(text)
    packed = tmp_path / "obs.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        table = read_observations(path)
        assert list(table.locations) == ["Sydney", "Sydney"]
        assert table.values["rainfall"][0] == 3.2
        assert np.isnan(table.values["rainfall"][1])
        assert np.isnan(table.values["sunshine"]).all()  # absent column reads as missing
        assert list(table.rain_tomorrow) == [1.0, 0.0]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"Location,Rainfall\nSydney,1\n", "missing column(s) Date"),
        (b"Date,Location,Rainfall\n2020-13-01,Sydney,1\n", "bad date"),
        (b"Date,Location,Rainfall\n2020-01-01,Sydney,lots\n", "not a number"),
        (b"Date,Location\n\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ObservationFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_observations(path)
