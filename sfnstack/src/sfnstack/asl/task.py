"""The Task state and its resources: Lambda (``lambda:invoke`` and plain function ARNs)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from .. import arns
from ..cooperative import Signal, current_hub
from ..services import LambdaFunctionError, LambdaNotFoundError, LambdaTimeoutError
from .context import BranchCancelled, Execution, Frame
from .errors import (
    DATA_LIMIT_EXCEEDED,
    HEARTBEAT_TIMEOUT,
    TIMEOUT,
    DefinitionError,
    ExecutionAborted,
    ExecutionTimedOut,
    RuntimeFailure,
    StateFailure,
)
from .history import History, Track
from .jsonata_mode import QueryEvaluationFailure, bindings, is_expression
from .jsonvalue import MAX_STATE_DATA_BYTES, is_number, to_json_string
from .states import State

if TYPE_CHECKING:
    from .machine import ProgramBuilder

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_LAMBDA_ARN_PREFIX = "arn:aws:lambda:"


class TaskState(State):
    TYPE = "Task"
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
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
            "Assign",
        }
    )
    HAS_RESULT = True
    blocking = True
    JSONATA_FIELDS = frozenset({"Output", "Arguments"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        super().__init__(name, spec, builder)
        resource = spec.get("Resource")
        if not isinstance(resource, str) or not resource:
            raise DefinitionError("Resource is required", state=name, field="Resource")
        self.resource = resource
        if resource == LAMBDA_INVOKE:
            self.kind = "invoke"
            params = spec.get("Arguments" if self.jsonata else "Parameters")
            if self.jsonata and (params is None or is_expression(params)):
                pass  # checked when evaluated
            elif not isinstance(params, dict) or not (
                "FunctionName" in params or "FunctionName.$" in params
            ):
                raise DefinitionError(
                    "lambda:invoke needs Parameters.FunctionName", state=name, field="Parameters"
                )
        elif resource.startswith(_LAMBDA_ARN_PREFIX) and ":function:" in resource:
            self.kind = "function"
        elif resource.startswith("arn:aws:states:::") or resource.startswith("arn:aws:"):
            # A service integration the local runtime does not emulate: the definition is
            # valid (AWS accepts it); running the state fails with a clear States.Runtime.
            self.kind = "unsupported"
        else:
            raise DefinitionError(
                f"Resource '{resource}' is not an ARN", state=name, field="Resource"
            )
        for field in ("TimeoutSeconds", "HeartbeatSeconds"):
            if field in spec and f"{field}Path" in spec:
                raise DefinitionError(
                    f"{field} and {field}Path are mutually exclusive", state=name, field=field
                )
            value = spec.get(field)
            if self.jsonata and is_expression(value):
                continue
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise DefinitionError(
                    f"{field} must be a positive integer", state=name, field=field
                )
        self.timeout = spec.get("TimeoutSeconds")
        self.heartbeat = spec.get("HeartbeatSeconds")
        self.timeout_path = (
            self._reference("TimeoutSecondsPath", spec["TimeoutSecondsPath"])
            if "TimeoutSecondsPath" in spec
            else None
        )
        self.heartbeat_path = (
            self._reference("HeartbeatSecondsPath", spec["HeartbeatSecondsPath"])
            if "HeartbeatSecondsPath" in spec
            else None
        )
        if (
            isinstance(self.timeout, int)
            and isinstance(self.heartbeat, int)
            and self.heartbeat >= self.timeout
        ):
            raise DefinitionError(
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
                state=name,
                field="HeartbeatSeconds",
            )

    def _seconds(self, ref: Any, field: str, data: Any, frame: Frame) -> int:
        value = ref.resolve(data, frame)
        if not is_number(value) or value != int(value) or value < 1:
            raise RuntimeFailure(
                f'The {field} field refers to value "{to_json_string(value)}" which is not a '
                f"valid positive integer: {ref.source}"
            )
        return int(value)

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        data = self.apply_input_path(raw, frame)
        heartbeat = self.heartbeat
        if self.heartbeat_path is not None:
            heartbeat = self._seconds(self.heartbeat_path, "HeartbeatSecondsPath", data, frame)
        timeout = self.timeout
        if self.timeout_path is not None:
            timeout = self._seconds(self.timeout_path, "TimeoutSecondsPath", data, frame)
        effective = self.parameters(data, frame) if self.parameters is not None else data
        if self.kind == "unsupported":
            raise RuntimeFailure(
                f"The resource '{self.resource}' is not supported by the local runtime "
                f"(supported: {LAMBDA_INVOKE} and Lambda function ARNs)"
            )
        if self.kind == "invoke":
            result = self._lambda_invoke(ex, effective, frame, track, timeout, heartbeat)
        else:
            result = self._lambda_function(ex, effective, frame, track, timeout, heartbeat)
        if self.result_selector is not None:
            result = self.result_selector(result, frame)
        output = self.result_path.apply(raw, result) if self.result_path is not None else result
        output = self.apply_output_path(output, frame)
        return self.next, output, result

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        seconds: dict[str, int | None] = {}
        for field in ("HeartbeatSeconds", "TimeoutSeconds"):
            value = self._jsonata_value(field, frame, raw) if field in self.spec else None
            if value is not None and (not is_number(value) or value != int(value) or value < 1):
                raise QueryEvaluationFailure(
                    f"The {field} field must be a positive integer, but was {to_json_string(value)}"
                )
            seconds[field] = int(value) if value is not None else None
        effective = self.j_arguments(bindings(frame, raw)) if self.j_arguments else raw
        if self.kind == "unsupported":
            raise RuntimeFailure(
                f"The resource '{self.resource}' is not supported by the local runtime "
                f"(supported: {LAMBDA_INVOKE} and Lambda function ARNs)"
            )
        timeout, heartbeat = seconds["TimeoutSeconds"], seconds["HeartbeatSeconds"]
        if self.kind == "invoke":
            result = self._lambda_invoke(ex, effective, frame, track, timeout, heartbeat)
        else:
            result = self._lambda_function(ex, effective, frame, track, timeout, heartbeat)
        return self.next, self.finish_jsonata(frame, raw, result, result=result)

    # -- Lambda ------------------------------------------------------------------------
    def _function_arn(self, ex: Execution, function: str) -> str:
        if function.startswith(_LAMBDA_ARN_PREFIX):
            return function
        return arns.function_arn(function, ex.region, ex.account)

    def _call(
        self,
        ex: Execution,
        frame: Frame,
        function: str,
        payload: Any,
        timeout: int | None,
        heartbeat: int | None,
    ) -> bytes:
        """The function's result as JSON text. What crosses the seam is JSON, as over the
        wire: the function gets its own copy of the payload and we decode our own copy of
        the result, so an in-process function cannot alter the execution's data."""
        services = ex.services
        call: Callable[[], bytes]
        if services.invoke_lambda_json is not None:
            # Worker processes serialise anyway: one encode, one decode per call.
            invoke_json = services.invoke_lambda_json
            body = json.dumps(payload).encode()

            def call() -> bytes:
                return invoke_json(function, body)

        elif services.invoke_lambda is not None:
            invoke = services.invoke_lambda

            def call() -> bytes:
                return _marshal(invoke(function, json.loads(json.dumps(payload))))

        else:
            raise StateFailure(
                "States.Runtime",
                f"No Lambda invoker configured: cannot call '{function}' (Services.invoke_lambda is None)",
            )
        # Lambda sends no heartbeats: a call longer than HeartbeatSeconds times out as such.
        limit, error = timeout, TIMEOUT
        if heartbeat is not None and (limit is None or heartbeat < limit):
            limit, error = heartbeat, HEARTBEAT_TIMEOUT
        if limit is None and ex.deadline is None:
            return call()  # fast path: no clock to watch
        return _call_with_timeout(call, limit, error, ex, frame)

    def _invoke(
        self,
        ex: Execution,
        frame: Frame,
        function: str,
        payload: Any,
        timeout: int | None,
        heartbeat: int | None,
        *,
        size_name: str,
        compact_cause: bool,
    ) -> tuple[Any, int]:
        """Call the function and turn what crosses the seam into AWS errors; the result and
        its size in bytes."""
        try:
            body = self._call(ex, frame, function, payload, timeout, heartbeat)
        except LambdaFunctionError as exc:
            # lambda:invoke reports Lambda's error document compactly; the plain-ARN form
            # with Python's default ", " separators (both as recorded on AWS).
            cause = to_json_string(exc.payload) if compact_cause else json.dumps(exc.payload)
            raise StateFailure(exc.error_type, cause) from None
        except LambdaNotFoundError:
            raise _not_found(self._function_arn(ex, function)) from None
        except LambdaTimeoutError as exc:
            raise StateFailure(TIMEOUT, str(exc)) from None
        except (StateFailure, ExecutionAborted, ExecutionTimedOut, BranchCancelled):
            raise
        except Exception as exc:  # the invoker itself broke (worker crash, bug)
            raise StateFailure("Lambda.ServiceException", f"{type(exc).__name__}: {exc}") from None
        size = len(body)
        if size > MAX_STATE_DATA_BYTES:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The state/task '{size_name}' returned a result with a size exceeding the "
                "maximum number of bytes service limit.",
            )
        # The function's JSON text (UTF-8, with spaces after separators) is never shorter
        # than the compact encoding of the decoded result, so one that passed is within
        # the limit and the state's own size check need not encode it again.
        result = json.loads(body.decode())
        ex.history.note_within_limit(result)
        return result, size

    def _lambda_invoke(
        self,
        ex: Execution,
        params: Any,
        frame: Frame,
        track: Track,
        timeout: int | None,
        heartbeat: int | None,
    ) -> Any:
        if not isinstance(params, dict) or not isinstance(params.get("FunctionName"), str):
            raise RuntimeFailure("The lambda:invoke Parameters must contain a FunctionName string")
        function = params["FunctionName"]
        payload = params.get("Payload", {})
        history = ex.history
        base = {"resourceType": "lambda", "resource": "invoke"}

        def scheduled() -> dict[str, Any]:
            details: dict[str, Any] = {
                **base,
                "region": ex.region,
                "parameters": to_json_string(params),
            }
            if timeout is not None:
                details["timeoutInSeconds"] = timeout
            if heartbeat is not None:
                details["heartbeatInSeconds"] = heartbeat
            return details

        history.add(track, "TaskScheduled", "taskScheduledEventDetails", scheduled)
        history.add(track, "TaskStarted", "taskStartedEventDetails", base)
        try:
            result, size = self._invoke(
                ex,
                frame,
                function,
                payload,
                timeout,
                heartbeat,
                size_name="lambda",
                compact_cause=True,
            )
        except StateFailure as failure:
            kind = "TaskTimedOut" if failure.error in _TIMEOUTS else "TaskFailed"
            details = {**base, "error": failure.error, "cause": failure.cause}
            history.add(track, kind, _details_key(kind), details)
            raise
        output = _invoke_response(result, size)
        history.add(
            track,
            "TaskSucceeded",
            "taskSucceededEventDetails",
            lambda: {**base, **history.data("output", output)},
        )
        return output

    def _lambda_function(
        self,
        ex: Execution,
        payload: Any,
        frame: Frame,
        track: Track,
        timeout: int | None,
        heartbeat: int | None,
    ) -> Any:
        history = ex.history
        history.add(
            track,
            "LambdaFunctionScheduled",
            "lambdaFunctionScheduledEventDetails",
            _function_scheduled,
            (self.resource, timeout),
            payload,
        )
        history.add(track, "LambdaFunctionStarted")
        try:
            result, _ = self._invoke(
                ex,
                frame,
                self.resource,
                payload,
                timeout,
                heartbeat,
                size_name=self.resource,
                compact_cause=False,
            )
        except StateFailure as failure:
            kind = (
                "LambdaFunctionTimedOut" if failure.error in _TIMEOUTS else "LambdaFunctionFailed"
            )
            history.add(
                track, kind, _details_key(kind), {"error": failure.error, "cause": failure.cause}
            )
            raise
        history.add(
            track,
            "LambdaFunctionSucceeded",
            "lambdaFunctionSucceededEventDetails",
            _output_data,
            result,
        )
        return result


