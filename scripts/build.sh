#!/usr/bin/env bash
# Builds the deployable artifacts into .aws-sam/build (`sam build`): the six functions
# (functions/Makefile), SharedLayer (layers/shared/Makefile: src/raincast plus its
# dependencies as manylinux aarch64 / CPython 3.12 wheels) and ModelLayer
# (layers/model/Makefile), and .aws-sam/build/template.yaml pointing at them. Needs only
# Python 3.11+ and make: every build is a makefile build, so no python3.12 is needed here.
# Then deploy with `.tools/bin/sam deploy` (samconfig.toml has the defaults).
#
#   bash scripts/build.sh [sam build options...]      (BUILD_DIR=... to build elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
command -v make > /dev/null || { echo "build: needs make (e.g. apt-get install make)" >&2; exit 2; }
# aws-sam-cli lives in its own venv (.tools/); scripts/test.sh installs the same one, at
# the version scripts/tool_versions.sh pins.
source scripts/tool_versions.sh
if [ ! -x .tools/bin/sam ]; then
  echo "build: installing $SAM_CLI into .tools"
  [ -x .tools/bin/python ] || "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet --disable-pip-version-check "$SAM_CLI"
fi
# The layer Makefile runs $(PYTHON) -m pip to fetch the aarch64 wheels: the tools venv's
# interpreter has a pip of its own, whatever the system Python allows. pip before 25 checks
# a wheel's Requires-Python against this interpreter instead of --python-version 3.12, so on
# a 3.11 host it would quietly pick an older numpy (2.4, not 2.5, which needs 3.12).
if ! .tools/bin/python -c 'import sys, pip; sys.exit(int(pip.__version__.split(".")[0]) < 25)'; then
  echo "build: upgrading pip in .tools"
  .tools/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25"
fi
export PYTHON="$PWD/.tools/bin/python"
export SAM_CLI_TELEMETRY=0
build_dir=${BUILD_DIR:-.aws-sam/build}
rm -rf "$build_dir"
.tools/bin/sam build --template template.yaml --build-dir "$build_dir" "$@"
