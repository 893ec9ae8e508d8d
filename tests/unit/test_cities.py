"""City-list parsing: the three formats, every kind of bad file, and per-row errors."""

from __future__ import annotations

import io
import json
import os
import time

import pytest

from raincast.cities import (
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    MAX_ROWS,
    CityListError,
    load_city_list,
    parse_city_items,
    parse_city_list,
    read_city_list,
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
    assert "must be plain decimal numbers" in reasons[1]
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


# -- edge cases (issue 10) and other separators (issue 15) ---------------------------------


def test_json_nesting_bomb_is_a_clear_error() -> None:
    with pytest.raises(CityListError, match="nested too deeply"):
        parse_city_list(b"[" * 100_000 + b"]" * 100_000, "l.json")


def test_json_integer_too_long_to_convert_is_a_clear_error() -> None:
    data = b'[{"city": "X", "lat": ' + b"9" * 5000 + b', "lon": 1}]'
    with pytest.raises(CityListError, match="not valid JSON"):
        parse_city_list(data, "l.json")


def test_a_nul_byte_anywhere_is_detected() -> None:
    data = b"city\n" + b"Perth\n" * 2000 + b"Hob\x00art\n"
    assert len(data) > 8192
    with pytest.raises(CityListError, match=r"binary file .*NUL byte on line 2002"):
        parse_city_list(data, "l.csv")


def test_utf16_without_bom_says_so() -> None:
    with pytest.raises(CityListError, match="UTF-16"):
        parse_city_list("city\nSydney\n".encode("utf-16-le"), "l.csv")


def test_a_hash_row_in_a_csv_is_a_row_error_not_a_silent_drop() -> None:
    rows = cities("# preamble\ncity,country\nSydney,AU\n#Perth,AU\nHobart,AU\n", "l.csv")
    assert [c for c, _ in rows] == ["Sydney", "#Perth,AU", "Hobart"]
    assert rows[1][1] is not None and "starts with '#'" in rows[1][1]
    assert rows[0][1] is None and rows[2][1] is None


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        ("1_0", "20", "plain decimal numbers"),
        ("10", "2_0", "plain decimal numbers"),
        ("nan", "1", "plain decimal numbers"),
        ("NaN", "1", "plain decimal numbers"),
        ("Infinity", "1", "plain decimal numbers"),
        ("-inf", "1", "plain decimal numbers"),
        ("１０", "1", "plain decimal numbers"),  # noqa: RUF001 - full-width digits
        ("1e999", "1", "latitude 1e999 out of range"),
        ("-90.5", "1", "latitude -90.5 out of range"),
        ("10", "180.01", "longitude 180.01 out of range"),
    ],
)
def test_coordinates_are_parsed_strictly(lat: str, lon: str, message: str) -> None:
    rows = cities(f"city,lat,lon\nX,{lat},{lon}\n", "l.csv")
    assert rows[0][1] is not None and message in rows[0][1]


def test_good_coordinates_still_parse() -> None:
    parsed = parse_city_list(b"city,lat,lon\nA,-33.86,151.21\nB,+1e1,-.5\nC,10.,0\n", "l.csv")
    assert [(r.lat, r.lon) for r in parsed.rows] == [(-33.86, 151.21), (10.0, -0.5), (10.0, 0.0)]


def test_json_nan_and_infinity_coordinates_are_row_errors() -> None:
    data = b'[{"city": "A", "lat": NaN, "lon": 1}, {"city": "B", "lat": Infinity, "lon": 1},' \
           b' {"city": "C", "lat": true, "lon": 1}, {"city": "D", "lat": 1, "lon": 2}]'  # fmt: skip
    rows = cities(data, "l.json")
    assert all(reason and "plain decimal numbers" in reason for _, reason in rows[:3])
    assert rows[3] == ("D", None)


