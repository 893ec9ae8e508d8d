#!/usr/bin/env bash
# Sets up raincast and forecasts the example Australian cities offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/raincast run examples/cities-australia.csv --out out/demo "$@"
