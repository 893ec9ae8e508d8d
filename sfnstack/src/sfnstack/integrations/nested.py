"""``arn:aws:states:::states:startExecution`` (nested workflows) against the state machines
the runtime knows: request-response (the new execution's ARN and start date), ``.sync``
(waits; the child's DescribeExecution with Input and Output as JSON text), ``.sync:2``
(the same with Input and Output as JSON) and ``.waitForTaskToken``.

The executions are started through ``Services.executions`` (``NestedExecutions``): the
local runtime's own, or ``sfnstack serve``'s, which records the child like any other
execution (ListExecutions, DescribeExecution, its history)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Protocol

from .. import arns
from ..asl.errors import RuntimeFailure, StateFailure
from ..asl.history import Track
from ..asl.jsonvalue import to_json_string
from ..asl.task import Limits
from ..cooperative import sleep as cooperative_sleep
from .calls import IntegrationTask, sdk_metadata

if TYPE_CHECKING:
    from ..asl.context import Execution, Frame

_POLL_SECONDS = 0.05  # how often a .sync task looks at its child


class NestedExecutionError(Exception):
    """StartExecution refused: ``code`` as the Step Functions API names it
    (StateMachineDoesNotExist, ExecutionAlreadyExists, InvalidName, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NestedExecutions(Protocol):
    """What a runtime offers the ``states:startExecution`` integration."""

    def start(self, state_machine_arn: str, input_text: str, name: str | None) -> str:
        """Start an execution; its ARN. Raises ``NestedExecutionError``."""
        ...

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """``status``, ``input`` and ``output`` (JSON text), ``error``, ``cause``, ``name``,
        ``state_machine_arn``, ``start_date`` / ``stop_date`` (datetimes or None)."""
        ...

    def stop(self, execution_arn: str, error: str | None, cause: str | None) -> None: ...


class StartExecution(IntegrationTask):
    def request(
        self, ex: Execution, params: Any, frame: Frame, track: Track, limits: Limits
    ) -> Any:
        backend: NestedExecutions | None = ex.services.executions
        if backend is None:
            raise RuntimeFailure(
                f"The resource '{self.resource}' cannot run here: this runtime starts no"
                " other executions (Services.executions is None)"
            )
        if not isinstance(params, dict) or not isinstance(params.get("StateMachineArn"), str):
            raise RuntimeFailure(
                f"The resource '{self.resource}' needs Parameters.StateMachineArn (a string)"
            )
        name = params.get("Name")
        if name is not None and not isinstance(name, str):
            raise RuntimeFailure(f"The Name of '{self.resource}' must be a string")
        given = params.get("Input", {})
        input_text = given if isinstance(given, str) else to_json_string(given)
        try:
            child = backend.start(params["StateMachineArn"], input_text, name)
        except NestedExecutionError as exc:
            raise StateFailure(
                f"StepFunctions.{exc.code}Exception",
                f"{exc.message} (Service: AWSStepFunctions; Status Code: 400; Error Code:"
                f" {exc.code}; Proxy: null)",
            ) from None
        described = backend.describe(child)
        if not self.integration.pattern.startswith("sync"):
            started = {"ExecutionArn": child, "StartDate": _millis(described.get("start_date"))}
            request_id = str(uuid.uuid4())
            headers = {
                "x-amzn-RequestId": request_id,
                "Content-Type": "application/x-amz-json-1.0",
                "Content-Length": str(len(to_json_string(started)) - 2),
                "Date": format_datetime(datetime.now(UTC), usegmt=True),
            }
            return {**started, **sdk_metadata(headers, 200, request_id)}
        ex.history.add(
            track,
            "TaskSubmitted",
            "taskSubmittedEventDetails",
            lambda: {
                "resourceType": "states",
                "resource": f"startExecution.{self.integration.pattern}",
                **ex.history.data(
                    "output",
                    {"ExecutionArn": child, "StartDate": _millis(described.get("start_date"))},
                ),
            },
        )
        return self._wait(ex, frame, backend, child, limits)

    def _wait(
        self,
        ex: Execution,
        frame: Frame,
        backend: NestedExecutions,
        child: str,
        limits: Limits,
    ) -> Any:
        started = time.monotonic()
        try:
            while True:
                described = backend.describe(child)
                if described["status"] != "RUNNING":
                    break
                if limits.timeout is not None and time.monotonic() - started >= limits.timeout:
                    raise StateFailure("States.Timeout", None)
                ex.check(frame.scope)
                cooperative_sleep(_POLL_SECONDS)
        except BaseException:
            # the parent gave up (stopped, timed out, a sibling failed): so does the child
            backend.stop(child, "States.Aborted", f"the parent execution {ex.arn} stopped")
            raise
        result = _describe_output(described, child, as_json=self.integration.pattern == "sync:2")
        if described["status"] != "SUCCEEDED":
            raise StateFailure("States.TaskFailed", to_json_string(result))
        return result


def _describe_output(described: dict[str, Any], arn: str, *, as_json: bool) -> dict[str, Any]:
    """The child as DescribeExecution answers (Step Functions' member names)."""
    import json

    def value(text: str | None) -> Any:
        if text is None or not as_json:
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text

    result: dict[str, Any] = {
        "ExecutionArn": arn,
        "Input": value(described.get("input")),
        "InputDetails": {"Included": True},
        "Name": described.get("name"),
        "StartDate": _millis(described.get("start_date")),
        "StateMachineArn": described.get("state_machine_arn"),
        "Status": described["status"],
        "StopDate": _millis(described.get("stop_date")),
    }
    if described.get("output") is not None:
        result["Output"] = value(described["output"])
        result["OutputDetails"] = {"Included": True}
    if described.get("error") is not None:
        result["Error"] = described["error"]
    if described.get("cause") is not None:
        result["Cause"] = described["cause"]
    return result


def _millis(moment: Any) -> int | None:
    """A date as the integration returns it: epoch milliseconds."""
    if moment is None:
        return None
    if isinstance(moment, int | float):
        return int(moment * 1000)
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    return None


def state_machine_key(state_machine_arn: str) -> str:
    """A state machine ARN's name (what the runtime looks machines up by, with the ARN)."""
    parts = state_machine_arn.split(":")
    if len(parts) >= 7 and parts[5] == "stateMachine" and parts[1] in arns.PARTITIONS:
        return parts[6]
    return state_machine_arn


# The AWS SDK integration's Step Functions actions that concern this runtime's own
# executions and tasks: answered by the runtime, not by moto's Step Functions.
SFN_RUNTIME_ACTIONS = frozenset(
    {
        "startExecution",
        "describeExecution",
        "stopExecution",
        "sendTaskSuccess",
        "sendTaskFailure",
        "sendTaskHeartbeat",
    }
)


class SfnSdkCall(IntegrationTask):
    """``arn:aws:states:::aws-sdk:sfn:ACTION`` for ``SFN_RUNTIME_ACTIONS``: a state machine
    starting or describing the runtime's executions, or handing another task its token.
    Errors are the SDK integration's (``Sfn.InvalidTokenException``, ...)."""

    def request(
        self, ex: Execution, params: Any, frame: Frame, track: Track, limits: Limits
    ) -> Any:
        from .tokens import TaskTokenError

        if not isinstance(params, dict):
            raise RuntimeFailure(f"The parameters of '{self.resource}' must be a JSON object")
        action = self.integration.action
        try:
            if action.startswith("sendTask"):
                return self._send_task(ex, action, params)
            backend: NestedExecutions | None = ex.services.executions
            if backend is None:
                raise RuntimeFailure(
                    f"The resource '{self.resource}' cannot run here: this runtime starts no"
                    " other executions (Services.executions is None)"
                )
            if action == "startExecution":
                given = _required(params, "StateMachineArn", self.resource)
                input_text = params.get("Input", "{}")
                if not isinstance(input_text, str):
                    input_text = to_json_string(input_text)
                child = backend.start(given, input_text, params.get("Name"))
                described = backend.describe(child)
                return {"ExecutionArn": child, "StartDate": _iso(described.get("start_date"))}
            arn = _required(params, "ExecutionArn", self.resource)
            if action == "stopExecution":
                backend.describe(arn)  # ExecutionDoesNotExist for an unknown one
                backend.stop(arn, params.get("Error"), params.get("Cause"))
                return {"StopDate": _iso(datetime.now(UTC))}
            described = backend.describe(arn)
        except NestedExecutionError as exc:
            raise _sfn_failure(exc.code, exc.message) from None
        except TaskTokenError as exc:
            raise _sfn_failure(exc.code, exc.message) from None
        result = {
            key: value
            for key, value in _describe_output(described, arn, as_json=False).items()
            if value is not None
        }
        for key, field in (("StartDate", "start_date"), ("StopDate", "stop_date")):
            if key in result:  # the SDK integration's dates are ISO 8601, not epoch millis
                result[key] = _iso(described.get(field))
        return result

    def _send_task(self, ex: Execution, action: str, params: dict[str, Any]) -> Any:
        tokens = ex.services.task_tokens
        token = _required(params, "TaskToken", self.resource)
        if action == "sendTaskSuccess":
            output = params.get("Output")
            tokens.succeed(token, output if isinstance(output, str) else to_json_string(output))
        elif action == "sendTaskFailure":
            tokens.fail(token, params.get("Error"), params.get("Cause"))
        else:
            tokens.heartbeat(token)
        return {}


def _required(params: dict[str, Any], name: str, resource: str) -> Any:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise RuntimeFailure(f"The resource '{resource}' needs the parameter {name} (a string)")
    return value


def _sfn_failure(code: str, message: str) -> StateFailure:
    return StateFailure(
        f"Sfn.{code if code.endswith('Exception') else code + 'Exception'}",
        f"{message} (Service: Sfn, Status Code: 400, Request ID: local)",
    )


def _iso(moment: Any) -> str | None:
    from ..asl.context import iso_timestamp

    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    return iso_timestamp(moment) if isinstance(moment, datetime) else None
