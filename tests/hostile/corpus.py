"""The hostile-input corpus (manifest.json + files/), and the cases too large or too odd to
commit, made at test time: nesting bombs, a 10 MB line, a million rows, 10,000 columns,
devices, pipes, stdin. Used by tests/unit/test_hostile_corpus.py (the parsing layer and
``raincast run``'s own code), tests/integration/test_hostile_run.py (``raincast run`` as a
subprocess) and tests/integration/test_hostile_serve.py (uploads to ``raincast serve``)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
MANIFEST = HERE / "manifest.json"


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    expect: dict[str, Any]
    surfaces: tuple[str, ...]
    end_to_end: str | bool  # "subprocess", "in-process" or False
    why: str = ""

    @property
    def refused(self) -> str | None:
        return self.expect.get("refused")

    @property
    def rows(self) -> Any:
        return self.expect.get("rows")

    @property
    def kind(self) -> str:
        return self.file.split(":", 1)[0] if ":" in self.file else "file"

    def __str__(self) -> str:
        return self.name


def cases(surface: str | None = None, end_to_end: str | None = None) -> list[Case]:
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    found = [
        Case(c["name"], c["file"], c["expect"], tuple(c["surfaces"]), c["end_to_end"], c["why"])
        for c in data["cases"]
    ]
    return [
        c
        for c in found
        if (surface is None or surface in c.surfaces)
        and (end_to_end is None or c.end_to_end == end_to_end)
    ]


# -- generated cases ------------------------------------------------------------------------

GENERATORS: dict[str, Callable[[], bytes]] = {
    "nesting-bomb-arrays.json": lambda: b"[" * 100_000 + b"]" * 100_000,
    "nesting-bomb-objects.json": lambda: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "line-10mb.txt": lambda: b"A" * (10 * 1024 * 1024) + b"\n",
    "rows-1m.txt": lambda: b"a\n" * 1_000_000,
    "cities-10001.csv": lambda: ("city\n" + "".join(f"Town{i}\n" for i in range(10_001))).encode(),
    "json-10001.json": lambda: json.dumps([f"Town{i}" for i in range(10_001)]).encode(),
    "columns-10000.csv": lambda: (
        "city," + ",".join(f"c{i}" for i in range(9_999)) + "\nSydney\n"
    ).encode(),
    "cities-10000.txt": lambda: "".join(f"Town{i}\n" for i in range(10_000)).encode(),
}


def content(case: Case) -> bytes | None:
    """The bytes of a case that is a file (committed or generated); None for the others
    (devices, pipes, stdin, a date)."""
    kind, sep, rest = case.file.partition(":")
    if not sep:
        return (FILES / case.file).read_bytes()
    if kind == "generated" and rest in GENERATORS:
        return GENERATORS[rest]()
    return None


def upload_name(case: Case) -> str:
    return case.file.rsplit(":", 1)[-1]


@dataclass
class Source:
    """How to hand a case to raincast: the CITIES argument, bytes for stdin, more arguments,
    and (for a subprocess) descriptors it must inherit."""

    path: str
    stdin: bytes | None = None
    args: list[str] = field(default_factory=list)
    pass_fds: tuple[int, ...] = ()


@contextmanager
def source(case: Case, tmp: Path) -> Iterator[Source]:
    kind, sep, rest = case.file.partition(":")
    if not sep:
        yield Source(str(FILES / case.file))
    elif kind == "generated" and rest in GENERATORS:
        path = tmp / rest
        path.write_bytes(GENERATORS[rest]())
        yield Source(str(path))
    elif kind == "device":
        yield Source(rest)
    elif kind == "stdin":
        yield Source("-", stdin=(FILES / rest).read_bytes() if rest else b"")
    elif kind == "date":
        date, _, name = rest.partition(":")
        yield Source(str(FILES / name), args=["--date", date])
    elif kind == "pipe":
        with _pipe((FILES / rest).read_bytes(), close=True) as fd:
            yield Source(f"/dev/fd/{fd}", pass_fds=(fd,))
    elif rest == "fifo-no-writer":
        fifo = tmp / "cities.fifo"
        os.mkfifo(fifo)
        yield Source(str(fifo))
    elif rest == "silent-pipe":
        with _pipe(b"Sydney\n", close=False) as fd:
            yield Source(f"/dev/fd/{fd}", pass_fds=(fd,))
    elif rest == "directory":
        yield Source(str(tmp))
    elif rest == "missing-file.csv":
        yield Source(str(tmp / "missing-file.csv"))
    else:
        raise ValueError(f"case {case.name}: unknown source {case.file!r}")


@contextmanager
def _pipe(data: bytes, close: bool) -> Iterator[int]:
    """A pipe's read end with ``data`` written to it by a thread (like ``<(cat FILE)``);
    ``close=False`` keeps the writer open and silent after the data."""
    reader, writer = os.pipe()
    done = threading.Event()

    def write() -> None:
        try:
            os.write(writer, data)
        finally:
            if close:
                os.close(writer)
            done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield reader
    finally:
        done.wait(10)
        if not close:
            os.close(writer)
        os.close(reader)
