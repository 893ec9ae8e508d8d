"""City-list parsing: the three formats, every kind of bad file, and per-row errors."""

from __future__ import annotations

import json

import pytest

from raincast.cities import (
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    MAX_ROWS,
    CityListError,
    load_city_list,
    parse_city_items,
    parse_city_list,
    slugify,
)


def cities(data: bytes | str, name: str = "list") -> list[tuple[str, str | None]]:
    raw = data.encode() if isinstance(data, str) else data
    return [(r.city, r.error) for r in parse_city_list(raw, name).rows]


# -- the three formats -------------------------------------------------------------------


def test_csv_with_optional_columns() -> None:
    parsed = parse_city_list(
        b'City,Country,lat,lon\nSydney,AU,,\n"Springfield, IL",US,,\nMy farm,AU,-33.5,150.25\n',
        "x.csv",
    )
    assert parsed.format == "csv"
    assert [r.city for r in parsed.rows] == ["Sydney", "Springfield, IL", "My farm"]
    assert parsed.rows[1].query == "Springfield, IL, US"
    assert (parsed.rows[2].lat, parsed.rows[2].lon) == (-33.5, 150.25)
    assert [r.line for r in parsed.rows] == [2, 3, 4]
    assert all(r.ok for r in parsed.rows)


def test_csv_detected_from_content_without_extension() -> None:
    assert parse_city_list(b"city\nPerth\n", "upload").format == "csv"


def test_text_skips_comments_and_blank_lines_and_keeps_commas() -> None:
    parsed = parse_city_list(
        "# my list\n\nSydney\n  Springfield, IL, US  \n#x\nKöln\n".encode(), "l.txt"
    )
    assert parsed.format == "text"
    assert [(r.city, r.line) for r in parsed.rows] == [
        ("Sydney", 3),
        ("Springfield, IL, US", 4),
        ("Köln", 6),
    ]
    assert [r.index for r in parsed.rows] == [0, 1, 2]


def test_json_array_of_strings_and_objects() -> None:
    data = json.dumps(
        ["Sydney", {"city": "Perth", "country": "AU"}, {"City": "X", "lat": 1, "lon": 2}]
    )
    parsed = parse_city_list(data.encode(), "l.json")
    assert parsed.format == "json"
    assert [(r.city, r.country, r.lat) for r in parsed.rows] == [
        ("Sydney", None, None),
        ("Perth", "AU", None),
        ("X", None, 1.0),
    ]


def test_utf8_bom_is_accepted() -> None:
    assert cities(b"\xef\xbb\xbfcity\nHobart\n", "l.csv") == [("Hobart", None)]


def test_inline_items() -> None:
    parsed = parse_city_items(["Darwin", {"city": "Cairns"}])
    assert [r.city for r in parsed.rows] == ["Darwin", "Cairns"]
    with pytest.raises(CityListError, match="must be a JSON array"):
        parse_city_items("Darwin")
    with pytest.raises(CityListError, match="no cities"):
        parse_city_items([])


# -- bad files: a clear error, nothing runs ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "l.csv", "empty"),
        (b"  \n\n ", "l.txt", "empty"),
        (b"# only comments\n\n", "l.txt", "no cities"),
        (b"city\n", "l.csv", "no cities"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "cities.csv", "binary"),
        (b"Sydney\n\xff\xfeM\x00", "l.txt", "binary"),
        (b"city\nS\xe3o Paulo\n", "l.csv", "not UTF-8 text .* line 2"),
        ("city\nSydney\n".encode("utf-16"), "l.csv", "UTF-16"),
        (b"name,country\nSydney,AU\n", "l.csv", "no 'city' column .*'name', 'country'"),
        (b"city\n" + b"A" * (MAX_LINE_CHARS + 1) + b"\n", "l.csv", "line 2 is .* characters long"),
        (b'["Sydney", ', "l.json", "not valid JSON \\(line 1"),
        (b'{"city": "Sydney"}', "l.json", "must be an array"),
        (b'city\n"Sydney\n', "l.csv", "malformed CSV near line 2"),
    ],
)
def test_bad_files_raise_a_clear_error(data: bytes, name: str, message: str) -> None:
    with pytest.raises(CityListError, match=message):
        parse_city_list(data, name)


def test_too_many_rows() -> None:
    data = "city\n" + "\n".join(f"Town{i}" for i in range(MAX_ROWS + 1))
    with pytest.raises(CityListError, match=f"more than the limit of {MAX_ROWS}"):
        parse_city_list(data.encode(), "l.csv")


def test_too_large_file(tmp_path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"Sydney\n" * (MAX_FILE_BYTES // 7 + 1))
    with pytest.raises(CityListError, match="too large"):
        load_city_list(path)


def test_missing_file_and_directory(tmp_path) -> None:
    with pytest.raises(CityListError, match="no such file"):
        load_city_list(tmp_path / "nope.csv")
    with pytest.raises(CityListError, match="is a directory"):
        load_city_list(tmp_path)


# -- bad rows: a per-row error, the rest run --------------------------------------------


def test_bad_rows_are_kept_with_a_reason() -> None:
    rows = cities(
        "city,country,lat,lon\n"
        "Sydney,AU,,\n"
        ",AU,,\n"  # empty name
        "Somewhere,,abc,1\n"  # not numbers
        "Pole,,95,0\n"  # out of range
        "Half,,10,\n"  # only one coordinate
        "1234,,,\n"  # not a name
        "Extra,AU,1,2,3\n"  # too many fields
        "Perth,AU,,\n",
        "l.csv",
    )
    assert rows[0] == ("Sydney", None)
    assert rows[-1] == ("Perth", None)
    reasons = [reason for _, reason in rows[1:-1]]
    assert all(r and r.startswith("bad row:") for r in reasons)
    assert "empty city name (line 3)" in reasons[0]
    assert "must be numbers" in reasons[1]
    assert "latitude 95 out of range" in reasons[2]
    assert "both lat and lon" in reasons[3]
    assert "not a place name" in reasons[4]
    assert "7 fields but the header has 4" not in reasons[5]
    assert "5 fields but the header has 4" in reasons[5]


def test_json_bad_items() -> None:
    rows = cities(json.dumps(["Sydney", 42, {"country": "AU"}, ""]), "l.json")
    assert rows[0] == ("Sydney", None)
    assert "expected a name or an object" in rows[1][1]
    assert "no 'city' name" in rows[2][1]
    assert "empty city name (item 4)" in rows[3][1]


def test_items_and_jsonl_round_trip() -> None:
    parsed = parse_city_list(b"city,country\nSydney,AU\n,AU\n", "l.csv")
    lines = [json.loads(line) for line in parsed.to_jsonl().decode().splitlines()]
    assert lines[0] == {
        "index": 0,
        "line": 2,
        "city": "Sydney",
        "country": "AU",
        "lat": None,
        "lon": None,
        "status": "ok",
        "reason": None,
    }
    assert lines[1]["status"] == "error" and lines[1]["reason"].startswith("bad row")


def test_slugify() -> None:
    assert slugify("São Paulo") == "sao-paulo"
    assert slugify("Springfield, IL, US") == "springfield-il-us"
    assert slugify("東京") == "city"
    assert len(slugify("x" * 100)) == 40
