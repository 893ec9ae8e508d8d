"""The shared layer ships only part of src/raincast (layers/shared/Makefile's MODULES): every
raincast module that the shipped code or the functions import must be in it, or the
function fails on AWS with an ImportError that no local run shows (locally, all of
src/raincast is on the path)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "raincast"
# Shipped although not under raincast/: the training code is removed from the layer.
REMOVED_FROM_LAYER = {"raincast.model.training"}


def shipped_modules() -> set[str]:
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    (entries,) = re.findall(r"^MODULES := (.+)$", makefile, re.MULTILINE)
    modules = {"raincast"}
    for entry in entries.split():
        path = SRC / entry
        if path.is_dir():
            for file in path.rglob("*.py"):
                parts = file.relative_to(SRC).with_suffix("").parts
                modules.add(".".join(("raincast", *parts)).removesuffix(".__init__"))
        elif path.suffix == ".py" and entry != "__init__.py":
            modules.add(f"raincast.{path.stem}")
    return modules - REMOVED_FROM_LAYER


def raincast_imports(file: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "raincast":
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "raincast")
    return found


def test_everything_the_shipped_code_imports_is_shipped() -> None:
    shipped = shipped_modules()
    files = list((ROOT / "functions").rglob("*.py"))
    for module in shipped:
        package = SRC.joinpath(*module.split(".")[1:], "__init__.py")
        files.append(
            package if package.exists() else SRC.joinpath(*module.split(".")[1:]).with_suffix(".py")
        )
    missing = {
        f"{file.relative_to(ROOT)} imports {name}"
        for file in files
        for name in raincast_imports(file)
        if name not in shipped
    }
    assert not missing, sorted(missing)


def test_the_layer_leaves_the_local_tools_out() -> None:
    shipped = shipped_modules()
    assert "raincast.http" in shipped  # the online providers' client
    for local_only in ("raincast.cli", "raincast.runtime", "raincast.serve", "raincast.commands"):
        assert not any(m == local_only or m.startswith(local_only + ".") for m in shipped)
