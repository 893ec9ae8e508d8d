"""Size of a fresh install of raincast (what `pip install` of the project brings, without
the dev extras), side by side with a baseline commit (default 101953e: main before the split
into raincast + sfnstack, when the local stack depended on moto[server]).

    python benchmarks/install_size.py [--baseline COMMIT] [--top 12]

Each side gets a new venv (pip's cache makes the second run fast); the size is the venv's
site-packages on disk, and the largest distributions are listed for both. Needs the package
index (or pip's cache) for the dependencies.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def export_commit(commit: str, target: Path) -> Path:
    """The commit's files (git archive), not a checkout: no worktree to clean up."""
    archive = target.with_suffix(".tar")
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), commit], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def export_worktree(target: Path) -> Path:
    """The files git tracks, as they are now (pip builds in the source folder: a copy keeps
    build/ and *.egg-info out of the repository)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def install(sources: list[Path], env_dir: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *(str(s) for s in sources)],
        check=True,
    )  # fmt: skip
    (site,) = (env_dir / "lib").glob("python3*/site-packages")
    return site


def distribution_sizes(site: Path) -> list[tuple[int, str]]:
    sizes = []
    for dist in importlib.metadata.distributions(path=[str(site)]):
        files = [site / f for f in (dist.files or [])]
        size = sum(f.stat().st_size for f in files if f.is_file())
        sizes.append((size, dist.metadata["Name"]))
    return sorted(sizes, reverse=True)


def mb(size: int) -> str:
    return f"{size / 1e6:7.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="101953e")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="raincast-install-") as tmp:
        tmp_dir = Path(tmp)
        old = export_commit(args.baseline, tmp_dir / "baseline")
        new = export_worktree(tmp_dir / "now")
        sides = {
            f"baseline {args.baseline} (pip install .)": install([old], tmp_dir / "venv-old"),
            "now (pip install ./sfnstack .)": install([new / "sfnstack", new], tmp_dir / "venv-new"),
        }  # fmt: skip
        totals = {}
        pip_size = 0
        for label, site in sides.items():
            totals[label] = tree_size(site)
            pip_size = sum(
                size for size, name in distribution_sizes(site) if name in ("pip", "setuptools")
            )
            print(f"{label}: site-packages {mb(totals[label]).strip()}")
            for size, name in distribution_sizes(site)[: args.top]:
                print(f"  {name:36s} {mb(size)}")
        (before, after) = totals.values()
        print(f"\nfresh install: {mb(before).strip()} -> {mb(after).strip()} "
              f"({(before - after) / 1e6:.1f} MB less; pip and setuptools, the venv's own, "
              f"are {pip_size / 1e6:.1f} MB of each)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