_TIMEOUTS = (TIMEOUT, HEARTBEAT_TIMEOUT)


def _function_scheduled(
    history: History, resource_timeout: tuple[str, int | None], payload: Any
) -> dict[str, Any]:
    resource, timeout = resource_timeout
    details = {"resource": resource, **history.data("input", payload)}
    if timeout is not None:
        details["timeoutInSeconds"] = timeout
    return details


def _output_data(history: History, result: Any, _unused: Any) -> dict[str, Any]:
    return history.data("output", result)


def _details_key(event_type: str) -> str:
    return f"{event_type[0].lower()}{event_type[1:]}EventDetails"


def _not_found(function_arn: str) -> StateFailure:
    qualified = function_arn if function_arn.count(":") >= 7 else f"{function_arn}:$LATEST"
    return StateFailure(
        "Lambda.ResourceNotFoundException",
        f"Function not found: {qualified} (Service: AWSLambda; Status Code: 404; Error Code: "
        f"ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)",
    )


def _invoke_response(payload: Any, length: int) -> dict[str, Any]:
    """The lambda:invoke result as Step Functions returns it."""
    request_id = str(uuid.uuid4())
    date = format_datetime(datetime.now(UTC), usegmt=True)
    trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0;Lineage=1"
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [str(length)],
                "Date": [date],
                "X-Amzn-Trace-Id": [trace],
                "Content-Type": ["application/json"],
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": str(length),
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": trace,
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }


