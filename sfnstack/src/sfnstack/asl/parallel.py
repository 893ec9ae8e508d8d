"""The Parallel state."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .concurrency import run_jobs
from .context import Execution, Frame
from .errors import DefinitionError, StateFailure
from .history import Track
from .states import State

if TYPE_CHECKING:
    from .machine import ProgramBuilder


class ParallelState(State):
    TYPE = "Parallel"
    FIELDS = frozenset(
        {
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Branches",
            "Assign",
        }
    )
    HAS_RESULT = True
    JSONATA_FIELDS = frozenset({"Output", "Arguments"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        branches = spec.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise DefinitionError("Branches must be a non-empty list", state=name, field="Branches")
        self.branches = [
            builder.build(branch, f"{name}.Branches[{i}]") for i, branch in enumerate(branches)
        ]
        self.blocking = any(b.blocking for b in self.branches)

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        fields = self.fields
        effective = fields.arguments(fields.input(raw, frame), frame)
        result = self._run_branches(ex, effective, frame, track)
        return self.next, fields.finish_result(raw, result, frame)

    def _run_branches(self, ex: Execution, effective: Any, frame: Frame, track: Track) -> list[Any]:
        history = ex.history
        started = history.add(track, "ParallelStateStarted")
        scope = frame.scope

        def job_for(program: Any) -> Any:
            def job(cancel: threading.Event) -> Any:
                branch_scope = scope.child(cancel)
                return program.run(ex, effective, Track(started), branch_scope)

            return job

        outcomes = run_jobs(
            [job_for(p) for p in self.branches],
            workers=len(self.branches) if self.blocking else 1,
            should_stop=lambda outcome: True,
        )
        for outcome in outcomes:
            if outcome.failure is not None:
                history.add(track, "ParallelStateFailed")
                raise outcome.failure
        if not all(o.ok for o in outcomes):  # cancelled without a failure: cannot happen
            raise StateFailure("States.Runtime", "Parallel branch did not complete")
        history.add(track, "ParallelStateSucceeded")
        return [o.value for o in outcomes]
