"""The Task state and its resources: Lambda (``lambda:invoke`` and plain function ARNs)
here, the other service integrations in ``sfnstack.integrations``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import arns
from ..cooperative import current_hub
from ..services import LambdaFunctionError, LambdaNotFoundError, LambdaTimeoutError
from .context import BranchCancelled, Execution, Frame
from .errors import (
    DATA_LIMIT_EXCEEDED,
    HEARTBEAT_TIMEOUT,
    TIMEOUT,
    DefinitionError,
    ExecutionAborted,
    ExecutionTimedOut,
    HistoryLimitExceeded,
    RuntimeFailure,
    StateFailure,
)
from .history import History, Track
from .jsonata_mode import QueryEvaluationFailure, is_expression
from .jsonvalue import MAX_STATE_DATA_BYTES, is_number, to_json_string
from .references import Reference
from .states import State

if TYPE_CHECKING:
    from ..mocks import MockedOutcome
    from .machine import ProgramBuilder

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


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
        fields = self.fields
        jsonata = fields.jsonata
        self.target: TaskResource
        integration = arns.parse_integration(resource)
        if integration is not None and integration.name == "lambda:invoke":
            if integration.pattern not in ("", "waitForTaskToken"):
                raise DefinitionError(
                    f"lambda:invoke does not support .{integration.pattern}",
                    state=name,
                    field="Resource",
                )
            self.target = LambdaInvoke(resource)
            self.target.wants_token = integration.pattern == "waitForTaskToken"
            params = spec.get(fields.ARGUMENTS)
            if jsonata and (params is None or is_expression(params)):
                pass  # checked when evaluated
            elif not isinstance(params, dict) or not (
                "FunctionName" in params or "FunctionName.$" in params
            ):
                raise DefinitionError(
                    "lambda:invoke needs Parameters.FunctionName", state=name, field="Parameters"
                )
        elif arns.is_function_arn(resource):
            self.target = LambdaFunction(resource)
        elif arns.is_arn(resource):
            from ..integrations import task_resource

            # A service integration the local runtime does not run (an activity, a service
            # or pattern it has no integration for) is a valid definition (AWS accepts
            # it); running the state fails with a clear States.Runtime naming it.
            self.target = task_resource(resource) or UnsupportedResource(resource)
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
            if jsonata and is_expression(value):
                continue
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise DefinitionError(
                    f"{field} must be a positive integer", state=name, field=field
                )
        timeout, heartbeat = spec.get("TimeoutSeconds"), spec.get("HeartbeatSeconds")
        if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
            raise DefinitionError(
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
                state=name,
                field="HeartbeatSeconds",
            )
        self.timeout = fields.value(
            "TimeoutSeconds", resolve_path=_path_seconds, check=_positive_seconds("TimeoutSeconds")
        )
        self.heartbeat = fields.value(
            "HeartbeatSeconds",
            resolve_path=_path_seconds,
            check=_positive_seconds("HeartbeatSeconds"),
        )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        fields = self.fields
        data = fields.input(raw, frame)
        heartbeat = self.heartbeat(data, frame)
        timeout = self.timeout(data, frame)
        limits = Limits(timeout, heartbeat)
        token = None
        if self.target.wants_token:  # $$.Task.Token, before the Parameters use it
            token = ex.services.task_tokens.issue(ex.arn, self.name)
            frame.context_object()["Task"] = {"Token": token}
        try:
            effective = fields.arguments(data, frame)
            mocked = ex.services.mocked
            if mocked is not None and mocked.mocks(self.name):
                attempt, outcome = mocked.next(self.name)
                if outcome is None:
                    raise RuntimeFailure(mocked.exhausted(self.name, attempt))
                result = self.target.mocked(ex, effective, track, limits, outcome)
            else:
                result = self.target.call(ex, effective, frame, track, limits)
        finally:
            if token is not None:
                ex.services.task_tokens.release(token)
        return self.next, fields.finish_result(raw, result, frame)


class Limits(NamedTuple):
    """A task's TimeoutSeconds and HeartbeatSeconds (None: not given)."""

    timeout: int | None
    heartbeat: int | None


class TaskResource:
    """What a Task state calls (its Resource): ``call`` returns the task's result."""

    wants_token = False  # .waitForTaskToken: $$.Task.Token is issued before the call

    def __init__(self, resource: str) -> None:
        self.resource = resource

    def call(self, ex: Execution, payload: Any, frame: Frame, track: Track, limits: Limits) -> Any:
        raise NotImplementedError

    def mocked(
        self, ex: Execution, payload: Any, track: Track, limits: Limits, outcome: MockedOutcome
    ) -> Any:
        """A mocked call (sfnstack.mocks): the history a call of this resource records,
        the mocked result returned or the mocked error raised; nothing is called."""
        base = _resource_details(self.resource)

        _record_task_start(ex, track, base, payload, limits)
        if outcome.error is not None:
            _record_task_failed(ex, track, base, outcome.error, outcome.cause)
            raise StateFailure(outcome.error, outcome.cause)
        result = json.loads(json.dumps(outcome.result))  # the execution's own copy
        _record_task_succeeded(ex, track, base, result)
        return result


