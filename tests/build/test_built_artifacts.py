"""What `bash scripts/build.sh` (sam build) produces: the six functions and both layers,
with the right contents, and a built template that runs locally.

scripts/test.sh builds once and points RAINCAST_BUILD_DIR at the result; run alone, this
module builds into a temporary directory first (~15 s with pip's cache warm)."""

from __future__ import annotations

import compileall
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raincast_cli.template_checks import template_body

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {
    "PrepareFunction": "prepare",
    "GeocodeFunction": "geocode",
    "WeatherFunction": "weather",
    "PredictFunction": "predict",
    "StoreFunction": "store",
    "SummarizeFunction": "summarize",
}
LAYERS = {"SharedLayer", "ModelLayer"}
AARCH64 = 0xB7  # ELF e_machine


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    given = os.environ.get("RAINCAST_BUILD_DIR")
    if given:
        return Path(given)
    # Bytecode in the sources (what the tests leave there) must not reach the artifacts.
    compileall.compile_dir(ROOT / "layers" / "model" / "python", quiet=1)
    compileall.compile_dir(ROOT / "functions", quiet=1)
    target = tmp_path_factory.mktemp("sam-build") / "build"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build.sh")],
        env={**os.environ, "BUILD_DIR": str(target)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return target


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def elf_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def test_every_function_and_both_layers_are_built(build_dir: Path) -> None:
    built = {p.name for p in build_dir.iterdir() if p.is_dir()}
    assert built == set(FUNCTIONS) | LAYERS
    for logical_id, folder in FUNCTIONS.items():
        # The handler and nothing else: no requirements file, bytecode or tests.
        assert files_under(build_dir / logical_id) == {"app.py"}, logical_id
        source = ROOT / "functions" / folder / "app.py"
        assert (build_dir / logical_id / "app.py").read_bytes() == source.read_bytes()


def test_the_built_template_points_at_the_artifacts(build_dir: Path) -> None:
    resources = template_body(build_dir / "template.yaml")["Resources"]
    for logical_id in FUNCTIONS:
        assert resources[logical_id]["Properties"]["CodeUri"] == logical_id
    for logical_id in LAYERS:
        assert resources[logical_id]["Properties"]["ContentUri"] == logical_id


def test_the_model_layer_is_the_package_without_bytecode(build_dir: Path) -> None:
    source = ROOT / "layers" / "model" / "python" / "raincast_model"
    expected = {f"python/raincast_model/{name}" for name in files_under(source)}
    expected = {name for name in expected if "__pycache__" not in name}
    assert files_under(build_dir / "ModelLayer") == expected
    assert "python/raincast_model/rain_model.npz" in expected


def test_the_shared_layer_has_aarch64_wheels_for_python_3_12(build_dir: Path) -> None:
    python = build_dir / "SharedLayer" / "python"
    (numpy_info,) = python.glob("numpy-*.dist-info")
    version = tuple(int(part) for part in numpy_info.name.split("-")[1].split(".")[:2])
    assert version >= (2, 5), numpy_info.name  # a current numpy, not the manylinux2014 2.2
    assert "manylinux_2_28_aarch64" in (numpy_info / "WHEEL").read_text()
    (core,) = python.glob("numpy/_core/_multiarray_umath.*.so")
    assert core.name.endswith(".cpython-312-aarch64-linux-gnu.so")
    assert elf_machine(core) == AARCH64
    binaries = [p for p in python.rglob("*.so*") if p.is_file()]
    assert binaries and all(elf_machine(p) == AARCH64 for p in binaries)
    # The runtime provides the AWS SDK; the local stack and the CLI stay out.
    top_level = {p.name for p in python.iterdir()}
    assert not top_level & {"boto3", "botocore", "s3transfer", "sfnstack", "raincast_cli", "bin"}


def test_the_shared_layer_ships_the_raincast_package(build_dir: Path) -> None:
    shipped = files_under(build_dir / "SharedLayer" / "python" / "raincast")
    source = {f for f in files_under(ROOT / "src" / "raincast") if "__pycache__" not in f}
    if "data/replay_index.npz" in source:
        source.discard("data/weatherAUS.csv.gz")  # replay reads only its index
    assert shipped == source


def test_nothing_built_carries_bytecode(build_dir: Path) -> None:
    stray = [p for p in build_dir.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]
    assert not stray, stray[:5]


def test_the_built_template_runs_locally(build_dir: Path, tmp_path: Path) -> None:
    """What SAM users point their tools at: the aarch64 layer's compiled packages give way to
    this machine's builds, and the stack says so once."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "raincast_cli", "run", str(ROOT / "examples" / "cities-australia.csv"),
         "--template", str(build_dir / "template.yaml"), "--out", str(out), "--workers", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((out / "forecast.csv").open(encoding="utf-8")))
    assert len(rows) == 30 and {row["status"] for row in rows} == {"ok"}
    assert json.loads((out / "summary.json").read_text())["by_status"] == {"ok": 30}
    stand_in = [line for line in done.stderr.splitlines() if "own builds stand in" in line]
    assert len(stand_in) == 1 and "numpy" in stand_in[0] and "wrapt" in stand_in[0]
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if host != "3.12":
        assert done.stderr.count("functions declare Runtime python3.12; they run on this") == 1
