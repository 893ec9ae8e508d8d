#!/usr/bin/env bash
# The whole test suite: lint, then the tests. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The aws CLI, for raincast serve's end-to-end tests: its own venv, because awscli pins
# botocore to an exact version that need not match boto3's in .venv.
if [ ! -x .tools/awscli/bin/aws ]; then
  echo "setup: installing the aws CLI into .tools/awscli"
  "${PYTHON:-python3}" -m venv .tools/awscli
  .tools/awscli/bin/python -m pip install --quiet --disable-pip-version-check awscli
fi
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
