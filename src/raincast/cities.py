"""City lists: parse what users upload into one normalised list of rows.

Three formats are accepted:

* CSV with a header that has a ``city`` column (optional ``country``, ``lat``, ``lon``),
  separated by commas, semicolons, tabs or bars (``csv.Sniffer`` finds which); lines that
  start with ``#`` before the header are a preamble, but after it every line is a row (a
  ``#`` row is that city's error, never silently dropped);
* plain text, one city per line (``#`` comments and blank lines are skipped);
* a JSON array of strings or of objects with a ``city`` key (optional ``country``,
  ``lat``, ``lon``).

Two kinds of problem are kept apart on purpose:

* a bad *file* (empty, binary, not UTF-8, no ``city`` column, absurdly long lines, too many
  rows, malformed or too deeply nested JSON) raises ``CityListError`` with a message that
  says what is wrong and how to fix it, before anything runs;
* a bad *row* (an empty name, control characters in a name, a latitude that is not a plain
  number or out of range) becomes a ``CityRow`` with ``error`` set: it is reported as that
  city's result and the other rows still run.

Reading is bounded before parsing: ``read_city_list`` reads at most ``MAX_FILE_BYTES + 1``
bytes from any file, device or pipe, reads ``-`` (stdin) and pipes such as ``<(...)`` once,
never waits for a named pipe's writer to appear, and gives up on a pipe that stays silent
for ``READ_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import reprlib
import select
import stat
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from raincast.sanitize import printable

# Limits that keep one upload from turning into an accidental denial of service. A real
# city list is a few KB; these are far above that and far below what would hurt.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_LINE_CHARS = 1_000
MAX_CITY_CHARS = 200
# A pipe that delivers nothing for this long is given up on (its writer is stuck).
READ_TIMEOUT_SECONDS = 30.0
# csv.Sniffer looks at this much of the file: its quote-guessing regex is quadratic in the
# worst case, and the header and a few rows are all it needs.
SNIFF_SAMPLE_CHARS = 4096
SNIFF_SAMPLE_LINES = 10
SNIFF_DELIMITERS = ",;\t|"
STDIN = "-"

CITY_COLUMN = "city"
OPTIONAL_COLUMNS = ("country", "lat", "lon")
FORMATS = ("csv", "text", "json")


class CityListError(ValueError):
    """The file as a whole is not a usable city list. Nothing should run."""


@dataclass(frozen=True)
class CityRow:
    index: int  # 0-based position among the list's rows (stable: it names the result key)
    line: int | None  # 1-based line in the source file, for messages (None for JSON items)
    city: str
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    error: str | None = None  # set when this row cannot be forecast

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def query(self) -> str:
        """What the geocoder is asked: ``"Springfield, US"`` when a country is given."""
        return f"{self.city}, {self.country}" if self.country else self.city

    def to_item(self) -> dict[str, Any]:
        """The JSON item that travels through the state machine (one per city)."""
        return {
            "index": self.index,
            "line": self.line,
            "city": self.city,
            "country": self.country,
            "lat": self.lat,
            "lon": self.lon,
            "status": "error" if self.error else "ok",
            "reason": self.error,
        }


@dataclass(frozen=True)
class CityList:
    rows: tuple[CityRow, ...]
    format: str  # one of FORMATS
    source: str  # file name or "<inline>", for messages

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def valid_rows(self) -> list[CityRow]:
        return [r for r in self.rows if r.ok]

    @property
    def invalid_rows(self) -> list[CityRow]:
        return [r for r in self.rows if not r.ok]

    def to_items(self) -> list[dict[str, Any]]:
        return [r.to_item() for r in self.rows]

    def to_jsonl(self) -> bytes:
        """The normalised list as JSON Lines: what the Distributed Map's ItemReader reads."""
        lines = (json.dumps(item, ensure_ascii=False) for item in self.to_items())
        return ("\n".join(lines) + "\n").encode("utf-8")


def load_city_list(path: str | Path) -> CityList:
    """Read and parse a city-list file (``-``: stdin). Raises ``CityListError`` for a bad
    file."""
    data, name = read_city_list(path)
    return parse_city_list(data, name=name)


