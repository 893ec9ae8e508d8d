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
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ sfnstack/pyproject.toml -nt "$stamp" ] \
  || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing sfnstack and raincast with their dependencies into .venv"
  # constraints.txt: the versions the tests last passed with (see its header)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e "./sfnstack[dev]" -e ".[dev]"
  touch "$stamp"
fi
# Bytecode for the project's own sources, as pip writes it for the packages it installs (an
# editable install writes none). Without it, where PYTHONDONTWRITEBYTECODE is set, every
# process of a run (the runtime, its Lambda environments, the results writer: about ten)
# compiles the modules it imports, each time: 0.4-0.7 s of a 1,000-city `raincast run`
# (benchmarks/run_bench.py). Up-to-date files are skipped; sam build leaves bytecode out.
.venv/bin/python -m compileall -q -j 0 src sfnstack/src functions layers/model/python > /dev/null
