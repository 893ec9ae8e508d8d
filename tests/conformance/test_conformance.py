"""Every recorded AWS Step Functions case (tests/conformance/data/cases.jsonl) must give the
recorded result in the local interpreter. Comparison rules: docs/asl-conformance.md."""

from __future__ import annotations

import pytest

from .harness import compare, load_cases, run_case

CASES = load_cases()

# Cases that do not pass yet, with the reason (keep docs/asl-conformance.md in step).
KNOWN_GAPS: dict[str, str] = {}


def _params() -> list[object]:
    params = []
    for case in CASES:
        marks = []
        if case["id"] in KNOWN_GAPS:
            marks.append(pytest.mark.xfail(reason=KNOWN_GAPS[case["id"]], strict=True))
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_recorded_case(case: dict) -> None:
    result = run_case(case)
    problems = compare(case, result)
    assert not problems, "\n".join(problems)


def test_case_file_is_complete() -> None:
    assert len(CASES) == 598
    assert len({c["id"] for c in CASES}) == len(CASES)