def test_a_long_minified_json_list_is_fine() -> None:
    data = json.dumps([f"Town{i}" for i in range(500)], separators=(",", ":")).encode()
    assert b"\n" not in data and len(data) > MAX_LINE_CHARS
    assert len(parse_city_list(data, "l.json")) == 500
    assert len(parse_city_list(data, "upload")) == 500  # detected from the content


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("\x1b[2J\x1b[31mRed", "control characters"),
        ("Evil\x1b]0;owned\x07", "control characters"),
        ("Syd\u202eyen", "bidirectional override"),
        ("Syd\u2066ney", "bidirectional override"),
    ],
)
def test_names_with_escapes_or_bidi_overrides_are_row_errors(name: str, problem: str) -> None:
    rows = parse_city_list(f"city\n{name}\nPerth\n".encode(), "l.csv").rows
    assert rows[0].error is not None and problem in rows[0].error
    assert rows[0].city.isprintable() and "\x1b" not in rows[0].city
    assert rows[1].ok


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ("city\tcountry\nSydney\tAU\nSpringfield, IL\tUS\n", "l.tsv"),
        ("city\tcountry\nSydney\tAU\nSpringfield, IL\tUS\n", "upload"),
        ("city\tcountry\nSydney\tAU\nSpringfield, IL\tUS\n", "l.csv"),
        ("city;country\nSydney;AU\nSpringfield, IL;US\n", "l.csv"),
        ("city;country\nSydney;AU\nSpringfield, IL;US\n", "upload"),
        ("city|country\nSydney|AU\nSpringfield, IL|US\n", "upload"),
        ('city,country\nSydney,AU\n"Springfield, IL",US\n', "upload"),
    ],
)
def test_tab_semicolon_and_comma_separated_lists(data: str, name: str) -> None:
    parsed = parse_city_list(data.encode(), name)
    assert parsed.format == "csv"
    assert [(r.city, r.country, r.error) for r in parsed.rows] == [
        ("Sydney", "AU", None),
        ("Springfield, IL", "US", None),
    ]


def test_one_column_csv_keeps_separators_inside_names() -> None:
    assert cities("city\nPerth; WA\nA; B\n", "l.csv") == [("Perth; WA", None), ("A; B", None)]


def test_crlf_and_bom() -> None:
    assert cities(b"\xef\xbb\xbfcity;country\r\nSydney;AU\r\n", "l.csv") == [("Sydney", None)]


# -- reading: once, bounded, never hanging ---------------------------------------------------


def test_stdin_is_read_once() -> None:
    data, name = read_city_list("-", stdin=io.BytesIO(b"Sydney\nPerth\n"))
    assert (data, name) == (b"Sydney\nPerth\n", "<stdin>")


def test_a_pipe_is_read_once_like_process_substitution() -> None:
    reader, writer = os.pipe()
    os.write(writer, b"city\nHobart\n")
    os.close(writer)
    try:
        data, name = read_city_list(f"/proc/self/fd/{reader}")
    finally:
        os.close(reader)
    assert data == b"city\nHobart\n"
    assert parse_city_list(data, name).rows[0].city == "Hobart"


def test_a_named_pipe_without_a_writer_does_not_hang(tmp_path) -> None:
    fifo = tmp_path / "cities.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(CityListError, match="the pipe gave no data"):
        read_city_list(fifo)
    assert time.monotonic() - started < 5


def test_a_pipe_whose_writer_never_finishes_times_out() -> None:
    reader, writer = os.pipe()
    os.write(writer, b"Sydney\n")  # and then nothing, but the writer stays open
    try:
        with pytest.raises(CityListError, match=r"no data for 0\.3 s"):
            read_city_list(f"/proc/self/fd/{reader}", timeout=0.3)
    finally:
        os.close(reader)
        os.close(writer)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_unbounded_devices_are_read_only_up_to_the_limit(device: str) -> None:
    with pytest.raises(CityListError, match="too large for a city list"):
        read_city_list(device)


def test_dev_null_is_empty() -> None:
    data, _ = read_city_list("/dev/null")
    with pytest.raises(CityListError, match="empty"):
        parse_city_list(data, "null")


def test_an_unreadable_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("city\nPerth\n")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as root")
    with pytest.raises(CityListError, match="cannot read it"):
        read_city_list(path)


def test_a_png_header_is_binary_not_utf16() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00"
    with pytest.raises(CityListError, match="looks like a binary file"):
        parse_city_list(png, "photo.csv")


def test_a_line_break_inside_a_quoted_name_is_whitespace() -> None:
    assert cities('city\n"Springfield,\nIL"\n', "l.csv") == [("Springfield, IL", None)]


def test_a_closed_stdin_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(CityListError, match="no standard input"):
        read_city_list("-")
