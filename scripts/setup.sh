#!/usr/bin/env bash
# Creates .venv (once) and installs into it the local AWS stack (./sfnstack) and raincast with
# its dev dependencies, both editable.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.raincast-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ sfnstack/pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing sfnstack and raincast with their dependencies into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -e "./sfnstack[dev]" -e ".[dev]"
  touch "$stamp"
fi
