"""Recorded progress, and starting an execution from it: what RedriveExecution needs.

An execution given a :class:`Progress` (``Services.progress``) reports, as it runs, every
top-level state it enters (with the state's input) and every iteration of the top-level Map
state it is in that succeeds (with the iteration's output). Whoever keeps that record (the
serve layer journals it to disk) can later start the execution again from it with a
:class:`Resume`: the run starts at the top-level state that did not succeed, with the
input it had, and a Map state there re-runs only the iterations that did not succeed (the
others return their recorded outputs without running), as AWS's redrive does. Iterations
re-run from their first state: AWS does the same for a Distributed Map's Express child
executions (the kind that cannot be redriven themselves).

Without a ``Progress`` nothing here runs (``Services.progress`` is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Progress", "Resume"]


@dataclass
class Resume:
    """Where a redriven execution starts."""

    state: str  # the top-level state to start at
    input: Any  # the input it entered with
    redrive_count: int  # 1 for the first redrive
    redrive_date: datetime
    first_event_id: int = 1  # history event ids continue after the earlier runs'
    # For a Map ``state``: index -> output of the iterations that already succeeded.
    iterations: dict[int, Any] = field(default_factory=dict)


class Progress:
    """Receives an execution's progress; subclasses keep it. ``resume`` makes the
    execution start from recorded progress. Called from the execution's threads and
    greenlets: implementations must be thread-safe and must not block for long."""

    def __init__(self, resume: Resume | None = None) -> None:
        self.resume = resume
        self._current: str | None = resume.state if resume is not None else None
        # the recorded iterations apply to the first run of the resumed state only
        self._skippable: dict[int, Any] = dict(resume.iterations) if resume is not None else {}

    # -- what the interpreter calls --------------------------------------------------
    def entered(self, state: str, data: Any) -> None:
        """A top-level state is about to run with ``data`` as its input."""
        if self.resume is None or state != self.resume.state or self._current != state:
            self._skippable = {}
        self._current = state
        self.state_entered(state, data)

    def iteration_done(self, state: str, index: int, output: Any) -> None:
        """An iteration of Map ``state`` succeeded (only the top-level Map being run is
        recorded: a Map nested in its iterations runs many times over the same indices)."""
        if state == self._current:
            self.iteration_succeeded(state, index, output)

    def recorded_iteration(self, state: str, index: int) -> tuple[bool, Any]:
        """``(True, output)`` when iteration ``index`` of ``state`` already succeeded in an
        earlier run and need not run again."""
        if state == self._current and index in self._skippable:
            return True, self._skippable[index]
        return False, None

    def map_run_started(self, run: dict[str, Any]) -> None:
        """A Distributed Map's map run started (``run``: mapRunArn, state, label,
        executions, itemsPerExecution (with an ItemBatcher, else None), maxConcurrency,
        toleratedFailureCount, toleratedFailurePercentage, resultWriter), for
        DescribeMapRun's counts."""

    # -- what a recorder overrides -----------------------------------------------------
    def state_entered(self, state: str, data: Any) -> None:
        """Record that top-level ``state`` was entered with ``data``."""

    def iteration_succeeded(self, state: str, index: int, output: Any) -> None:
        """Record that iteration ``index`` of top-level Map ``state`` produced ``output``."""
