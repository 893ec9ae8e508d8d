#!/usr/bin/env bash
# Rewrites constraints.txt with the newest releases that pyproject.toml's ranges allow: a
# fresh venv gets sfnstack and raincast with their dev extras, unconstrained, and its
# `pip freeze` (less the two editable installs) becomes the file. Run the tests after
# (bash scripts/test.sh, which installs the new versions into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PYTHON" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --upgrade pip
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -e "./sfnstack[dev]" -e ".[dev]"
{
  sed -n '/^#/p' constraints.txt
  "$scratch/venv/bin/python" -m pip freeze --exclude-editable | grep -v '^#'
} > "$scratch/constraints.txt"
mv "$scratch/constraints.txt" constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
