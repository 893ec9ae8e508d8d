"""Running Map iterations and Parallel branches: in order on the calling thread when they
cannot block; when they can, on a bounded number of greenlets of a cooperative hub (when the
execution's services wait cooperatively) or threads; results always in item order."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sfnstack.cooperative import Hub, current_hub

from .context import BranchCancelled
from .errors import ExecutionAborted, ExecutionTimedOut, StateFailure

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
    jobs: Sequence[Job],
    *,
    workers: int,
    should_stop: Callable[[Outcome], bool],
    cooperative: bool = False,
) -> list[Outcome]:
    """Run every job; ``should_stop(outcome)`` is asked after each failure and, if it says
    so, the remaining jobs are cancelled. Execution-level stops (abort, timeout) win.

    ``cooperative``: the jobs only block in waits that ask ``current_hub()`` (the Lambda
    pool's, ``Execution.wait``), so they can share one thread as greenlets; jobs started
    from a hub's greenlet always run on that hub."""
    cancel = threading.Event()
    outcomes: list[Outcome] = [PENDING] * len(jobs)
    fatal: list[BaseException] = []
    lock = threading.Lock()

    def run_one(index: int) -> None:
        if cancel.is_set():
            return
        try:
            outcome = Outcome(True, jobs[index](cancel))
        except StateFailure as failure:
            outcome = Outcome(False, failure=failure)
            with lock:
                outcomes[index] = outcome
                if should_stop(outcome):
                    cancel.set()
            return
        except BranchCancelled:
            return
        except (ExecutionAborted, ExecutionTimedOut) as exc:
            with lock:
                fatal.append(exc)
            cancel.set()
            return
        except Exception as exc:  # an interpreter bug must not hang the pool
            with lock:
                fatal.append(exc)
            cancel.set()
            return
        outcomes[index] = outcome

    if workers <= 1 or len(jobs) <= 1:
        for index in range(len(jobs)):
            run_one(index)
            if cancel.is_set():
                break
    else:
        # Long-lived drains (threads or greenlets) that each take the next index: no future
        # per item, and the items still start in order.
        indexes = itertools.count()  # next() on a count is atomic under the GIL
        total = len(jobs)
        drains = min(workers, total)

        def drain() -> None:
            for index in indexes:
                if index >= total or cancel.is_set():
                    return
                run_one(index)

        hub = current_hub()
        if hub is not None:  # nested in a hub's greenlet: more greenlets on the same hub
            hub.join([hub.spawn(drain) for _ in range(drains)])
        elif cooperative:
            running = [drains]  # asked after every switch: a count, not a scan

            def counted_drain() -> None:
                try:
                    drain()
                finally:
                    running[0] -= 1

            with Hub.running() as hub:
                for _ in range(drains):
                    hub.spawn(counted_drain)
                hub.run_until(lambda: not running[0])
        else:
            threads = [
                threading.Thread(target=drain, name=f"asl-{n}", daemon=True) for n in range(drains)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    if fatal:
        raise fatal[0]
    return outcomes
