"""The AWS Step Functions API (JSON 1.0 protocol: ``POST /`` with
``X-Amz-Target: AWSStepFunctions.<Operation>``) over :class:`Executions`, so the ``aws
stepfunctions`` CLI and ``boto3.client("stepfunctions")`` work unchanged."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sfnstack import arns
from sfnstack.serve import map_runs
from sfnstack.serve.definitions import validate_text
from sfnstack.serve.executions import (
    ExecutionRecord,
    Executions,
    SfnError,
    not_in_enum,
    required,
)
from sfnstack.serve.machines import CreatedMachines
from sfnstack.serve.test_state import run_test_state

log = logging.getLogger("sfnstack.serve.sfn")

__all__ = ["StepFunctionsApi"]

TARGET_PREFIX = "AWSStepFunctions."
CONTENT_TYPE = "application/x-amz-json-1.0"


def _page(
    items: list[Any], request: dict[str, Any], default: int = 100
) -> tuple[list[Any], str | None]:
    max_results = request.get("maxResults") or default
    if not isinstance(max_results, int) or not 0 <= max_results <= 1000:
        raise SfnError("ValidationException", "maxResults must be between 0 and 1000")
    max_results = max_results or default
    start = 0
    token = request.get("nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise SfnError("InvalidToken", f"Invalid Token: '{token}'") from exc
    end = start + max_results
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token


def _summary(record: ExecutionRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "executionArn": record.execution_arn,
        "stateMachineArn": record.state_machine_arn,
        "name": record.name,
        "status": record.status,
        "startDate": record.start_date,
    }
    if record.stop_date is not None:
        item["stopDate"] = record.stop_date
    if record.redrive_count:
        item["redriveCount"] = record.redrive_count
    if record.redrive_date is not None:
        item["redriveDate"] = record.redrive_date
    return item


class StepFunctionsApi:
    def __init__(self, executions: Executions) -> None:
        self.executions = executions
        # CreateStateMachine's machines: call machines.restore() before executions.restore()
        self.machines = CreatedMachines(executions, executions.data)
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartExecution": self.start_execution,
            "DescribeExecution": self.describe_execution,
            "ListExecutions": self.list_executions,
            "GetExecutionHistory": self.get_execution_history,
            "StopExecution": self.stop_execution,
            "RedriveExecution": self.redrive_execution,
            "ListStateMachines": self.list_state_machines,
            "DescribeStateMachine": self.describe_state_machine,
            "ValidateStateMachineDefinition": self.validate_state_machine_definition,
            "CreateStateMachine": self.create_state_machine,
            "UpdateStateMachine": self.update_state_machine,
            "DeleteStateMachine": self.delete_state_machine,
            "StartSyncExecution": self.start_sync_execution,
            "DescribeMapRun": self.describe_map_run,
            "ListMapRuns": self.list_map_runs,
            "TestState": self.test_state,
        }
        self.operations.update(task_token_operations(executions))

    # ------------------------------------------------------------------ WSGI
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                request = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise SfnError(
                    "SerializationException", f"Request body is not JSON: {exc}"
                ) from exc
            if not isinstance(request, dict):
                raise SfnError("SerializationException", "Request body must be a JSON object")
            handler = self.operations.get(operation)
            if handler is None:
                raise SfnError(
                    "UnknownOperationException", f"Operation not supported locally: {target}"
                )
            status, body = 200, handler(request)
        except SfnError as error:
            status, body = error.status, {"__type": error.code, "message": error.message}
        except Exception as exc:  # a bug here must reach the client as a 500, and the log
            log.exception("Step Functions %s failed", operation)
            status, body = 500, {"__type": "InternalFailure", "message": str(exc)}
        payload = json.dumps(body).encode()
        reason = {
            200: "OK",
            400: "Bad Request",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def start_execution_for(self, request: dict[str, Any], trigger: str) -> dict[str, Any]:
        """StartExecution in-process (the start API's integration): raises SfnError like the
        HTTP API, and logs which trigger started the execution."""
        return self._start(request, trigger)

    # ------------------------------------------------------------------ operations
    def start_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._start(request, "StartExecution API")

    def _start(self, request: dict[str, Any], trigger: str) -> dict[str, Any]:
        record = self.executions.start(
            required(request, "stateMachineArn"),
            request.get("input"),
            request.get("name"),
            trigger=trigger,
        )
        return {"executionArn": record.execution_arn, "startDate": record.start_date}

    def describe_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.executions.details(required(request, "executionArn"))
        body = _summary(record)
        body["input"] = record.input
        body["inputDetails"] = {"included": True}
        if record.output is not None:
            body["output"] = record.output
            body["outputDetails"] = {"included": True}
        if record.error is not None:
            body["error"] = record.error
        if record.cause is not None:
            body["cause"] = record.cause
        body["redriveCount"] = record.redrive_count
        if record.redrive_date is not None:
            body["redriveDate"] = record.redrive_date
        redrive_status, reason = record.redrive_status()
        body["redriveStatus"] = redrive_status
        if reason:
            body["redriveStatusReason"] = reason
        return body

    def list_executions(self, request: dict[str, Any]) -> dict[str, Any]:
        status = request.get("statusFilter")
        allowed = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"}
        if status is not None and status not in allowed:
            raise SfnError("ValidationException", f"Invalid statusFilter: '{status}'")
        redrive_filter = request.get("redriveFilter")
        if redrive_filter is not None and redrive_filter not in ("REDRIVEN", "NOT_REDRIVEN"):
            raise not_in_enum("redriveFilter", redrive_filter, ("REDRIVEN", "NOT_REDRIVEN"))
        records = self.executions.list(required(request, "stateMachineArn"), status, redrive_filter)
        page, token = _page(records, request)
        body: dict[str, Any] = {"executions": [_summary(r) for r in page]}
        if token:
            body["nextToken"] = token
        return body

    def get_execution_history(self, request: dict[str, Any]) -> dict[str, Any]:
        events = list(self.executions.history(required(request, "executionArn")))
        if request.get("reverseOrder"):
            events.reverse()
        if request.get("includeExecutionData") is False:
            events = [_without_data(e) for e in events]
        page, token = _page(events, request)
        body: dict[str, Any] = {"events": page}
        if token:
            body["nextToken"] = token
        return body

    def stop_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        stop_date = self.executions.stop(
            required(request, "executionArn"), request.get("error"), request.get("cause")
        )
        return {"stopDate": stop_date}

    def redrive_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        token = request.get("clientToken")
        if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 64):
            raise SfnError("ValidationException", "clientToken must be 1-64 characters")
        return {"redriveDate": self.executions.redrive(required(request, "executionArn"), token)}

    def list_state_machines(self, request: dict[str, Any]) -> dict[str, Any]:
        machines = sorted(self.executions.sm_by_arn.values(), key=lambda sm: sm.name)
        page, token = _page(machines, request)
        body: dict[str, Any] = {
            "stateMachines": [
                {
                    "stateMachineArn": sm.arn,
                    "name": sm.name,
                    "type": getattr(sm, "workflow_type", "STANDARD"),
                    "creationDate": self._creation_date(sm.arn),
                }
                for sm in page
            ]
        }
        if token:
            body["nextToken"] = token
        return body

    def _creation_date(self, arn: str) -> float:
        document = self.machines.document(arn)
        return document["creationDate"] if document else self.executions.created

    def describe_state_machine(self, request: dict[str, Any]) -> dict[str, Any]:
        sm = self.executions.state_machine(required(request, "stateMachineArn"))
        created = self.machines.document(sm.arn)
        if created is not None:  # made with CreateStateMachine: as it was made
            return {
                key: created[key]
                for key in (
                    "stateMachineArn", "name", "definition", "roleArn", "type", "creationDate",
                    "loggingConfiguration", "tracingConfiguration", "revisionId",
                )
            } | {"status": "ACTIVE"}  # fmt: skip
        definition = (
            sm.definition if isinstance(sm.definition, str) else json.dumps(sm.definition, indent=2)
        )
        partition, _, _, account = sm.arn.split(":")[1:5]
        properties = _template_properties(self.executions.runtime, sm.logical_id)
        return {
            "stateMachineArn": sm.arn,
            "name": sm.name,
            "status": "ACTIVE",
            "definition": definition,
            "roleArn": arns.role_arn(f"{sm.logical_id}Role", account, partition),
            "type": getattr(sm, "workflow_type", "STANDARD"),
            "creationDate": self.executions.created,
            "loggingConfiguration": _logging_configuration(properties),
            "tracingConfiguration": {
                "enabled": bool(
                    (properties.get("Tracing") or properties.get("TracingConfiguration") or {}).get(
                        "Enabled"
                    )
                )
            },
        }

    def start_sync_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.executions.start_sync(
            required(request, "stateMachineArn"), request.get("input"), request.get("name")
        )

    def describe_map_run(self, request: dict[str, Any]) -> dict[str, Any]:
        record, run = self.executions.map_run(required(request, "mapRunArn"))
        return map_runs.describe(run, record, self.executions.history(record.execution_arn))

    def list_map_runs(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.executions.record(required(request, "executionArn"))
        history = self.executions.history(record.execution_arn)
        started = {
            (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")
            for event in history
            if event.get("type") == "MapRunStarted"
        }  # the execution's own runs (not those of its child executions' nested Maps)
        runs = [run for run in list(record.map_runs) if run["mapRunArn"] in started]
        page, token = _page(runs, request)
        body: dict[str, Any] = {"mapRuns": [map_runs.summary(r, record, history) for r in page]}
        if token:
            body["nextToken"] = token
        return body

    def test_state(self, request: dict[str, Any]) -> dict[str, Any]:
        return run_test_state(request, self.executions.runtime.services())

    def validate_state_machine_definition(self, request: dict[str, Any]) -> dict[str, Any]:
        return validate_text(request)

    def create_state_machine(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.machines.create(request)

    def update_state_machine(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.machines.update(request)

    def delete_state_machine(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.machines.delete(request)


def _template_properties(runtime: Any, logical_id: str) -> dict[str, Any]:
    """The state machine's resolved template properties ({} without a template)."""
    template = getattr(runtime, "template", None)
    if template is None:
        return {}
    try:
        properties = template.resource(logical_id).get("Properties") or {}
        wanted = {
            k: v
            for k, v in properties.items()
            if k in ("Type", "StateMachineType", "Logging", "LoggingConfiguration", "Tracing",
                     "TracingConfiguration")
        }  # fmt: skip
        resolved = template.resolve(wanted, f"{logical_id}.Properties")
    except Exception:  # a value with no local meaning: report the defaults, not an error
        log.warning("cannot resolve %s's logging/tracing properties", logical_id, exc_info=True)
        return {}
    return resolved if isinstance(resolved, dict) else {}


def _logging_configuration(properties: dict[str, Any]) -> dict[str, Any]:
    """``Logging`` (SAM) or ``LoggingConfiguration`` (CloudFormation) as the API shows it."""
    logging_ = properties.get("Logging") or properties.get("LoggingConfiguration") or {}
    configuration: dict[str, Any] = {
        "level": str(logging_.get("Level") or "OFF"),
        "includeExecutionData": bool(logging_.get("IncludeExecutionData", False)),
    }
    destinations = []
    for destination in logging_.get("Destinations") or []:
        group = (destination or {}).get("CloudWatchLogsLogGroup") or {}
        if group.get("LogGroupArn"):
            destinations.append({"cloudWatchLogsLogGroup": {"logGroupArn": group["LogGroupArn"]}})
    if destinations:
        configuration["destinations"] = destinations
    return configuration


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            value = {
                k: v
                for k, v in value.items()
                if k not in ("input", "output", "inputDetails", "outputDetails")
            }
        out[key] = value
    return out


def task_token_operations(
    executions: Executions,
) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat (``.waitForTaskToken``)."""
    from sfnstack.serve.executions import send_task_result

    def operation(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda request: send_task_result(executions, name, request)

    return {
        name: operation(name)
        for name in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
    }