class UnsupportedResource(TaskResource):
    def call(self, ex: Execution, payload: Any, frame: Frame, track: Track, limits: Limits) -> Any:
        raise RuntimeFailure(
            f"The resource '{self.resource}' is not supported by the local runtime (it runs"
            " Lambda, the AWS SDK integrations moto emulates, the optimized S3, DynamoDB,"
            " SQS, SNS and EventBridge integrations and states:startExecution; see"
            " sfnstack's README)"
        )


class LambdaResource(TaskResource):
    """Calling a function through ``Services`` and turning what crosses the seam into the
    errors and history events Step Functions reports."""

    def _function_arn(self, ex: Execution, function: str) -> str:
        if arns.is_function_arn(function):
            return function
        return arns.function_arn(function, ex.region, ex.account)

    def _call(
        self,
        ex: Execution,
        frame: Frame,
        function: str,
        payload: Any,
        limits: Limits,
    ) -> bytes:
        """The function's result as JSON text. What crosses the seam is JSON, as over the
        wire: the function gets its own copy of the payload and we decode our own copy of
        the result, so an in-process function cannot alter the execution's data."""
        services = ex.services
        call: Callable[[], bytes]
        if services.invoke_lambda_json is not None:
            # Worker processes serialise anyway: one encode, one decode per call, and no
            # encode for a payload that is a result decoded here (``Execution.decoded_texts``).
            invoke_json = services.invoke_lambda_json
            body = ex.decoded_texts.text(payload) or json.dumps(payload).encode()

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
        timeout, heartbeat = limits
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
        limits: Limits,
        *,
        size_name: str,
        compact_cause: bool,
    ) -> tuple[Any, int]:
        """Call the function and turn what crosses the seam into AWS errors; the result and
        its size in bytes."""
        try:
            body = self._call(ex, frame, function, payload, limits)
        except LambdaFunctionError as exc:
            # lambda:invoke reports Lambda's error document compactly; the plain-ARN form
            # with Python's default ", " separators (both as recorded on AWS).
            cause = to_json_string(exc.payload) if compact_cause else json.dumps(exc.payload)
            raise StateFailure(exc.error_type, cause) from None
        except LambdaNotFoundError:
            raise _not_found(self._function_arn(ex, function)) from None
        except LambdaTimeoutError as exc:
            raise StateFailure(TIMEOUT, str(exc)) from None
        except (
            StateFailure,
            ExecutionAborted,
            ExecutionTimedOut,
            HistoryLimitExceeded,
            BranchCancelled,
        ):
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
        ex.decoded_texts.remember(result, body)
        return result, size


class LambdaInvoke(LambdaResource):
    """``arn:aws:states:::lambda:invoke``: the result is Lambda's Invoke response."""

    def call(self, ex: Execution, params: Any, frame: Frame, track: Track, limits: Limits) -> Any:
        if not isinstance(params, dict) or not isinstance(params.get("FunctionName"), str):
            raise RuntimeFailure("The lambda:invoke Parameters must contain a FunctionName string")
        function = params["FunctionName"]
        payload = params.get("Payload", {})
        base = {
            "resourceType": "lambda",
            "resource": "invoke.waitForTaskToken" if self.wants_token else "invoke",
        }
        started = time.monotonic()

        _record_task_start(ex, track, base, params, limits)
        try:
            result, size = self._invoke(
                ex,
                frame,
                function,
                payload,
                limits,
                size_name="lambda",
                compact_cause=True,
            )
            output = _invoke_response(result, size)
            if self.wants_token:  # the function hands the token on; wait for it
                token = (frame.context_object().get("Task") or {})["Token"]
                output = _await_task_token(ex, frame, track, base, token, output, limits, started)
        except StateFailure as failure:
            _record_task_failed(ex, track, base, failure.error, failure.cause)
            raise
        _record_task_succeeded(ex, track, base, output)
        return output


