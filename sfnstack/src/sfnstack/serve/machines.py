"""State machines made through the API (CreateStateMachine, UpdateStateMachine,
DeleteStateMachine) beside the template's: registered with the local runtime, so their Task
states call the template's functions by ARN, and saved under the data directory
(``state-machines/``), so they survive a restart as executions do.

The template's own state machines are the template's: UpdateStateMachine and
DeleteStateMachine refuse them (``ValidationException``, naming the template), since the
next start would bring them back as the template says."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any

from sfnstack import arns
from sfnstack.serve.definitions import parse_definition, parse_workflow_type
from sfnstack.serve.executions import Executions, SfnError, required, validate_name
from sfnstack.serve.store import DataDir

__all__ = ["CreatedMachines"]

LOGICAL_ID_PREFIX = "api:"  # the runtime's key of a machine made through the API
_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_DEFAULT_LOGGING = {"level": "OFF", "includeExecutionData": False}
_DEFAULT_TRACING = {"enabled": False}


def _role(value: Any) -> str:
    if not isinstance(value, str) or not _ROLE_ARN.fullmatch(value):
        raise SfnError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {value}'"
        )
    return value


def _object(request: dict[str, Any], field: str, default: dict[str, Any]) -> dict[str, Any]:
    value = request.get(field)
    if value is None:
        return dict(default)
    if not isinstance(value, dict):
        raise SfnError("ValidationException", f"{field} must be an object")
    return {**default, **value}


class CreatedMachines:
    """The API's own state machines, kept in ``Executions.sm_by_arn`` beside the template's."""

    def __init__(self, executions: Executions, data: DataDir) -> None:
        self.executions = executions
        self.data = data
        self.runtime: Any = executions.runtime
        self._lock = threading.Lock()
        self._documents: dict[str, dict[str, Any]] = {}  # arn -> saved document

    # ------------------------------------------------------------------ registry
    def restore(self) -> int:
        """Register the saved machines again (before executions are restored, so theirs
        find their machine). Returns how many."""
        restored = 0
        for document in self.data.state_machines_saved():
            try:
                self._register(document)
            except (SfnError, KeyError, TypeError, ValueError):
                continue  # a document edited by hand into something invalid: not restored
            restored += 1
        return restored

    def _register(self, document: dict[str, Any]) -> None:
        definition = json.loads(document["definition"])
        machine = self.runtime.add_state_machine(
            definition,
            name=document["name"],
            logical_id=LOGICAL_ID_PREFIX + document["name"],
            workflow_type=document["type"],
        )
        self.executions.sm_by_arn[machine.arn] = machine
        self._documents[machine.arn] = document

    def document(self, arn: str) -> dict[str, Any] | None:
        """The saved document of a machine made through the API (None for the template's)."""
        return self._documents.get(arn)

    def _template_machine(self, arn: str) -> None:
        """Refuse to change a machine of the template."""
        path = getattr(getattr(self.runtime, "template", None), "path", None)
        where = f" ({path})" if path else ""
        raise SfnError(
            "ValidationException",
            f"State machine '{arn}' is defined in the template{where}: sfnstack serve runs it"
            " as the template says, so change the template instead (only state machines made"
            " with CreateStateMachine can be updated or deleted)",
        )

    # ------------------------------------------------------------------ operations
    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        name = required(request, "name")
        if not isinstance(name, str):
            raise SfnError("InvalidName", f"Invalid Name: '{name}'")
        validate_name(name)
        text = required(request, "definition")
        role_arn = _role(required(request, "roleArn"))
        workflow_type = parse_workflow_type(request.get("type") or None)
        parse_definition(text, workflow_type)
        region, account = self.runtime.region, self.runtime.account_id
        arn = arns.state_machine_arn(name, region, account)
        now = time.time()
        document = {
            "stateMachineArn": arn,
            "name": name,
            "definition": text,
            "roleArn": role_arn,
            "type": workflow_type,
            "creationDate": now,
            "updateDate": now,
            "revisionId": str(uuid.uuid4()),
            "loggingConfiguration": _object(request, "loggingConfiguration", _DEFAULT_LOGGING),
            "tracingConfiguration": _object(request, "tracingConfiguration", _DEFAULT_TRACING),
            "tags": request.get("tags") or [],
        }
        with self._lock:
            existing = self._documents.get(arn)
            if existing is not None:
                # AWS: the same request again returns the machine; anything else differing
                # is a conflict
                same = all(
                    existing[key] == document[key]
                    for key in ("definition", "roleArn", "type", "loggingConfiguration")
                )
                if same:
                    return {"stateMachineArn": arn, "creationDate": existing["creationDate"]}
                raise SfnError(
                    "StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'"
                )
            if arn in self.executions.sm_by_arn:
                raise SfnError(
                    "StateMachineAlreadyExists",
                    f"State Machine Already Exists: '{arn}' (a state machine of the template)",
                )
            self._register(document)
            self.data.save_state_machine(document)
        return {"stateMachineArn": arn, "creationDate": now}

    def update(self, request: dict[str, Any]) -> dict[str, Any]:
        arn = required(request, "stateMachineArn")
        self.executions.state_machine(arn)  # InvalidArn / StateMachineDoesNotExist
        fields = ("definition", "roleArn", "loggingConfiguration", "tracingConfiguration")
        if all(request.get(key) is None for key in fields):
            raise SfnError(
                "MissingRequiredParameter",
                "Either the definition, the role ARN, the LoggingConfiguration, "
                "or the TracingConfiguration must be specified",
            )
        with self._lock:
            existing = self._documents.get(arn)
            if existing is None:
                self._template_machine(arn)
            assert existing is not None
            document = dict(existing)
            if request.get("definition") is not None:
                parse_definition(request["definition"], document["type"])
                document["definition"] = request["definition"]
            if request.get("roleArn") is not None:
                document["roleArn"] = _role(request["roleArn"])
            for key, default in (
                ("loggingConfiguration", _DEFAULT_LOGGING),
                ("tracingConfiguration", _DEFAULT_TRACING),
            ):
                if request.get(key) is not None:
                    document[key] = _object(request, key, default)
            document["updateDate"] = time.time()
            document["revisionId"] = str(uuid.uuid4())
            self._register(document)  # executions already running keep the old definition
            self.data.save_state_machine(document)
        return {"updateDate": document["updateDate"], "revisionId": document["revisionId"]}

    def delete(self, request: dict[str, Any]) -> dict[str, Any]:
        arn = required(request, "stateMachineArn")
        try:
            self.executions.state_machine(arn)
        except SfnError as error:
            if error.code == "StateMachineDoesNotExist":
                return {}  # AWS: deleting a deleted machine succeeds
            raise
        with self._lock:
            document = self._documents.pop(arn, None)
            if document is None:
                self._template_machine(arn)
            assert document is not None
            self.executions.sm_by_arn.pop(arn, None)
            self.runtime.remove_state_machine(LOGICAL_ID_PREFIX + document["name"])
            self.data.delete_state_machine(arn)
        return {}
