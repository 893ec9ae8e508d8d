"""Retry and Catch: matching AWS error names and computing back-off."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .errors import ALL, TASK_FAILED, TIMEOUT, UNCATCHABLE, DefinitionError

if TYPE_CHECKING:
    from .language import StateFields


def error_matches(error_equals: list[str], error: str | None) -> bool:
    if error in UNCATCHABLE:
        return False
    name = error if error is not None else ""
    for candidate in error_equals:
        if candidate == ALL:
            return True
        if candidate == name:
            return True
        if candidate == TASK_FAILED and name != TIMEOUT:
            return True
    return False


def _check_error_equals(spec: dict[str, Any], state: str, field: str) -> list[str]:
    errors = spec.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        raise DefinitionError(
            "ErrorEquals must be a non-empty list of error names", state=state, field=field
        )
    if ALL in errors and len(errors) > 1:
        raise DefinitionError(
            "States.ALL must appear alone in ErrorEquals", state=state, field=field
        )
    return errors


_RETRIER_FIELDS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
}
_CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment", "Assign", "Output"}


class Retrier:
    __slots__ = ("backoff_rate", "error_equals", "interval", "jitter", "max_attempts", "max_delay")

    def __init__(self, spec: dict[str, Any], state: str) -> None:
        unknown = set(spec) - _RETRIER_FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)} in a Retry entry", state=state, field="Retry"
            )
        self.error_equals = _check_error_equals(spec, state, "Retry")
        self.interval = spec.get("IntervalSeconds", 1)
        self.max_attempts = spec.get("MaxAttempts", 3)
        self.backoff_rate = spec.get("BackoffRate", 2.0)
        self.max_delay = spec.get("MaxDelaySeconds")
        self.jitter = spec.get("JitterStrategy", "NONE")
        if (
            not isinstance(self.interval, int)
            or isinstance(self.interval, bool)
            or self.interval < 1
        ):
            raise DefinitionError(
                "IntervalSeconds must be a positive integer", state=state, field="Retry"
            )
        if (
            not isinstance(self.max_attempts, int)
            or isinstance(self.max_attempts, bool)
            or self.max_attempts < 0
        ):
            raise DefinitionError(
                "MaxAttempts must be a non-negative integer", state=state, field="Retry"
            )
        if not isinstance(self.backoff_rate, int | float) or self.backoff_rate < 1.0:
            raise DefinitionError("BackoffRate must be a number >= 1.0", state=state, field="Retry")
        if self.max_delay is not None and (
            not isinstance(self.max_delay, int) or self.max_delay < 1
        ):
            raise DefinitionError(
                "MaxDelaySeconds must be a positive integer", state=state, field="Retry"
            )
        if self.jitter not in ("FULL", "NONE"):
            raise DefinitionError("JitterStrategy must be FULL or NONE", state=state, field="Retry")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        seconds = self.interval * (self.backoff_rate**attempt)
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay)
        if self.jitter == "FULL":
            seconds = random.uniform(0, seconds)
        return float(seconds)


class Catcher:
    __slots__ = ("error_equals", "next", "output")

    def __init__(self, spec: dict[str, Any], state: str, fields: StateFields) -> None:
        allowed = _CATCHER_FIELDS - ({"ResultPath"} if fields.jsonata else {"Output"})
        unknown = set(spec) - allowed
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)} in a Catch entry", state=state, field="Catch"
            )
        self.error_equals = _check_error_equals(spec, state, "Catch")
        nxt = spec.get("Next")
        if not isinstance(nxt, str):
            raise DefinitionError(
                "every Catch entry needs a Next state", state=state, field="Catch"
            )
        self.next = nxt
        # (state input, {"Error", "Cause"}, frame) -> the state's output, Assign applied
        self.output = fields.catch_output(spec)
