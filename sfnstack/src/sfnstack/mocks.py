"""Mocked service integrations: Step Functions Local's mock configuration file.

The format is AWS's (``MockConfigFile.json``, also read by LocalStack)::

    {"StateMachines": {"<state machine name>": {"TestCases": {
         "<test case>": {"<Task state name>": "<mocked response name>", ...}}}},
     "MockedResponses": {"<mocked response name>": {
         "0": {"Return": <the task's result>},
         "1-2": {"Throw": {"Error": "...", "Cause": "..."}}}}}

A test case answers the Task states it names from their mocked responses; every other
state runs for real (hybrid paths). Attempt ``n`` of a mocked response is the ``n``-th
time (from 0) the state is entered in the execution — its retries, a loop coming back to
it, Map iterations (AWS advises MaxConcurrency 1 for a predictable order there). A
response whose attempts have run out fails the execution (States.Runtime), as AWS
documents: "If you do not specify a mocked response, the state machine execution will
fail". Written by hand: no library reads this format.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

ENV_VAR = "SFN_MOCK_CONFIG"
_ATTEMPTS = re.compile(r"^(\d+)(?:-(\d+))?$")


class MockConfigError(ValueError):
    """The mock configuration is malformed, or does not fit the state machine."""


@dataclass(frozen=True)
class MockedOutcome:
    """One attempt's answer: ``result`` (Return) or ``error``/``cause`` (Throw)."""

    result: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def throws(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class MockedResponse:
    name: str
    attempts: tuple[tuple[int, int, MockedOutcome], ...]  # (first, last, outcome), sorted

    def at(self, attempt: int) -> MockedOutcome | None:
        for first, last, outcome in self.attempts:
            if first <= attempt <= last:
                return outcome
        return None


@dataclass(frozen=True)
class TestCase:
    """One test case of one state machine: state name -> mocked response."""

    state_machine: str
    name: str
    states: dict[str, MockedResponse]

    def check_definition(self, definition: dict[str, Any]) -> None:
        """Refuse a test case that names a state the definition does not have (or that
        is not a Task state, which nothing could mock)."""
        types = dict(_iter_states(definition))
        for state in self.states:
            if state not in types:
                raise MockConfigError(
                    f"test case {self.name!r} of {self.state_machine!r} mocks state {state!r},"
                    " which the state machine does not have"
                )
            if types[state] != "Task":
                raise MockConfigError(
                    f"test case {self.name!r} of {self.state_machine!r} mocks state {state!r},"
                    f" a {types[state]} state: only Task states can be mocked"
                )

    def start(self) -> MockedCalls:
        """The attempt counters of one execution."""
        return MockedCalls(self)


class MockedCalls:
    """What one execution's Task states ask: the next mocked answer for a state."""

    def __init__(self, test_case: TestCase) -> None:
        self.test_case = test_case
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()  # Distributed Map children may run on other threads

    def mocks(self, state: str) -> bool:
        return state in self.test_case.states

    def next(self, state: str) -> tuple[int, MockedOutcome | None]:
        """This attempt's number and its mocked answer (None: the response has none)."""
        response = self.test_case.states[state]
        with self._lock:
            attempt = self._attempts.get(state, 0)
            self._attempts[state] = attempt + 1
        return attempt, response.at(attempt)

    def attempts(self, state: str) -> int:
        """How many times the state has asked so far (the next attempt's number)."""
        with self._lock:
            return self._attempts.get(state, 0)

    def exhausted(self, state: str, attempt: int) -> str:
        """The message of a mocked state with no response for this attempt."""
        response = self.test_case.states[state]
        return (
            f"The mocked response '{response.name}' of state '{state}' (test case "
            f"'{self.test_case.name}') has no response for attempt {attempt}"
        )


class MockConfig:
    """A parsed, validated mock configuration file."""

    def __init__(self, document: Any, source: str = "the mock configuration") -> None:
        self.source = source
        if not isinstance(document, dict):
            raise MockConfigError(f"{source}: must be a JSON object")
        unknown = set(document) - {"StateMachines", "MockedResponses"}
        if unknown:
            raise MockConfigError(f"{source}: unknown top-level field(s) {sorted(unknown)}")
        responses = document.get("MockedResponses", {})
        if not isinstance(responses, dict):
            raise MockConfigError(f"{source}: MockedResponses must be an object")
        self.responses = {
            name: _parse_response(name, spec, source) for name, spec in responses.items()
        }
        machines = document.get("StateMachines", {})
        if not isinstance(machines, dict):
            raise MockConfigError(f"{source}: StateMachines must be an object")
        self.test_cases: dict[str, dict[str, TestCase]] = {}
        for machine, spec in machines.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("TestCases"), dict):
                raise MockConfigError(
                    f"{source}: StateMachines.{machine} must be an object with TestCases"
                )
            cases: dict[str, TestCase] = {}
            for case, states in spec["TestCases"].items():
                if not isinstance(states, dict):
                    raise MockConfigError(
                        f"{source}: test case {case!r} of {machine!r} must map state names"
                        " to mocked response names"
                    )
                mocked: dict[str, MockedResponse] = {}
                for state, response in states.items():
                    if not isinstance(response, str) or response not in self.responses:
                        known = ", ".join(sorted(self.responses)) or "none"
                        raise MockConfigError(
                            f"{source}: test case {case!r} of {machine!r} maps state {state!r}"
                            f" to the unknown mocked response {response!r} (known: {known})"
                        )
                    mocked[state] = self.responses[response]
                cases[case] = TestCase(machine, case, mocked)
            self.test_cases[machine] = cases

    @classmethod
    def load(cls, path: str | Path) -> MockConfig:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MockConfigError(f"cannot read {path}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MockConfigError(f"{path} is not valid JSON: {exc}") from None
        return cls(document, str(path))

    def test_case(self, state_machine: str | list[str], name: str) -> TestCase:
        """The test case ``name`` of the first of ``state_machine`` (names) the file has."""
        candidates = [state_machine] if isinstance(state_machine, str) else state_machine
        cases = next((self.test_cases[c] for c in candidates if c in self.test_cases), None)
        if cases is None:
            known = ", ".join(sorted(self.test_cases)) or "none"
            raise MockConfigError(
                f"{self.source} has no state machine named {' or '.join(map(repr, candidates))}"
                f" (it has: {known})"
            )
        if name not in cases:
            machine = next(iter(cases.values())).state_machine if cases else candidates[0]
            known = ", ".join(sorted(cases)) or "none"
            raise MockConfigError(
                f"{self.source}: state machine {machine!r} has no test case {name!r}"
                f" (it has: {known})"
            )
        return cases[name]


def _parse_response(name: str, spec: Any, source: str) -> MockedResponse:
    where = f"{source}: mocked response {name!r}"
    if not isinstance(spec, dict) or not spec:
        raise MockConfigError(f"{where} must be a non-empty object of attempts")
    attempts: list[tuple[int, int, MockedOutcome]] = []
    for key, answer in spec.items():
        match = _ATTEMPTS.match(key) if isinstance(key, str) else None
        if match is None:
            raise MockConfigError(
                f"{where}: attempt {key!r} is not a number or an inclusive range like '1-2'"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise MockConfigError(f"{where}: attempt range {key!r} ends before it starts")
        attempts.append((first, last, _parse_outcome(answer, f"{where}, attempt {key!r}")))
    attempts.sort(key=lambda a: a[0])
    for (_, last, _a), (first, _, _b) in pairwise(attempts):
        if first <= last:
            raise MockConfigError(f"{where}: attempts overlap (attempt {first} is given twice)")
    return MockedResponse(name, tuple(attempts))


def _parse_outcome(answer: Any, where: str) -> MockedOutcome:
    if not isinstance(answer, dict) or len(answer) != 1 or not {"Return", "Throw"} & set(answer):
        raise MockConfigError(f"{where} must have exactly one field, Return or Throw")
    if "Return" in answer:
        return MockedOutcome(result=answer["Return"])
    throw = answer["Throw"]
    if (
        not isinstance(throw, dict)
        or not isinstance(throw.get("Error"), str)
        or not isinstance(throw.get("Cause", ""), str)
        or set(throw) - {"Error", "Cause"}
    ):
        raise MockConfigError(f"{where}: Throw must be an object with Error and Cause strings")
    return MockedOutcome(error=throw["Error"], cause=throw.get("Cause"))


def _iter_states(spec: Any) -> Iterator[tuple[str, str]]:
    """(name, Type) of every state of a definition, inside Map and Parallel too."""
    states = spec.get("States") if isinstance(spec, dict) else None
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        yield name, str(state.get("Type"))
        for key in ("ItemProcessor", "Iterator"):
            yield from _iter_states(state.get(key))
        for branch in state.get("Branches") or []:
            yield from _iter_states(branch)
