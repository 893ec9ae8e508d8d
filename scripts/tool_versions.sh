# The validation and deployment tools' versions (sourced by scripts/test.sh and
# scripts/build.sh), pinned for the reason constraints.txt pins .venv's: a new release (a new
# checkov check, a new cfn-lint rule) would fail a fresh clone's tests. Each tool has a venv
# of its own under .tools/ (they pin their own dependencies). Raise them on purpose.
SAM_CLI="aws-sam-cli==1.170.0"
CFN_LINT="cfn-lint==1.58.0"
CHECKOV="checkov==3.3.30"
AWSCLI="awscli==1.46.3"
