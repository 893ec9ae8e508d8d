"""City lists: parse what users upload into one normalised list of rows.

Three formats are accepted:

* CSV with a header that has a ``city`` column (optional ``country``, ``lat``, ``lon``);
* plain text, one city per line (``#`` comments and blank lines are skipped);
* a JSON array of strings or of objects with a ``city`` key (optional ``country``,
  ``lat``, ``lon``).

Two kinds of problem are kept apart on purpose:

* a bad *file* (empty, binary, not UTF-8, no ``city`` column, absurdly long lines, too many
  rows, malformed JSON) raises ``CityListError`` with a message that says what is wrong and
  how to fix it, before anything runs;
* a bad *row* (an empty name, a latitude that is not a number) becomes a ``CityRow`` with
  ``error`` set: it is reported as that city's result and the other rows still run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Limits that keep one upload from turning into an accidental denial of service. A real
# city list is a few KB; these are far above that and far below what would hurt.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_LINE_CHARS = 1_000
MAX_CITY_CHARS = 200

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
    """Read and parse a city-list file. Raises ``CityListError`` for a bad file."""
    path = Path(path)
    if not path.exists():
        raise CityListError(f"{path}: no such file")
    if path.is_dir():
        raise CityListError(f"{path}: is a directory, expected a city-list file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CityListError(_too_large(str(path), size))
    return parse_city_list(path.read_bytes(), name=path.name)


def parse_city_list(data: bytes, name: str = "<input>") -> CityList:
    """Parse the bytes of a city list; the format comes from the name's extension, else
    from the content. Raises ``CityListError`` for a bad file."""
    text = _decode(data, name)
    fmt = _detect_format(text, name)
    if fmt == "json":
        rows = _parse_json(text, name)
    elif fmt == "csv":
        rows = _parse_csv(text, name)
    else:
        rows = _parse_text(text, name)
    if not rows:
        raise CityListError(f"{name}: no cities in the list (only blank lines or comments)")
    if len(rows) > MAX_ROWS:
        raise CityListError(
            f"{name}: {len(rows)} cities, more than the limit of {MAX_ROWS}; "
            "split the list into several files"
        )
    return CityList(rows=tuple(rows), format=fmt, source=name)


def parse_city_items(items: Any, name: str = "<inline>") -> CityList:
    """Parse an inline list (the state machine's ``{"cities": [...]}`` input)."""
    if not isinstance(items, list):
        raise CityListError(
            f"{name}: 'cities' must be a JSON array of names or objects, got {type(items).__name__}"
        )
    rows = [_row_from_json(i, item) for i, item in enumerate(items)]
    if not rows:
        raise CityListError(f"{name}: no cities in the list")
    if len(rows) > MAX_ROWS:
        raise CityListError(f"{name}: {len(rows)} cities, more than the limit of {MAX_ROWS}")
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


def _decode(data: bytes, name: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise CityListError(_too_large(name, len(data)))
    if not data.strip():
        raise CityListError(f"{name}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CityListError(f"{name}: the file is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in data[:8192]:
        raise CityListError(f"{name}: looks like a binary file (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_number = data[: exc.start].count(b"\n") + 1
        raise CityListError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line_number}); "
            "save the file as UTF-8"
        ) from None
    controls = sum(
        1 for ch in text[:8192] if unicodedata.category(ch) == "Cc" and ch not in "\r\n\t"
    )
    if controls > 8:
        raise CityListError(f"{name}: looks like a binary file (control characters), not text")
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise CityListError(
                f"{name}: line {number} is {len(line)} characters long (limit "
                f"{MAX_LINE_CHARS}); a city list has one short entry per line"
            )
    return text


def _detect_format(text: str, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    if suffix in (".txt", ".text", ".lst"):
        return "text"
    if text.lstrip().startswith("["):
        return "json"
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    header = [h.strip().lower() for h in next(csv.reader([first]), [])]
    return "csv" if CITY_COLUMN in header else "text"


# -- the three formats ------------------------------------------------------------------


def _parse_text(text: str, name: str) -> list[CityRow]:
    rows: list[CityRow] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rows.append(_make_row(len(rows), number, line, None, None, None))
    return rows


def _parse_csv(text: str, name: str) -> list[CityRow]:
    lines = text.splitlines()
    # Leading comment lines are allowed before the header (and skipped, like in text lists).
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CityListError(f"{name}: the file is empty") from None
    columns = [h.strip().lower() for h in header]
    if CITY_COLUMN not in columns:
        shown = ", ".join(repr(h) for h in header[:8]) or "nothing"
        raise CityListError(
            f"{name}: no 'city' column in the CSV header (found {shown}); the first row must "
            "name the columns: city[,country,lat,lon]"
        )
    position = {
        col: columns.index(col) for col in (CITY_COLUMN, *OPTIONAL_COLUMNS) if col in columns
    }
    rows: list[CityRow] = []
    try:
        for record in reader:
            number = start + reader.line_num
            if not any(cell.strip() for cell in record) or record[0].startswith("#"):
                continue
            if len(record) > len(columns):
                rows.append(
                    CityRow(
                        len(rows),
                        number,
                        ",".join(record)[:MAX_CITY_CHARS],
                        error=(
                            f"bad row: {len(record)} fields but the header has {len(columns)} "
                            "(quote names that contain commas)"
                        ),
                    )
                )
                continue

            def cell(col: str, record: list[str] = record) -> str | None:
                i = position.get(col)
                return record[i].strip() if i is not None and i < len(record) else None

            rows.append(
                _make_row(
                    len(rows), number, cell("city") or "", cell("country"), cell("lat"), cell("lon")
                )
            )
            if len(rows) > MAX_ROWS:
                break
    except csv.Error as exc:
        raise CityListError(
            f"{name}: malformed CSV near line {start + reader.line_num}: {exc}"
        ) from None
    return rows


def _parse_json(text: str, name: str) -> list[CityRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CityListError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
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
        city = lowered.get(CITY_COLUMN)
        if not isinstance(city, str):
            shown = json.dumps(item, ensure_ascii=False)[:80]
            return CityRow(index, None, shown, error=f"bad row: no 'city' name in {shown}")
        country = lowered.get("country")
        return _make_row(
            index,
            None,
            city,
            None if country is None else str(country),
            _json_scalar(lowered.get("lat")),
            _json_scalar(lowered.get("lon")),
        )
    shown = json.dumps(item, ensure_ascii=False)[:80]
    return CityRow(index, None, shown, error=f"bad row: expected a name or an object, got {shown}")


def _json_scalar(value: Any) -> str | None:
    return None if value is None else str(value)


# -- one row ----------------------------------------------------------------------------


def _make_row(
    index: int,
    line: int | None,
    city: str,
    country: str | None,
    lat: str | None,
    lon: str | None,
) -> CityRow:
    city = " ".join(city.split())
    country = " ".join(country.split()) if country else None
    where = f"line {line}" if line is not None else f"item {index + 1}"
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
    if lat in (None, ""):
        return CityRow(index, line, city, country or None)
    try:
        lat_value, lon_value = float(str(lat)), float(str(lon))
    except ValueError:
        return CityRow(
            index,
            line,
            city,
            country,
            error=f"bad row: lat/lon must be numbers, got {lat!r}, {lon!r}",
        )
    if not (math.isfinite(lat_value) and -90 <= lat_value <= 90):
        return CityRow(index, line, city, country, error=f"bad row: latitude {lat} out of range")
    if not (math.isfinite(lon_value) and -180 <= lon_value <= 180):
        return CityRow(index, line, city, country, error=f"bad row: longitude {lon} out of range")
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
