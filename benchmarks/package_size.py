"""Unzipped size of the predict function as Lambda sees it: its code plus its layers, each
built with the Makefile `sam build` runs (SharedLayer for CPython 3.12 on manylinux aarch64,
ModelLayer). The budget is 80 MB (Lambda's own limit is 250 MB).

    python benchmarks/package_size.py [--keep DIR] [--no-baseline]

The baseline, built next to it, is the layer as the Makefile built it before it accepted
manylinux_2_28 wheels (manylinux2014 only, which gets numpy 2.2). Needs the package index
(pip downloads the aarch64 wheels). Exit 1 over budget.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MB = 80.0


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


def mb(size: int) -> str:
    return f"{size / 1e6:7.1f} MB"


# The shared layer's platform before it accepted manylinux_2_28 (and so numpy's floor).
BASELINE_FLAGS = (
    "--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:"
)


def build_layer(name: str, logical_id: str, target: Path, *overrides: str) -> None:
    env = {**os.environ, "RAINCAST_ROOT": str(ROOT)}
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT / "layers" / name), f"build-{logical_id}",
         f"ARTIFACTS_DIR={target}", f"PYTHON={sys.executable}", *overrides],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def build_baseline_shared_layer(target: Path, scratch: Path) -> None:
    requirements = (ROOT / "layers" / "shared" / "requirements.txt").read_text()
    old = scratch / "requirements-baseline.txt"
    old.write_text(re.sub(r"(?m)^numpy>=.*$", "numpy>=1.26", requirements))
    build_layer(
        "shared", "SharedLayer", target, f"PLATFORM_FLAGS={BASELINE_FLAGS}", f"REQUIREMENTS={old}"
    )


def version_of(site: Path, distribution: str) -> str:
    found = sorted(site.glob(f"{distribution}-*.dist-info"))
    return found[0].name.removesuffix(".dist-info").split("-")[1] if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="build the shared layer here and keep it")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="raincast-layer-") as tmp:
        shared = (args.keep or Path(tmp)).resolve()
        model = Path(tmp) / "model-layer"
        build_layer("shared", "SharedLayer", shared)
        build_layer("model", "ModelLayer", model)
        parts = {
            "PredictFunction code (functions/predict/app.py)": tree_size(
                ROOT / "functions" / "predict" / "app.py"
            ),
            "SharedLayer (built for arm64 / py3.12)": tree_size(shared),
            "ModelLayer (built)": tree_size(model),
        }
        total = sum(parts.values())
        print("Predict function, unzipped, as deployed:")
        for name, size in parts.items():
            print(f"  {name:44s} {mb(size)}")
        print(f"  {'total':44s} {mb(total)}   (budget {BUDGET_MB:.0f} MB)")
        print(f"  numpy {version_of(shared / 'python', 'numpy')} in the shared layer")
        if not args.no_baseline:
            baseline = Path(tmp) / "baseline-shared-layer"
            build_baseline_shared_layer(baseline, Path(tmp))
            base_total = (
                total - parts["SharedLayer (built for arm64 / py3.12)"] + tree_size(baseline)
            )
            print(f"  baseline (manylinux2014 only): total {mb(base_total).strip()}, numpy "
                  f"{version_of(baseline / 'python', 'numpy')}")  # fmt: skip
        print("\nLargest parts of the shared layer:")
        python = shared / "python"
        sizes = sorted(((tree_size(p), p.name) for p in python.iterdir()), reverse=True)[:8]
        for size, name in sizes:
            print(f"  {name:44s} {mb(size)}")
    return 0 if total / 1e6 < BUDGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
