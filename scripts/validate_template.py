"""Checks template.yaml and statemachine/*.asl.json beyond what sam/cfn-lint/asl-validator
check: ${...} substitutions, least-privilege IAM, retried error names (see
raincast_cli.template_checks). Exit 1 with one line per problem."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from raincast_cli.template_checks import check_all  # noqa: E402


def main() -> int:
    problems = check_all(ROOT)
    for problem in problems:
        print(f"template: {problem}", file=sys.stderr)
    if not problems:
        print(
            "template: substitutions, IAM, retried errors, provider timeouts, Express children's "
            "5-minute budget, reserved concurrency, alarm topic "
            "encryption and checkov skips OK"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
