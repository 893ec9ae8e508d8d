"""The seam between the ASL interpreter and the things its tasks call.

The interpreter (``sfnstack.asl``) knows nothing about processes, templates or
HTTP: it is handed a ``Services`` object. The Lambda emulation (``sfnstack.lambdas``)
provides ``invoke_lambda``; tests provide their own (the conformance runner emulates the
recorded functions). Errors crossing the seam are the exceptions below, carrying exactly
what AWS Lambda reports, so the interpreter can name errors and causes as AWS does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .integrations.nested import NestedExecutions
    from .integrations.tokens import TaskTokens
    from .mocks import MockedCalls


class LambdaFunctionError(Exception):
    """The function raised (an unhandled exception) or its invocation failed.

    ``payload`` is Lambda's error document, as Invoke returns it with
    ``X-Amz-Function-Error: Unhandled``::

        {"errorMessage": "...", "errorType": "ValueError", "requestId": "...",
         "stackTrace": ["  File ...", ...]}

    ``error_type`` is the name Step Functions reports as the state's error (the exception's
    class name, as Lambda does for Python).
    """

    def __init__(self, error_type: str, payload: dict[str, Any]) -> None:
        super().__init__(f"{error_type}: {payload.get('errorMessage', '')}")
        self.error_type = error_type
        self.payload = payload


class LambdaTimeoutError(Exception):
    """The handler ran past the function's Timeout and its environment was killed.

    Lambda reports this as ``Sandbox.Timedout`` / "Task timed out after N seconds"."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        super().__init__(f"Task timed out after {timeout_seconds:.2f} seconds")
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds


class LambdaNotFoundError(Exception):
    """No function with that name or ARN (Lambda's ResourceNotFoundException)."""

    def __init__(self, function: str) -> None:
        super().__init__(f"Function not found: {function}")
        self.function = function


# invoke_lambda(function_name_or_arn, payload) -> the function's JSON-decoded result.
InvokeLambda = Callable[[str, Any], Any]
# invoke_lambda_json(function_name_or_arn, event_json_bytes) -> the result's JSON bytes.
InvokeLambdaJson = Callable[[str, bytes], bytes]


@dataclass
class Services:
    """What an execution may call. Any field left ``None`` makes the states that need it fail
    with a clear error naming what is missing."""

    invoke_lambda: InvokeLambda | None = None
    # Optional, preferred when set: the same call with the JSON text crossing the seam, for
    # invokers that serialise anyway (worker processes): one encode and one decode per call.
    invoke_lambda_json: InvokeLambdaJson | None = None
    s3_client: Any | None = None  # a boto3 S3 client (ItemReader / ResultWriter)
    sleep: Callable[[float], None] = time.sleep  # Wait states and Retry back-off
    stop_event: threading.Event = field(default_factory=threading.Event)  # StopExecution
    # Map iterations / Parallel branches an execution runs at once, as greenlets of its hub
    # (sfnstack.cooperative): they overlap where the calls above wait through the hub, as
    # the LambdaPool's do; an invoker that blocks without asking holds them all.
    map_workers: int = 8
    # An asl.progress.Progress: told what the execution does, and where to resume it from
    # (RedriveExecution). None: nothing is recorded.
    progress: Any = None
    # A mock configuration's test case (sfnstack.mocks): the Task states it names answer
    # from their mocked responses instead of calling anything. One per execution.
    mocked: MockedCalls | None = None
    # The tasks waiting for their task token (.waitForTaskToken), which SendTaskSuccess /
    # SendTaskFailure / SendTaskHeartbeat answer: the runtime's, shared by its executions.
    task_tokens: TaskTokens = field(default_factory=lambda: _task_tokens())
    # What states:startExecution starts executions with (None: it fails, naming why).
    executions: NestedExecutions | None = None


def _task_tokens() -> TaskTokens:
    from .integrations.tokens import TaskTokens  # imports the interpreter, which imports this

    return TaskTokens()
