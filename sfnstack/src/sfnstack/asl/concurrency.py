"""Running Map iterations and Parallel branches on a bounded number of greenlets of the
execution's hub (one, so in order, when they cannot block); results always in item order."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sfnstack.cooperative import current_hub

from .context import BranchCancelled
from .errors import StateFailure

Job = Callable[[threading.Event], Any]  # gets the cancel event its scope must watch


class Outcome:
    __slots__ = ("failure", "ok", "value")

    def __init__(self, ok: bool, value: Any = None, failure: StateFailure | None = None) -> None:
        self.ok = ok
        self.value = value
        self.failure = failure


PENDING = Outcome(False)  # never ran (cancelled before it started)


class LazyJobs(Sequence[Job]):
    """``count`` jobs, each made by ``make(index)`` when it is about to run: a large Map does
    not hold thousands of closures for its whole run (long-lived enough that the garbage
    collector promotes them and then scans the old generation in full)."""

    def __init__(self, count: int, make: Callable[[int], Job]) -> None:
        self._count = count
        self._make = make

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Job:  # type: ignore[override]  # never sliced
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._make(index)


def run_jobs(
    jobs: Sequence[Job], *, workers: int, should_stop: Callable[[Outcome], bool]
) -> list[Outcome]:
    """Run every job, at most ``workers`` at once; ``should_stop(outcome)`` is asked after
    each failure and, if it says so, the remaining jobs are cancelled. Execution-level
    stops (abort, timeout) win. Called from a greenlet of the execution's hub."""
    cancel = threading.Event()
    outcomes: list[Outcome] = [PENDING] * len(jobs)
    fatal: list[BaseException] = []

    # No locks: greenlets switch only where they wait, never inside these lines.
    def run_one(index: int) -> None:
        if cancel.is_set():
            return
        try:
            outcomes[index] = Outcome(True, jobs[index](cancel))
        except StateFailure as failure:
            outcome = outcomes[index] = Outcome(False, failure=failure)
            if should_stop(outcome):
                cancel.set()
        except BranchCancelled:
            pass
        except Exception as exc:  # abort, timeout, or an interpreter bug: stop the others
            fatal.append(exc)
            cancel.set()

    # Long-lived drains that each take the next index: no greenlet per item, and the items
    # still start in order.
    indexes = itertools.count()
    total = len(jobs)

    def drain() -> None:
        for index in indexes:
            if index >= total or cancel.is_set():
                return
            run_one(index)

    drains = min(workers, total)
    if drains <= 1:
        drain()
    else:
        hub = current_hub()
        if hub is None:
            raise RuntimeError("run_jobs runs on the execution's hub (StateMachine.execute)")
        hub.join([hub.spawn(drain) for _ in range(drains)])
    if fatal:
        raise fatal[0]
    return outcomes