def read_city_list(
    path: str | Path,
    *,
    stdin: BinaryIO | None = None,
    timeout: float = READ_TIMEOUT_SECONDS,
) -> tuple[bytes, str]:
    """The bytes of a city list and the name to show for it, read once and bounded: at most
    ``MAX_FILE_BYTES + 1`` bytes are read from anything (a regular file, ``/dev/zero``, a
    pipe). ``-`` is stdin. A named pipe is opened without waiting for a writer (none: it
    reads as empty) and a pipe silent for ``timeout`` seconds is refused."""
    if str(path) == STDIN:
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise CityListError("<stdin>: there is no standard input to read the list from")
        return _read_stream(stream, "<stdin>", timeout), "<stdin>"
    path = Path(path)
    shown = printable(str(path))
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CityListError(f"{shown}: no such file") from None
    except OSError as exc:
        raise CityListError(f"{shown}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CityListError(f"{shown}: is a directory, expected a city-list file")
    if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
        raise CityListError(_too_large(shown, info.st_size))
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer to turn up.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CityListError(f"{shown}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb", buffering=0) as stream:
        data = _read_stream(stream, shown, None if stat.S_ISREG(info.st_mode) else timeout)
    if not data and stat.S_ISFIFO(info.st_mode):
        raise CityListError(
            f"{shown}: the pipe gave no data (nothing was writing to it when raincast read it)"
        )
    return data, path.name


def _wait_readable(fd: int, name: str, timeout: float | None) -> None:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        raise CityListError(
            f"{name}: no data for {timeout:g} s (is whatever writes to this pipe stuck?)"
        )


def _read_stream(stream: BinaryIO, name: str, timeout: float | None) -> bytes:
    """Up to ``MAX_FILE_BYTES + 1`` bytes; a pipe (not a terminal) that stays silent for
    ``timeout`` seconds is refused."""
    limit = MAX_FILE_BYTES + 1
    try:
        fd: int | None = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None  # an in-memory stream
    if fd is None or os.isatty(fd):
        timeout = None
    # A non-blocking descriptor (a path we opened) is read first and waited on when it has
    # nothing yet: a named pipe nobody writes to reads as EOF at once, whereas select()
    # would wait for a writer. A blocking one (stdin) is waited on before each read.
    blocking = fd is None or os.get_blocking(fd)
    chunks: list[bytes] = []
    total = 0
    try:
        while total < limit:
            if fd is None:
                chunk = stream.read(limit - total)
            else:
                if blocking and timeout is not None:
                    _wait_readable(fd, name, timeout)
                try:
                    chunk = os.read(fd, min(1 << 16, limit - total))
                except BlockingIOError:  # a writer, but no data yet
                    _wait_readable(fd, name, timeout)
                    continue
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise CityListError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise CityListError(
            f"{name}: more than {MAX_FILE_BYTES // 1024 // 1024} MB, too large for a city list "
            "(an endless stream?)"
        )
    return data


def parse_city_list(data: bytes, name: str = "<input>") -> CityList:
    """Parse the bytes of a city list; the format comes from the name's extension, else
    from the content. Raises ``CityListError`` for a bad file."""
    name = printable(name)
    text = _decode(data, name)
    fmt, delimiter = _detect_format(text, name)
    if fmt == "json":
        rows = _parse_json(text, name)
    else:
        _check_line_lengths(text, name)
        rows = _parse_csv(text, name, delimiter) if fmt == "csv" else _parse_text(text, name)
    if not rows:
        raise CityListError(f"{name}: no cities in the list (only blank lines or comments)")
    if len(rows) > MAX_ROWS:
        raise CityListError(_too_many(name))
    return CityList(rows=tuple(rows), format=fmt, source=name)


def parse_city_items(items: Any, name: str = "<inline>") -> CityList:
    """Parse an inline list (the state machine's ``{"cities": [...]}`` input)."""
    if not isinstance(items, list):
        raise CityListError(
            f"{name}: 'cities' must be a JSON array of names or objects, got {type(items).__name__}"
        )
    rows = [_row_from_json(i, item) for i, item in enumerate(items[: MAX_ROWS + 1])]
    if not rows:
        raise CityListError(f"{name}: no cities in the list")
    if len(rows) > MAX_ROWS:
        raise CityListError(_too_many(name))
    return CityList(rows=tuple(rows), format="json", source=name)


def slugify(text: str, max_length: int = 40) -> str:
    """An ASCII, lower-case, dash-separated form of a name, for S3 keys ("São Paulo" ->
    "sao-paulo"). Never empty."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:max_length].strip("-")
    return slug or "city"


# -- decoding and format detection ------------------------------------------------------


def _too_large(name: str, size: int) -> str:
    return (
        f"{name}: {size / 1024 / 1024:.1f} MB is too large for a city list "
        f"(limit {MAX_FILE_BYTES // 1024 // 1024} MB)"
    )


def _too_many(name: str) -> str:
    return f"{name}: more than the limit of {MAX_ROWS} cities; split the list into several files"


# Control characters other than tab, CR and LF: a few may be typos, many mean binary data.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_CONTROL_CHARACTERS = 8


def _decode(data: bytes, name: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise CityListError(_too_large(name, len(data)))
    if not data.strip():
        raise CityListError(f"{name}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CityListError(f"{name}: the file is UTF-16 encoded; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        if _looks_utf16(data[:4096]):
            raise CityListError(
                f"{name}: looks UTF-16 encoded (NUL bytes between the letters); save it as UTF-8"
            )
        line = data[:nul].count(b"\n") + 1
        raise CityListError(
            f"{name}: looks like a binary file (a NUL byte on line {line}), not text"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_number = data[: exc.start].count(b"\n") + 1
        raise CityListError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line_number}); "
            "save the file as UTF-8"
        ) from None
    if len(_CONTROL.findall(text, 0, 1 << 16)) > MAX_CONTROL_CHARACTERS:
        raise CityListError(f"{name}: looks like a binary file (control characters), not text")
    return text


def _looks_utf16(sample: bytes) -> bool:
    """Mostly-ASCII text in UTF-16 without a BOM: every other byte is NUL, the others not."""
    even, odd = sample[0::2], sample[1::2]
    for zeros, letters in ((odd, even), (even, odd)):
        if zeros and zeros.count(0) >= 0.9 * len(zeros) and letters.count(0) <= 0.1 * len(letters):
            return True
    return False


def _check_line_lengths(text: str, name: str) -> None:
    """Line-based formats only (a minified JSON list is one long line, and fine)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise CityListError(
                f"{name}: line {number} is {len(line)} characters long (limit "
                f"{MAX_LINE_CHARS}); a city list has one short entry per line"
            )


def _detect_format(text: str, name: str) -> tuple[str, str]:
    """The format and, for CSV, the delimiter (``csv.Sniffer`` on the first lines)."""
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json", ","
    if suffix in (".txt", ".text", ".lst"):
        return "text", ","
    if suffix not in (".csv", ".tsv") and text.lstrip().startswith(("[", "{")):
        return "json", ","
    lines = _after_preamble(text.splitlines())[1]
    header_line = lines[0] if lines else ""
    delimiter = _sniff_delimiter(lines, "\t" if suffix == ".tsv" else ",")
    if suffix in (".csv", ".tsv"):
        return "csv", delimiter
    header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=delimiter), [])]
    return ("csv" if CITY_COLUMN in header else "text"), delimiter


