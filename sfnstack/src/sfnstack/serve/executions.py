"""Executions as the Step Functions API sees them: started through the local runtime,
recorded (input, status, output, error, history) under the data directory, answerable after
a restart. Executions that were running when the server went away are marked ABORTED."""

from __future__ import annotations

import builtins
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sfnstack.mocks import ENV_VAR as MOCK_CONFIG_ENV
from sfnstack.mocks import MockConfig, MockConfigError, TestCase
from sfnstack.serve.store import DataDir

log = logging.getLogger("sfnstack.serve")

__all__ = ["ExecutionRecord", "Executions", "SfnError", "epoch"]

MAX_INPUT_BYTES = 256 * 1024
SNAPSHOT_SECONDS = 10.0  # how often a running execution's history so far is saved
_NAME_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


class SfnError(Exception):
    """An error the Step Functions API returns: ``{"__type": code, "message": ...}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class Runtime(Protocol):
    """What ``sfnstack.local.LocalRuntime`` offers (see docs/architecture.md)."""

    buckets: dict[str, str]
    state_machines: dict[str, Any]

    def start_execution(
        self,
        state_machine: str,
        input: Any = None,
        *,
        name: str | None = None,
        listener: Any = None,
        test_case: Any = None,
    ) -> Any: ...

    def close(self) -> None: ...


def epoch(value: Any) -> float | None:
    """A timestamp as the AWS JSON protocol sends it: epoch seconds as a float."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    raise TypeError(f"not a timestamp: {value!r}")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """A history event with its timestamp as epoch seconds (JSON-serialisable)."""
    out = dict(event)
    if "timestamp" in out:
        out["timestamp"] = epoch(out["timestamp"])
    return json.loads(json.dumps(out, default=str))


@dataclass
class ExecutionRecord:
    execution_arn: str
    state_machine_arn: str
    name: str
    input: str
    status: str
    start_date: float
    trigger: str
    stop_date: float | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] | None = None  # set once closed

    def to_json(self) -> dict[str, Any]:
        return {
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "input": self.input,
            "status": self.status,
            "startDate": self.start_date,
            "stopDate": self.stop_date,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
            "trigger": self.trigger,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ExecutionRecord:
        return cls(
            execution_arn=doc["executionArn"],
            state_machine_arn=doc["stateMachineArn"],
            name=doc["name"],
            input=doc["input"],
            status=doc["status"],
            start_date=doc["startDate"],
            trigger=doc.get("trigger", ""),
            stop_date=doc.get("stopDate"),
            output=doc.get("output"),
            error=doc.get("error"),
            cause=doc.get("cause"),
            history=doc.get("history"),
        )


def validate_name(name: str) -> None:
    if not 1 <= len(name) <= 80 or _NAME_FORBIDDEN.search(name):
        raise SfnError(
            "InvalidName",
            f"Invalid Name: '{name}' (1-80 characters, no whitespace, brackets, wildcards "
            "or special characters)",
        )


def parse_input(text: str) -> Any:
    if len(text.encode("utf-8")) > MAX_INPUT_BYTES:
        raise SfnError("InvalidExecutionInput", "Execution input exceeds the 256 KiB limit")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SfnError(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'"
        ) from exc


def outcome_summary(output: str | None) -> str | None:
    """Per-city outcome counts, if the execution output carries them (``by_status`` or
    ``counts``, at the top level or under ``summary``), as ``"3 cities: ok 2, error 1"``."""
    if not output:
        return None
    try:
        document = json.loads(output)
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    for candidate in (document, document.get("summary")):
        if not isinstance(candidate, dict):
            continue
        counts = candidate.get("by_status", candidate.get("counts"))
        if isinstance(counts, dict) and all(isinstance(v, int) for v in counts.values()):
            total = candidate.get("total", sum(counts.values()))
            noun = "city" if total == 1 else "cities"
            text = f"{total} {noun}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
            reasons = candidate.get("errors_by_reason")
            if isinstance(reasons, dict) and reasons:
                text += " (" + ", ".join(f"{k}: {v}" for k, v in reasons.items()) + ")"
            return text
    return None


class Executions:
    """Start, track, persist and answer for executions of the runtime's state machines."""

    def __init__(
        self,
        runtime: Runtime,
        data: DataDir,
        on_closed: Callable[[ExecutionRecord], None] | None = None,
        mock_config: MockConfig | None = None,
    ) -> None:
        self.runtime = runtime
        self.data = data
        self.on_closed = on_closed
        self.mock_config = mock_config  # SFN_MOCK_CONFIG: test cases chosen by 'ARN#Name'
        self._lock = threading.RLock()
        self._records: dict[str, ExecutionRecord] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._live: dict[str, Any] = {}  # arn -> runtime execution handle
        self._watchers: list[threading.Thread] = []
        self._accepting = True
        self.sm_by_arn: dict[str, Any] = {sm.arn: sm for sm in runtime.state_machines.values()}
        self.created = time.time()

    # ------------------------------------------------------------------ restore
    def restore(self) -> tuple[int, int]:
        """Load saved executions; the ones saved as RUNNING become ABORTED. Returns
        (loaded, aborted)."""
        loaded = aborted = 0
        for document in self.data.executions_saved():
            record = ExecutionRecord.from_json(document)
            if record.status == "RUNNING":
                record.history = document.get("historySoFar") or None
                self._mark_aborted(record, "sfnstack serve stopped while the execution was running")
                self.data.save_execution(record.to_json())
                aborted += 1
            with self._lock:
                self._records[record.execution_arn] = record
                self._by_name[(record.state_machine_arn, record.name)] = record.execution_arn
            loaded += 1
        return loaded, aborted

    def _mark_aborted(self, record: ExecutionRecord, cause: str) -> None:
        now = time.time()
        history = list(record.history or [])
        if not history:  # the process died before the history was saved: keep the start
            history.append(
                {
                    "timestamp": record.start_date,
                    "type": "ExecutionStarted",
                    "id": 1,
                    "previousEventId": 0,
                    "executionStartedEventDetails": {
                        "input": record.input,
                        "inputDetails": {"truncated": False},
                    },
                }
            )
        last_id = history[-1]["id"] if history else 0
        history.append(
            {
                "timestamp": now,
                "type": "ExecutionAborted",
                "id": last_id + 1,
                "previousEventId": last_id,
                "executionAbortedEventDetails": {"error": "States.Aborted", "cause": cause},
            }
        )
        record.status = "ABORTED"
        record.stop_date = now
        record.error = "States.Aborted"
        record.cause = cause
        record.history = history

    # ------------------------------------------------------------------ lookups
    def state_machine(self, arn: Any) -> Any:
        if not isinstance(arn, str) or not re.fullmatch(
            r"arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[^:]+", arn
        ):
            raise SfnError(
                "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'"
            )
        sm = self.sm_by_arn.get(arn)
        if sm is None:
            raise SfnError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return sm

    def record(self, arn: Any) -> ExecutionRecord:
        if not isinstance(arn, str) or not re.fullmatch(
            r"arn:aws[\w-]*:states:[\w-]+:\d{12}:execution:[^:]+:[^:]+", arn
        ):
            raise SfnError(
                "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'"
            )
        with self._lock:
            record = self._records.get(arn)
        if record is None:
            raise SfnError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return record

    def list(self, sm_arn: str, status: str | None = None) -> list[ExecutionRecord]:
        self.state_machine(sm_arn)
        with self._lock:
            records = [r for r in self._records.values() if r.state_machine_arn == sm_arn]
        if status:
            records = [r for r in records if r.status == status]
        return sorted(records, key=lambda r: r.start_date, reverse=True)

    def history(self, arn: str) -> builtins.list[dict[str, Any]]:  # (`list` is a method here)
        record = self.record(arn)
        with self._lock:
            handle = self._live.get(arn)
        if record.history is not None:
            return record.history
        if handle is not None:
            return [normalise_event(e) for e in list(handle.history)]
        return []

    # ------------------------------------------------------------------ start / stop
    def start(
        self, sm_arn: Any, input_text: str | None, name: str | None, trigger: str
    ) -> ExecutionRecord:
        # Step Functions Local's way to choose a mock test case: 'stateMachineArn#TestCase'
        test_case_name = None
        if isinstance(sm_arn, str) and "#" in sm_arn:
            sm_arn, test_case_name = sm_arn.split("#", 1)
        sm = self.state_machine(sm_arn)
        test_case = self._test_case(sm, test_case_name)
        text = "{}" if input_text is None else input_text
        if not isinstance(text, str):
            raise SfnError("ValidationException", "input must be a string of JSON")
        payload = parse_input(text)
        if name is None:
            name = str(uuid.uuid4())
        validate_name(name)
        with self._lock:
            if not self._accepting:
                raise SfnError("ServiceUnavailable", "sfnstack serve is shutting down", status=503)
            existing_arn = self._by_name.get((sm.arn, name))
            if existing_arn is not None:
                existing = self._records[existing_arn]
                # AWS, Standard workflows: same name and input while running -> the same
                # execution; closed, or different input -> ExecutionAlreadyExists.
                if existing.status == "RUNNING" and existing.input == text:
                    return existing
                raise SfnError(
                    "ExecutionAlreadyExists", f"Execution Already Exists: '{existing_arn}'"
                )
            # logged first: the execution's own progress lines follow it
            log.info("execution %s started by %s (%s)", name, trigger, _short(sm.arn))
            try:
                handle = self.runtime.start_execution(
                    sm.logical_id,
                    payload,
                    name=name,
                    listener=_progress_logger(sm, name),
                    test_case=test_case,
                )
            except Exception as exc:
                log.error("execution %s could not start: %s", name, exc)
                raise
            record = ExecutionRecord(
                execution_arn=handle.arn,
                state_machine_arn=sm.arn,
                name=handle.name,
                input=text,
                status="RUNNING",
                start_date=epoch(getattr(handle, "start_date", None)) or time.time(),
                trigger=trigger,
            )
            self._records[record.execution_arn] = record
            self._by_name[(sm.arn, record.name)] = record.execution_arn
            self._live[record.execution_arn] = handle
            self.data.save_execution(record.to_json())
            watcher = threading.Thread(
                target=self._watch, args=(record, handle), name=f"watch-{name}", daemon=True
            )
            self._watchers.append(watcher)
        watcher.start()
        return record

    def _test_case(self, sm: Any, name: str | None) -> TestCase | None:
        if name is None:
            return None
        if self.mock_config is None:
            raise SfnError(
                "ValidationException",
                f"test case '{name}' chosen, but no mock configuration is loaded"
                f" (set {MOCK_CONFIG_ENV} before starting sfnstack serve)",
            )
        try:
            test_case = self.mock_config.test_case([sm.name, sm.logical_id], name)
            test_case.check_definition(sm.definition)
        except MockConfigError as exc:
            raise SfnError("ValidationException", str(exc)) from None
        return test_case

    def _watch(self, record: ExecutionRecord, handle: Any) -> None:
        result: Any = None
        while True:
            try:
                result = handle.wait(SNAPSHOT_SECONDS)
                break
            except TimeoutError:
                # still running: save the history so far, so a killed server loses little
                self._snapshot(record, handle)
            except Exception as exc:  # the interpreter crashed: the execution failed, visibly
                log.exception("execution %s crashed the runtime", record.name)
                crash = f"{type(exc).__name__}: {exc}"
                break
        with self._lock:
            if record.status == "RUNNING" and result is None:
                record.history = [normalise_event(e) for e in list(handle.history)]
                record.status, record.error, record.cause = "FAILED", "States.Runtime", crash
                record.stop_date = time.time()
            elif record.status == "RUNNING":
                record.status = result.status
                record.output = _json_text(result.output)
                record.error = result.error
                record.cause = result.cause
                record.stop_date = epoch(result.stop_date) or time.time()
                record.history = [normalise_event(e) for e in result.history]
            self._live.pop(record.execution_arn, None)
            self.data.save_execution(record.to_json())
        self._log_closed(record)
        if self.on_closed:
            self.on_closed(record)

    def _snapshot(self, record: ExecutionRecord, handle: Any) -> None:
        with self._lock:
            if record.status != "RUNNING":
                return
            document = record.to_json()
            document["historySoFar"] = [normalise_event(e) for e in list(handle.history)]
            self.data.save_execution(document)

    def _log_closed(self, record: ExecutionRecord) -> None:
        took = (record.stop_date or time.time()) - record.start_date
        message = f"execution {record.name} {record.status} in {took:.1f}s"
        outcome = outcome_summary(record.output)
        if outcome:
            message += f" — {outcome}"
        if record.error:
            message += f" — error {record.error}: {(record.cause or '')[:300]}"
        (log.info if record.status == "SUCCEEDED" else log.warning)(message)

    def stop(self, arn: str, error: str | None, cause: str | None) -> float:
        record = self.record(arn)
        with self._lock:
            handle = self._live.get(arn)
        if handle is None or record.status != "RUNNING":
            return record.stop_date or time.time()
        handle.stop(error, cause)
        try:
            handle.wait(30)
        except Exception:  # still running (a Lambda that ignores the stop) or crashed
            log.warning("execution %s did not stop within 30s; recording it ABORTED", record.name)
        with self._lock:
            if record.status == "RUNNING":  # the runtime did not close it in time
                self._mark_aborted(record, cause or "stopped")
                record.error, record.cause = error, cause
                self._live.pop(arn, None)
                self.data.save_execution(record.to_json())
        return record.stop_date or time.time()

    def running(self) -> builtins.list[ExecutionRecord]:
        with self._lock:
            return [r for r in self._records.values() if r.status == "RUNNING"]

    def shutdown(self, grace_seconds: float, hurry: threading.Event | None = None) -> None:
        """Refuse new executions, let running ones finish within the grace period (cut short
        when ``hurry`` is set: a second Ctrl-C), then stop the rest and record them as
        ABORTED."""
        with self._lock:
            self._accepting = False
            watchers = list(self._watchers)
        deadline = time.monotonic() + grace_seconds
        if self.running():
            log.info(
                "waiting up to %.0fs for %d running execution(s)",
                grace_seconds,
                len(self.running()),
            )
        for watcher in watchers:
            while watcher.is_alive() and time.monotonic() < deadline:
                if hurry is not None and hurry.is_set():
                    break
                watcher.join(min(0.2, max(0.0, deadline - time.monotonic())))
        for record in self.running():
            with self._lock:
                handle = self._live.get(record.execution_arn)
            if handle is not None:
                try:
                    handle.stop("States.Aborted", "sfnstack serve stopped")
                except Exception:  # the runtime may already be gone
                    log.exception("could not stop %s", record.name)
            with self._lock:
                if record.status == "RUNNING":
                    if handle is not None:
                        record.history = [normalise_event(e) for e in list(handle.history)]
                    self._mark_aborted(
                        record, "sfnstack serve stopped before the execution finished"
                    )
                    self._live.pop(record.execution_arn, None)
                    self.data.save_execution(record.to_json())
            log.warning("execution %s ABORTED (server stopping)", record.name)


def _progress_logger(sm: Any, execution_name: str) -> Callable[[dict[str, Any]], None]:
    """Logs an execution's progress through its top-level states (not every Map
    iteration), so a long run shows where it is."""
    definition = sm.definition if isinstance(sm.definition, dict) else {}
    top_level = set(definition.get("States") or {})

    def listener(event: dict[str, Any]) -> None:
        try:
            kind = str(event.get("type", ""))
            if kind.endswith("StateEntered"):
                state = (event.get("stateEnteredEventDetails") or {}).get("name")
                if state in top_level:
                    log.info("execution %s: %s", execution_name, state)
            elif kind in ("MapRunFailed", "ExecutionTimedOut"):
                log.warning("execution %s: %s", execution_name, kind)
        except Exception:  # progress logging must never disturb the execution
            pass

    return listener


def _short(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
