"""A built layer's packages as this machine can import them.

`sam build` installs a layer's dependencies for the function's platform (say CPython 3.12 on
Linux aarch64), so a compiled package in it (numpy, wrapt, ...) cannot be imported by the
Python running the local stack: it fails with an ImportError from the extension module.
Lambda's own emulators solve this with a container of the target platform; without one,
the next best thing is what the unbuilt template gets anyway: the host's build of the same
distribution. So for each import directory of a layer (``python/``, as /opt/python):

* a distribution (grouped by its ``*.dist-info/RECORD``) that ships a binary this
  interpreter cannot load (an extension-module tag it does not accept, or a shared object
  for another machine or object format) is *replaced* when every module it provides is
  importable from the host's own path, and *kept* (it will fail at import) otherwise;
* the function then sees a *view* of the directory: a cache directory of symlinks to every
  entry except the replaced distributions' ones, so the host's builds stand in and the
  layer's pure-Python code is still the layer's.

Everything else in the layer is used as built. This is generic: nothing here knows which
packages a project uses. No library does it (pip and importlib only look at wheel tags,
and an installed tree has none).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# "module.cpython-312-aarch64-linux-gnu.so", "module.abi3.so", "module.cp312-win_amd64.pyd"
_EXTENSION_TAG = re.compile(r"\.([A-Za-z0-9_-]+)\.(so|pyd)$")
_BINARY_NAME = re.compile(r"\.(so|pyd|dylib)(\.[0-9.]+)?$")


@dataclass
class LayerView:
    """What a function puts on its path for one import directory of a layer."""

    path: Path  # the directory itself, or a view of it without the replaced distributions
    replaced: list[str] = field(default_factory=list)  # host builds stand in for these
    unloadable: list[str] = field(default_factory=list)  # foreign builds the host lacks


@cache
def _host_binary_signature() -> tuple[bytes, bytes] | None:
    """(object format magic, machine) of this interpreter's executable, or None if unknown."""
    return _binary_signature(Path(sys.executable).resolve())


def _binary_signature(path: Path) -> tuple[bytes, bytes] | None:
    try:
        with path.open("rb") as file:
            head = file.read(20)
    except OSError:
        return None
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        return head[:4], head[18:20]  # e_machine (in the file's own byte order)
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return head[:4], head[4:8]  # Mach-O cputype (or a universal binary)
    if head[:2] == b"MZ":
        return b"MZ", b""
    return None


def is_foreign_binary(path: Path) -> bool:
    """Whether ``path`` is a compiled file this interpreter cannot load."""
    match = _EXTENSION_TAG.search(path.name)
    # An extension module tagged for another interpreter or platform ("abi3" alone says
    # nothing of the platform: the binary check below does).
    if (
        match
        and re.match(r"(cpython|cp|pypy)", match.group(1))
        and match.group(0) not in importlib.machinery.EXTENSION_SUFFIXES
    ):
        return True
    host = _host_binary_signature()
    signature = _binary_signature(path)
    return host is not None and signature is not None and signature != host


def _has_foreign_binary(entry: Path) -> bool:
    files = [entry] if entry.is_file() else entry.rglob("*")
    return any(
        _BINARY_NAME.search(file.name) and file.is_file() and is_foreign_binary(file)
        for file in files
    )


def _distributions(directory: Path, entries: dict[str, Path]) -> dict[str, set[str]]:
    """distribution name -> the top-level entries it installed (its RECORD), plus one group
    per entry no RECORD claims."""
    groups: dict[str, set[str]] = {}
    claimed: set[str] = set()
    for info in sorted(directory.glob("*.dist-info")):
        names = {info.name}
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
                top = line.split(",", 1)[0].split("/", 1)[0]
                if top in entries:
                    names.add(top)
        groups[info.name.split("-", 1)[0]] = names
        claimed |= names
    for name in entries:
        if name not in claimed:
            groups[name] = {name}
    return groups


def _module_name(entry: Path) -> str | None:
    """The top-level module an entry provides, if it is importable at all."""
    if entry.is_dir():
        return entry.name if entry.name.isidentifier() else None
    name = entry.name.split(".", 1)[0]
    importable = entry.suffix == ".py" or _BINARY_NAME.search(entry.name)
    return name if importable and name.isidentifier() else None


def _host_has(module: str, excluded: Path) -> bool:
    path = [p for p in sys.path if p and Path(p).resolve() != excluded]
    return importlib.machinery.PathFinder.find_spec(module, path) is not None


def view(directory: Path) -> LayerView:
    """The import directory ``directory`` of a built layer, as this interpreter can use it."""
    directory = directory.resolve()
    entries = {entry.name: entry for entry in directory.iterdir()}
    hidden: set[str] = set()
    replaced: list[str] = []
    unloadable: list[str] = []
    for distribution, names in sorted(_distributions(directory, entries).items()):
        if not any(_has_foreign_binary(entries[name]) for name in names if name in entries):
            continue
        modules = {m for name in names if name in entries if (m := _module_name(entries[name]))}
        if modules and all(_host_has(module, directory) for module in modules):
            hidden |= names
            replaced.append(distribution)
        else:
            unloadable.append(distribution)
    if not hidden:
        return LayerView(directory, [], unloadable)
    return LayerView(_symlink_view(directory, sorted(set(entries) - hidden)), replaced, unloadable)


def _symlink_view(directory: Path, names: list[str]) -> Path:
    """A directory of symlinks to ``directory``'s ``names`` (made once, shared by processes)."""
    digest = hashlib.sha256("\0".join([str(directory), *names]).encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / "sfnstack-layer-views"
    target = root / f"{directory.parent.name}-{digest}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    for name in names:
        os.symlink(directory / name, scratch / name)
    try:
        scratch.rename(target)
    except OSError:  # another process made the same view first
        shutil.rmtree(scratch, ignore_errors=True)
    return target