def _sniff_delimiter(lines: list[str], default: str) -> str:
    sample = "\n".join(line[:MAX_LINE_CHARS] for line in lines[:SNIFF_SAMPLE_LINES])
    try:
        delimiter = csv.Sniffer().sniff(sample[:SNIFF_SAMPLE_CHARS], SNIFF_DELIMITERS).delimiter
    except csv.Error:  # one column (or too little to tell)
        return default
    # The header names the columns: a delimiter it does not contain separates nothing there
    # (say, one ``city`` column whose names contain ';').
    return delimiter if lines and delimiter in lines[0] else default


def _after_preamble(lines: list[str]) -> tuple[int, list[str]]:
    """Blank and ``#`` lines before a CSV header are a preamble (a description of the list)."""
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    return start, lines[start:]


# -- the three formats ------------------------------------------------------------------


def _parse_text(text: str, name: str) -> list[CityRow]:
    rows: list[CityRow] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rows.append(_make_row(len(rows), number, line, None, None, None))
        if len(rows) > MAX_ROWS:
            break
    return rows


def _parse_csv(text: str, name: str, delimiter: str = ",") -> list[CityRow]:
    start, lines = _after_preamble(text.splitlines())
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CityListError(f"{name}: the file is empty") from None
    except csv.Error as exc:
        raise CityListError(f"{name}: malformed CSV header on line {start + 1}: {exc}") from None
    columns = [h.strip().lower() for h in header]
    if CITY_COLUMN not in columns:
        shown = ", ".join(repr(printable(h)) for h in header[:8]) or "nothing"
        more = f" and {len(header) - 8} more" if len(header) > 8 else ""
        raise CityListError(
            f"{name}: no 'city' column in the CSV header (found {shown}{more}); the first row "
            "must name the columns: city[,country,lat,lon], separated by commas, semicolons "
            "or tabs"
        )
    position = {
        col: columns.index(col) for col in (CITY_COLUMN, *OPTIONAL_COLUMNS) if col in columns
    }
    rows: list[CityRow] = []
    try:
        for record in reader:
            number = start + reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # a blank line holds no city
            reason: str | None = None  # why the row is not a city, if it is not
            if record[0].lstrip().startswith("#"):
                reason = (
                    f"bad row: line {number} starts with '#'; a CSV list has no comment "
                    "rows (delete the row to leave the city out)"
                )
            elif len(record) > len(columns):
                reason = (
                    f"bad row: {len(record)} fields but the header has {len(columns)} "
                    "(quote names that contain the separator)"
                )
            if reason is not None:  # the row as written (printable, cut) names the city
                text = printable(delimiter.join(record))[:MAX_CITY_CHARS]
                rows.append(CityRow(len(rows), number, text, error=reason))
            else:

                def cell(col: str, record: list[str] = record) -> str | None:
                    i = position.get(col)
                    return record[i].strip() if i is not None and i < len(record) else None

                rows.append(
                    _make_row(
                        len(rows),
                        number,
                        cell("city") or "",
                        cell("country"),
                        cell("lat"),
                        cell("lon"),
                    )
                )
            if len(rows) > MAX_ROWS:
                break
    except csv.Error as exc:
        raise CityListError(
            f"{name}: malformed CSV near line {start + reader.line_num}: {exc}"
        ) from None
    return rows


