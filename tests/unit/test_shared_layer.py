"""The shared layer ships the raincast package as such (layers/shared/Makefile copies
src/raincast whole): everything the functions and the package import must be inside it or
be a dependency the layer installs, and nothing of the CLI (raincast_cli), the training
code or the local AWS stack (sfnstack) may be reached from it, or the function fails on AWS
with an ImportError that no local run shows (locally, all of them are on the path)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "raincast"
# Top-level packages a shipped module may import: the package itself, the model layer, the
# layer's requirements (layers/shared/requirements.txt) and what the python3.12 runtime has.
ALLOWED_TOP_LEVEL = {"raincast", "raincast_model", "numpy", "requests", "aws_lambda_powertools"}
RUNTIME_PROVIDED = {"boto3", "botocore"}
LOCAL_ONLY = {"raincast_cli", "sfnstack", "sklearn", "moto"}


def imports_of(file: Path) -> set[str]:
    """Absolute module names imported anywhere in the file (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def shipped_files() -> list[Path]:
    return [*SRC.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]


def test_the_layer_build_copies_the_package_not_a_module_list() -> None:
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    assert not re.search(r"^MODULES\s*:?=", makefile, re.MULTILINE)
    assert 'cp -R "$(SRC)" "$(ARTIFACTS_DIR)/python/raincast"' in makefile


def test_shipped_code_imports_only_what_the_layer_has() -> None:
    stdlib = set(sys.stdlib_module_names)
    wrong = {
        f"{file.relative_to(ROOT)} imports {name}"
        for file in shipped_files()
        for name in imports_of(file)
        if (top := name.split(".")[0]) not in stdlib
        and top not in ALLOWED_TOP_LEVEL | RUNTIME_PROVIDED
    }
    assert not wrong, sorted(wrong)


def test_shipped_modules_exist() -> None:
    """A ``raincast.x`` import must name a module or package inside src/raincast."""
    missing = set()
    for file in shipped_files():
        for name in imports_of(file):
            parts = name.split(".")
            if parts[0] != "raincast":
                continue
            path = SRC.joinpath(*parts[1:])
            if not (path.with_suffix(".py").exists() or (path / "__init__.py").exists()):
                missing.add(f"{file.relative_to(ROOT)} imports {name}")
    assert not missing, sorted(missing)


def test_the_layer_leaves_the_local_tools_out() -> None:
    names = {name.split(".")[0] for file in shipped_files() for name in imports_of(file)}
    assert not names & LOCAL_ONLY
    assert not (SRC / "cli.py").exists() and not (SRC / "commands").exists()
    assert not (SRC / "model" / "training.py").exists()