def _marshal(result: Any) -> bytes:
    """An in-process function's result as the JSON text a Lambda runtime would send."""
    try:
        return json.dumps(result, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:  # what the Python Lambda runtime reports
        raise StateFailure(
            "Runtime.MarshalError",
            to_json_string(
                {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                }
            ),
        ) from None


def _call_with_timeout(
    call: Any, timeout: float | None, error: str, ex: Execution, frame: Frame
) -> Any:
    """Run ``call`` on a worker thread; give up after ``timeout`` seconds (``error``) or when
    the execution stops, without waiting for the thread, which finishes on its own."""
    box: dict[str, Any] = {}
    # On a hub the state waits cooperatively (the other iterations keep running and keep
    # reading their replies, so the call's thread can get a Lambda concurrency slot).
    hub = current_hub()
    done: threading.Event | Signal = threading.Event() if hub is None else hub.signal()

    def worker() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the waiting state
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=worker, name=f"task-{frame.state_name}", daemon=True).start()
    deadline = time.monotonic() + timeout if timeout is not None else None
    while True:
        wait = 0.05 if deadline is None else min(0.05, max(deadline - time.monotonic(), 0))
        if done.wait(wait):
            break
        ex.check(frame.scope)
        if deadline is not None and time.monotonic() >= deadline:
            raise StateFailure(error, None)
    if "error" in box:
        raise box["error"]
    return box["result"]