# What a bad JSON item looks like in its error: nested values cut short, long ones clipped.
_shown = reprlib.Repr()
_shown.maxlevel, _shown.maxstring, _shown.maxother, _shown.maxlist, _shown.maxdict = 2, 60, 60, 4, 4


def _parse_json(text: str, name: str) -> list[CityRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CityListError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise CityListError(
            f"{name}: the JSON is nested too deeply; a city list is an array of names or objects"
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise CityListError(f"{name}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("cities"), list):
        data = data["cities"]
    if not isinstance(data, list):
        raise CityListError(
            f"{name}: a JSON city list must be an array of names or objects "
            f'(e.g. ["Sydney", {{"city": "Perth", "country": "AU"}}]), got {type(data).__name__}'
        )
    return [_row_from_json(i, item) for i, item in enumerate(data[: MAX_ROWS + 1])]


def _row_from_json(index: int, item: Any) -> CityRow:
    if isinstance(item, str):
        return _make_row(index, None, item, None, None, None)
    if isinstance(item, dict):
        lowered = {str(k).lower(): v for k, v in item.items()}
        city, country = lowered.get(CITY_COLUMN), lowered.get("country")
        if not isinstance(city, str):
            shown = printable(_shown.repr(item))
            return CityRow(index, None, shown, error=f"bad row: no 'city' name in {shown}")
        if country is not None and not isinstance(country, str):
            shown = printable(_shown.repr(country))
            return CityRow(
                index, None, printable(city)[:MAX_CITY_CHARS],
                error=f"bad row: the country must be text, got {shown}",
            )  # fmt: skip
        return _make_row(
            index,
            None,
            city,
            country,
            _json_scalar(lowered.get("lat")),
            _json_scalar(lowered.get("lon")),
        )
    shown = printable(_shown.repr(item))
    return CityRow(index, None, shown, error=f"bad row: expected a name or an object, got {shown}")


def _json_scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return printable(_shown.repr(value))  # not a number: reported by _make_row
    return str(value)


# -- one row ----------------------------------------------------------------------------

# A plain decimal number, as people write coordinates. Python's float() also takes "1_0",
# "nan", "inf", " 1 " and full-width digits; none of those is a coordinate.
_COORDINATE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Characters that make a name display as something else: bidi embeddings, overrides and
# isolates (the "Trojan Source" set).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe_text(text: str) -> str | None:
    """Why ``text`` cannot be a name, if it holds control or bidi override characters."""
    if text.isprintable():
        return None
    # Tabs and line breaks (a quoted CSV name over two lines) are whitespace, collapsed later.
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        return "control characters (a terminal escape sequence?)"
    if any(ch in _BIDI_CONTROLS for ch in text):
        return "bidirectional override characters"
    return None


def _coordinate(value: str) -> float | None:
    return float(value) if _COORDINATE.fullmatch(value) else None


def _make_row(
    index: int,
    line: int | None,
    city: str,
    country: str | None,
    lat: str | None,
    lon: str | None,
) -> CityRow:
    where = f"line {line}" if line is not None else f"item {index + 1}"
    for label, text in (("name", city), ("country", country or "")):
        problem = _unsafe_text(text)
        if problem:
            return CityRow(
                index,
                line,
                printable(city)[:MAX_CITY_CHARS],
                printable(country) if country else None,
                error=f"bad row: the {label} contains {problem} ({where})",
            )
    city = " ".join(city.split())
    country = " ".join(country.split()) if country else None
    if not city:
        return CityRow(index, line, "", country, error=f"bad row: empty city name ({where})")
    if len(city) > MAX_CITY_CHARS:
        return CityRow(
            index,
            line,
            city[:MAX_CITY_CHARS],
            country,
            error=f"bad row: city name longer than {MAX_CITY_CHARS} characters ({where})",
        )
    if not any(ch.isalpha() for ch in city):
        return CityRow(index, line, city, country, error=f"bad row: {city!r} is not a place name")
    if (lat in (None, "")) != (lon in (None, "")):
        return CityRow(
            index, line, city, country, error="bad row: give both lat and lon, or neither"
        )
    if lat in (None, "") or lon in (None, ""):
        return CityRow(index, line, city, country or None)
    lat_value, lon_value = _coordinate(lat), _coordinate(lon)
    if lat_value is None or lon_value is None:
        return CityRow(
            index,
            line,
            city,
            country,
            error=(
                f"bad row: lat/lon must be plain decimal numbers, got {printable(lat)!r}, "
                f"{printable(lon)!r}"
            ),
        )
    if not (math.isfinite(lat_value) and -90 <= lat_value <= 90):
        return CityRow(
            index, line, city, country, error=f"bad row: latitude {lat} out of range (-90 to 90)"
        )
    if not (math.isfinite(lon_value) and -180 <= lon_value <= 180):
        return CityRow(
            index,
            line,
            city,
            country,
            error=f"bad row: longitude {lon} out of range (-180 to 180)",
        )
    return CityRow(index, line, city, country or None, lat_value, lon_value)


def rows_from_items(items: Iterable[dict[str, Any]]) -> list[CityRow]:
    """The inverse of ``CityRow.to_item`` (for tests and the summary step)."""
    return [
        CityRow(
            index=int(item["index"]),
            line=item.get("line"),
            city=str(item.get("city", "")),
            country=item.get("country"),
            lat=item.get("lat"),
            lon=item.get("lon"),
            error=item.get("reason") if item.get("status") == "error" else None,
        )
        for item in items
    ]
