"""Errors of the ASL interpreter: definition problems and state failures.

``StateFailure`` is what a state raises when it fails; it carries the AWS error name and
cause and travels through Retry/Catch. ``DefinitionError`` is raised before any execution
starts, naming the state and field at fault.
"""

from __future__ import annotations

# AWS error names the interpreter raises itself.
ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"

# Errors no Retry or Catch (not even States.ALL) may handle: the execution fails.
UNCATCHABLE = frozenset({RUNTIME})


class DefinitionError(ValueError):
    """The state machine definition is invalid; the message names the state and field."""

    def __init__(self, message: str, *, state: str | None = None, field: str | None = None):
        where = []
        if state is not None:
            where.append(f"state '{state}'")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{' '.join(where)}: {message}" if where else message)
        self.state = state
        self.field = field
        self.problem = message


class StateFailure(Exception):
    """A state failed with an AWS error name and cause (either may be None, as in AWS)."""

    def __init__(self, error: str | None, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class RuntimeFailure(StateFailure):
    """A ``States.Runtime`` failure whose cause still needs the state prefix AWS adds:
    "An error occurred while executing the state 'X' (entered at the event id #N). ..."."""

    def __init__(self, detail: str) -> None:
        super().__init__(RUNTIME, detail)
        self.detail = detail


class IntrinsicFailure(StateFailure):
    def __init__(self, cause: str) -> None:
        super().__init__(INTRINSIC_FAILURE, cause)


class PathNotFound(RuntimeFailure):
    """A definite JSONPath matched nothing (Jayway's PathNotFoundException)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"Invalid path '{path}' : {message}")
        self.path = path
        self.message = message


class ExecutionAborted(Exception):
    """The execution was stopped (services.stop_event)."""


class ExecutionTimedOut(Exception):
    """The state machine's TimeoutSeconds elapsed."""