class LambdaFunction(LambdaResource):
    """A plain function ARN as the Resource: the result is the function's own."""

    def mocked(
        self, ex: Execution, payload: Any, track: Track, limits: Limits, outcome: MockedOutcome
    ) -> Any:
        history = ex.history
        history.add(
            track,
            "LambdaFunctionScheduled",
            "lambdaFunctionScheduledEventDetails",
            _function_scheduled,
            (self.resource, limits.timeout),
            payload,
        )
        history.add(track, "LambdaFunctionStarted")
        if outcome.error is not None:
            kind = (
                "LambdaFunctionTimedOut" if outcome.error in _TIMEOUTS else "LambdaFunctionFailed"
            )
            details = {"error": outcome.error, "cause": outcome.cause}
            history.add(track, kind, _details_key(kind), details)
            raise StateFailure(outcome.error, outcome.cause)
        result = json.loads(json.dumps(outcome.result))
        history.add(
            track,
            "LambdaFunctionSucceeded",
            "lambdaFunctionSucceededEventDetails",
            _output_data,
            result,
        )
        return result

    def call(self, ex: Execution, payload: Any, frame: Frame, track: Track, limits: Limits) -> Any:
        history = ex.history
        history.add(
            track,
            "LambdaFunctionScheduled",
            "lambdaFunctionScheduledEventDetails",
            _function_scheduled,
            (self.resource, limits.timeout),
            payload,
        )
        history.add(track, "LambdaFunctionStarted")
        try:
            result, _ = self._invoke(
                ex,
                frame,
                self.resource,
                payload,
                limits,
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


def _path_seconds(ref: Reference, field: str, data: Any, frame: Frame) -> int:
    value = ref.resolve(data, frame)
    if not is_number(value) or value != int(value) or value < 1:
        raise RuntimeFailure(
            f'The {field} field refers to value "{to_json_string(value)}" which is not a '
            f"valid positive integer: {ref.source}"
        )
    return int(value)


def _positive_seconds(field: str) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None:
            return None
        if not is_number(value) or value != int(value) or value < 1:
            raise QueryEvaluationFailure(
                f"The {field} field must be a positive integer, but was {to_json_string(value)}"
            )
        return int(value)

    return check


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


def _resource_details(resource: str) -> dict[str, str]:
    """resourceType and resource as the history names them: ``sqs`` / ``sendMessage`` for
    ``arn:aws:states:::sqs:sendMessage``, ``aws-sdk:s3`` / ``getObject`` for the SDK ones."""
    rest = resource.split(":::", 1)[1] if ":::" in resource else resource
    service, _, action = rest.partition(":")
    if service == "aws-sdk":
        sdk_service, _, action = action.partition(":")
        service = f"aws-sdk:{sdk_service}"
    return {"resourceType": service, "resource": action}


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
    call: Callable[[], bytes], timeout: float | None, error: str, ex: Execution, frame: Frame
) -> bytes:
    """Run ``call`` in a greenlet of its own on the execution's hub and wait for it; give
    up after ``timeout`` seconds (``error``) or when the execution stops, without waiting
    for the call: it goes on while the execution runs, and when the execution's hub ends
    its greenlet the Lambda pool lets the invocation finish in the background. A call that
    blocks the thread instead of waiting through the hub (an in-process invoker) cannot be
    given up on: it times out, as on AWS, if it returns too late."""
    hub = current_hub()
    if hub is None:
        raise RuntimeError("a Task runs on the execution's hub (StateMachine.execute)")
    done = hub.signal()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the waiting state
            box["error"] = exc
        finally:
            box["finished"] = time.monotonic()
            done.set()

    hub.spawn(run)
    deadline = time.monotonic() + timeout if timeout is not None else None
    while True:
        wait = 0.05 if deadline is None else min(0.05, max(deadline - time.monotonic(), 0))
        if done.wait(wait):
            break
        ex.check(frame.scope)
        if deadline is not None and time.monotonic() >= deadline:
            raise StateFailure(error, None)
    if deadline is not None and box["finished"] > deadline:
        raise StateFailure(error, None)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _record_task_start(
    ex: Execution, track: Track, base: dict[str, Any], parameters: Any, limits: Limits
) -> None:
    """The TaskScheduled and TaskStarted events a call of an integration records (a real
    ``lambda:invoke`` and a mocked one alike); the scheduled details are built when read."""

    def scheduled() -> dict[str, Any]:
        details: dict[str, Any] = {
            **base,
            "region": ex.region,
            "parameters": to_json_string(parameters),
        }
        if limits.timeout is not None:
            details["timeoutInSeconds"] = limits.timeout
        if limits.heartbeat is not None:
            details["heartbeatInSeconds"] = limits.heartbeat
        return details

    ex.history.add(track, "TaskScheduled", "taskScheduledEventDetails", scheduled)
    ex.history.add(track, "TaskStarted", "taskStartedEventDetails", base)


def _record_task_failed(
    ex: Execution, track: Track, base: dict[str, Any], error: str | None, cause: str | None
) -> None:
    """The TaskTimedOut (for a timeout) or TaskFailed event of a call that failed."""
    kind = "TaskTimedOut" if error in _TIMEOUTS else "TaskFailed"
    ex.history.add(track, kind, _details_key(kind), {**base, "error": error, "cause": cause})


def _record_task_succeeded(ex: Execution, track: Track, base: dict[str, Any], output: Any) -> None:
    """The TaskSucceeded event of a call, its output encoded when the history is read."""
    history = ex.history
    history.add(
        track,
        "TaskSucceeded",
        "taskSucceededEventDetails",
        lambda: {**base, **history.data("output", output)},
    )


def _await_task_token(
    ex: Execution,
    frame: Frame,
    track: Track,
    base: dict[str, Any],
    token: str,
    submitted: Any,
    limits: Limits,
    started: float,
) -> Any:
    """``.waitForTaskToken``: the call's own answer is the TaskSubmitted event; the task's
    result is what SendTaskSuccess brings (SendTaskFailure and timeouts raise)."""
    history = ex.history
    history.add(
        track,
        "TaskSubmitted",
        "taskSubmittedEventDetails",
        lambda: {**base, **history.data("output", submitted)},
    )
    return ex.services.task_tokens.wait(
        token, ex, frame, timeout=limits.timeout, heartbeat=limits.heartbeat, started=started
    )
