"""Every recorded AWS Step Functions case (tests/conformance/data/cases.jsonl) must give the
recorded result in the local interpreter. Comparison rules: docs/asl-conformance.md."""

from __future__ import annotations

import pytest

from .harness import DATA, compare, load_cases, run_case

CASES = load_cases()
JSONATA_CASES = load_cases(DATA / "jsonata" / "cases.jsonl")

# Cases that do not pass yet, with the reason (keep docs/asl-conformance.md in step).
KNOWN_GAPS: dict[str, str] = {}


def _params(cases: list[dict]) -> list[object]:
    params = []
    for case in cases:
        marks = []
        if case["id"] in KNOWN_GAPS:
            marks.append(pytest.mark.xfail(reason=KNOWN_GAPS[case["id"]], strict=True))
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


@pytest.mark.parametrize("case", _params(CASES))
def test_recorded_case(case: dict) -> None:
    result = run_case(case)
    problems = compare(case, result)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", _params(JSONATA_CASES))
def test_recorded_jsonata_case(case: dict) -> None:
    result = run_case(case)
    problems = compare(case, result)
    assert not problems, "\n".join(problems)


def test_case_files_are_complete() -> None:
    assert len(CASES) == 598
    assert len(JSONATA_CASES) == 140
    ids = [c["id"] for c in CASES + JSONATA_CASES]
    assert len(set(ids)) == len(ids)
