#!/usr/bin/env bash
# The whole test suite: lint, template and ASL validation, then the tests. CI runs exactly
# this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check .

# Validation tools live apart from .venv (aws-sam-cli pins its own dependencies): a tools
# venv (.tools/) and node_modules/ (asl-validator). Both are installed once and reused.
PYTHON=${PYTHON:-python3}
source scripts/tool_versions.sh
# Each stamp holds the versions installed: a changed pin installs again.
tools_stamp=.tools/.raincast-tools-installed
if [ "$(cat "$tools_stamp" 2>/dev/null)" != "$SAM_CLI $CFN_LINT" ]; then
  echo "== installing validation tools into .tools ($SAM_CLI, $CFN_LINT)"
  [ -x .tools/bin/python ] || "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet --disable-pip-version-check "$SAM_CLI" "$CFN_LINT"
  echo "$SAM_CLI $CFN_LINT" > "$tools_stamp"
fi
# The aws CLI, for raincast serve's end-to-end tests: its own venv, because awscli pins
# botocore to an exact version that need not match boto3's in .venv.
# checkov (the template's security checks): its own venv too, it pins many libraries.
if [ "$(cat .tools/checkov/.installed 2>/dev/null)" != "$CHECKOV" ]; then
  echo "== installing $CHECKOV into .tools/checkov"
  [ -x .tools/checkov/bin/python ] || "$PYTHON" -m venv .tools/checkov
  .tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check "$CHECKOV"
  echo "$CHECKOV" > .tools/checkov/.installed
fi
if [ "$(cat .tools/awscli/.installed 2>/dev/null)" != "$AWSCLI" ]; then
  echo "== installing $AWSCLI into .tools/awscli"
  [ -x .tools/awscli/bin/python ] || "$PYTHON" -m venv .tools/awscli
  .tools/awscli/bin/python -m pip install --quiet --disable-pip-version-check "$AWSCLI"
  echo "$AWSCLI" > .tools/awscli/.installed
fi
if [ ! -d node_modules/asl-validator ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing asl-validator (npm ci)"
  npm ci --no-audit --no-fund --silent
fi

# The reports' browser test opens them in Debian's headless Chromium (playwright drives it;
# playwright's own browser download is never used).
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt-get)"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  $as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -q chromium
fi

echo "== sam validate --lint"
# Offline: sam only needs a region (and, for some versions, credentials) to be set.
AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} \
AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-offline} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-offline} \
SAM_CLI_TELEMETRY=0 .tools/bin/sam validate --lint --template template.yaml
echo "== cfn-lint"
.tools/bin/cfn-lint template.yaml
echo "== asl-validator"
node_modules/.bin/asl-validator --json-path statemachine/forecast.asl.json
echo "== template checks (substitutions, least privilege, retried errors, concurrency, alarm key, checkov skips)"
.venv/bin/python scripts/validate_template.py
echo "== checkov"
# Offline: --skip-download keeps it from fetching guidelines or Bridgecrew's policies, and
# without an API key (unset here) it sends nothing (traced: no connect() at all). Every skip
# is in the template, with its reason.
env -u BC_API_KEY -u PRISMA_API_URL .tools/checkov/bin/checkov --file template.yaml --framework cloudformation --skip-download \
  --compact --quiet

# The deployable artifacts, built as a user builds them (scripts/build.sh: sam build; ~15 s
# with pip's cache warm, ~1-2 min on a fresh machine, most of it downloading the aarch64
# wheels). tests/build checks what it built, and runs the built template locally.
echo "== sam build (scripts/build.sh)"
mkdir -p .aws-sam
bash scripts/build.sh > .aws-sam/build.log 2>&1 || { cat .aws-sam/build.log; exit 1; }
export RAINCAST_BUILD_DIR="$PWD/.aws-sam/build"

echo "== mypy (strict on src/raincast; config in pyproject.toml)"
.venv/bin/mypy

# Two packages, two suites: the local AWS stack's own (sfnstack/tests, run from its folder
# with its own pytest settings), then the forecaster's. Arguments go to the forecaster's run.
echo "== pytest sfnstack (the local AWS stack)"
(cd sfnstack && ../.venv/bin/python -m pytest -q)
echo "== pytest raincast (the forecaster)"
.venv/bin/python -m pytest -q "$@"
