"""Executions as the Step Functions API sees them: started through the local runtime,
recorded (input, status, output, error, history) under the data directory, answerable after
a restart. Executions that were running when the server went away are marked ABORTED.

Every execution's progress (top-level states entered with their input, succeeded
iterations of the top-level Map with their output) is journaled as it happens, so
RedriveExecution can continue a FAILED, ABORTED or TIMED_OUT execution from the state that
did not succeed, re-running only the Map iterations that did not, also after the server
was killed. Closed executions' histories live on disk only (read back when asked for), so
memory does not grow with the number of executions."""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sfnstack import arns
from sfnstack.asl.errors import TIMEOUT as TIMEOUT_ERROR
from sfnstack.asl.progress import Progress, Resume
from sfnstack.mocks import ENV_VAR as MOCK_CONFIG_ENV
from sfnstack.mocks import MockConfig, MockConfigError, TestCase
from sfnstack.serve.store import DataDir

log = logging.getLogger("sfnstack.serve")

__all__ = ["ExecutionRecord", "Executions", "SfnError", "epoch"]

MAX_INPUT_BYTES = 256 * 1024
SNAPSHOT_SECONDS = 10.0  # how often a running execution's history so far is saved
# RedriveExecution's limits (AWS: Standard workflows, within 14 days of the stop, at most
# 1,000 redrives, a history under the 25,000-event limit).
REDRIVABLE_STATUSES = ("FAILED", "ABORTED", "TIMED_OUT")
REDRIVE_PERIOD_SECONDS = 14 * 24 * 3600
MAX_REDRIVES = 1000
MAX_HISTORY_EVENTS = 25_000
SYNC_TIMEOUT_SECONDS = 300.0  # StartSyncExecution's limit: Express workflows run up to 5 min
_NAME_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


class SfnError(Exception):
    """An error the Step Functions API returns: ``{"__type": code, "message": ...}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def null_member(field: str) -> SfnError:
    """The ValidationException AWS gives for a required member that is missing."""
    return SfnError(
        "ValidationException",
        f"1 validation error detected: Value null at '{field}' failed to satisfy constraint: "
        "Member must not be null",
    )


def not_in_enum(field: str, value: Any, allowed: Iterable[str]) -> SfnError:
    """The ValidationException AWS gives for a member outside its enum."""
    return SfnError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]",
    )


def required(request: dict[str, Any], field: str) -> Any:
    """``request[field]``, which must be given (not null, not empty)."""
    if request.get(field) in (None, ""):
        raise null_member(field)
    return request[field]


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
        record_history: bool = True,
        progress: Any = None,
        test_case: Any = None,
    ) -> Any: ...

    def services(self) -> Any: ...

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


def _output_text(status: str, value: Any) -> str | None:
    """An execution's output as JSON text (a string output too: ``"text"``, quoted); none
    unless it succeeded."""
    if status != "SUCCEEDED":
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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
    history: list[dict[str, Any]] | None = None  # while being closed; then on disk only
    redrive_count: int = 0
    redrive_date: float | None = None
    history_events: int = 0  # events in the saved history (for the redrive limit and ids)
    # Closed and saved: input, output and cause (up to 256 KiB each) are read back from
    # disk when asked for (Executions.details), not kept for every execution ever run.
    offloaded: bool = False
    # Its Distributed Maps' map runs as they started (sfnstack.serve.map_runs counts them)
    map_runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)

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
            "redriveCount": self.redrive_count,
            "redriveDate": self.redrive_date,
            "historyEvents": self.history_events,
            "mapRuns": self.map_runs,
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
            redrive_count=int(doc.get("redriveCount") or 0),
            redrive_date=doc.get("redriveDate"),
            history_events=int(doc.get("historyEvents") or len(doc.get("history") or [])),
            map_runs=list(doc.get("mapRuns") or []),
        )

    def redrive_status(self, now: float | None = None) -> tuple[str, str | None]:
        """DescribeExecution's ``redriveStatus`` and ``redriveStatusReason``."""
        if self.status not in REDRIVABLE_STATUSES:
            return "NOT_REDRIVABLE", f"Execution is {self.status} and cannot be redriven"
        if self.history_events >= MAX_HISTORY_EVENTS:
            return "NOT_REDRIVABLE", "Execution history event limit exceeded"
        if self.redrive_count >= MAX_REDRIVES:
            return "NOT_REDRIVABLE", f"Execution has been redriven {MAX_REDRIVES} times"
        stopped = self.stop_date or self.start_date
        if (now or time.time()) - stopped > REDRIVE_PERIOD_SECONDS:
            return "NOT_REDRIVABLE", "Execution redrivable period exceeded"
        return "REDRIVABLE", None


class ProgressJournal(Progress):
    """An execution's progress as JSON lines, appended and flushed as it happens (a killed
    server loses at most the line being written; a torn last line is skipped):

        {"entered": STATE, "input": ...}                 a top-level state was entered
        {"entered": STATE, "input": ..., "keep": true}   ... resumed by a redrive
        {"map": STATE, "index": N, "output": ...}        an iteration of it succeeded
    """

    def __init__(
        self,
        path: Path,
        resume: Resume | None = None,
        on_map_run: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(resume)
        self.path = path
        self.on_map_run = on_map_run  # DescribeMapRun's facts (kept with the execution)
        self._lock = threading.Lock()
        self._handle: Any = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._resuming = resume is not None

    def _write(self, document: dict[str, Any]) -> None:
        line = json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            if self._handle is not None:
                self._handle.write(line)
                self._handle.flush()

    def state_entered(self, state: str, data: Any) -> None:
        document = {"entered": state, "input": data}
        if self._resuming:  # the resumed state keeps the iterations recorded before
            document["keep"] = True
            self._resuming = False
        self._write(document)

    def iteration_succeeded(self, state: str, index: int, output: Any) -> None:
        self._write({"map": state, "index": index, "output": output})

    def map_run_started(self, run: dict[str, Any]) -> None:
        if self.on_map_run is not None:
            self.on_map_run(run)

    def close(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    @staticmethod
    def read(path: Path) -> tuple[str | None, Any, dict[int, Any]]:
        """(last top-level state entered, its input, its succeeded iterations)."""
        state: str | None = None
        data: Any = None
        done: dict[int, Any] = {}
        if not path.exists():
            return state, data, done
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    document = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a crash
                if "entered" in document:
                    if not (document.get("keep") and document["entered"] == state):
                        done = {}
                    state, data = document["entered"], document.get("input")
                elif document.get("map") == state and isinstance(document.get("index"), int):
                    done[document["index"]] = document.get("output")
        return state, data, done


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
    """Start, track, persist, redrive and answer for executions of the runtime's state
    machines."""

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
        self._earlier: dict[str, list[dict[str, Any]]] = {}  # arn -> history before a redrive
        self._redrive_tokens: dict[str, str] = {}  # arn -> clientToken of its last redrive
        self._watchers: set[threading.Thread] = set()
        self._map_runs: dict[str, str] = {}  # map run arn -> its execution's arn
        self._accepting = True
        self.sm_by_arn: dict[str, Any] = {sm.arn: sm for sm in runtime.state_machines.values()}
        self.created = time.time()
        if hasattr(runtime, "nested_executions"):  # states:startExecution records its children
            runtime.nested_executions = RecordedExecutions(self)

    # ------------------------------------------------------------------ persistence
    def _journal_path(self, arn: str) -> Path:
        return self.data.execution_path(arn, ".progress.jsonl")

    def _save_closed(self, record: ExecutionRecord) -> None:
        """Write a closed execution (its history to its own file) and drop the history
        from memory. Called with the lock held."""
        history = record.history or []
        self.data.save_history(record.execution_arn, history)
        record.history_events = len(history)
        record.history = None
        self.data.save_execution(record.to_json())
        if record.status == "SUCCEEDED":  # nothing left to redrive
            self._journal_path(record.execution_arn).unlink(missing_ok=True)
        self._offload(record)

    @staticmethod
    def _offload(record: ExecutionRecord) -> None:
        record.input = record.output = record.cause = None  # type: ignore[assignment]
        record.offloaded = True

    def _loaded(self, record: ExecutionRecord) -> ExecutionRecord:
        """The record with everything it saved (a copy read from disk if offloaded)."""
        if not record.offloaded:
            return record
        try:
            document = self.data.load_execution(record.execution_arn)
        except (OSError, ValueError) as exc:
            raise SfnError(
                "InternalFailure", f"cannot read the saved execution: {exc}", status=500
            ) from None
        full = ExecutionRecord.from_json(document)
        full.history = None
        return full

    def details(self, arn: Any) -> ExecutionRecord:
        """DescribeExecution's record: with input, output and cause."""
        return self._loaded(self.record(arn))

    # ------------------------------------------------------------------ restore
    def restore(self) -> tuple[int, int]:
        """Load saved executions; the ones saved as RUNNING become ABORTED. Returns
        (loaded, aborted)."""
        loaded = aborted = 0
        for document in self.data.executions_saved():
            record = ExecutionRecord.from_json(document)
            arn = record.execution_arn
            if document.get("history") is not None:  # the older layout: history inline
                self.data.save_history(arn, document["history"])
            if record.status == "RUNNING":
                record.history = self.data.load_history(arn) or document.get("historySoFar") or None
                self._mark_aborted(record, "sfnstack serve stopped while the execution was running")
                aborted += 1
                self._save_closed(record)
            else:
                if document.get("history") is not None:
                    self.data.save_execution(record.to_json())
                self._offload(record)
            record.history = None
            with self._lock:
                self._records[arn] = record
                self._by_name[(record.state_machine_arn, record.name)] = arn
                for run in record.map_runs:
                    self._map_runs[run["mapRunArn"]] = arn
            loaded += 1
        return loaded, aborted

    def _mark_aborted(self, record: ExecutionRecord, cause: str, error: str | None = None) -> None:
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
        error = error or "States.Aborted"
        history.append(
            {
                "timestamp": now,
                "type": "ExecutionAborted",
                "id": last_id + 1,
                "previousEventId": last_id,
                "executionAbortedEventDetails": {"error": error, "cause": cause},
            }
        )
        record.status = "ABORTED"
        record.stop_date = now
        record.error = error
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

    def list(
        self, sm_arn: str, status: str | None = None, redrive_filter: str | None = None
    ) -> list[ExecutionRecord]:
        self.state_machine(sm_arn)
        with self._lock:
            records = [r for r in self._records.values() if r.state_machine_arn == sm_arn]
        if status:
            records = [r for r in records if r.status == status]
        if redrive_filter == "REDRIVEN":
            records = [r for r in records if r.redrive_count > 0]
        elif redrive_filter == "NOT_REDRIVEN":
            records = [r for r in records if r.redrive_count == 0]
        return sorted(records, key=lambda r: r.start_date, reverse=True)

    def history(self, arn: str) -> builtins.list[dict[str, Any]]:  # (`list` is a method here)
        record = self.record(arn)
        with self._lock:
            handle = self._live.get(arn)
            earlier = self._earlier.get(arn, [])
            if record.history is not None:
                return record.history
        if handle is not None:
            return earlier + [normalise_event(e) for e in list(handle.history)]
        return self.data.load_history(arn)

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
            arn = arns.execution_arn(sm.name, name, *arns.region_and_account(sm.arn))
            self._journal_path(arn).unlink(missing_ok=True)  # a fresh execution: no past
            map_runs: list[dict[str, Any]] = []
            journal = ProgressJournal(
                self._journal_path(arn), on_map_run=self._map_run_recorder(arn, map_runs)
            )
            try:
                handle = self.runtime.start_execution(
                    sm.logical_id,
                    payload,
                    name=name,
                    listener=_progress_logger(sm, name),
                    progress=journal,
                    test_case=test_case,
                )
            except Exception as exc:
                journal.close()
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
                map_runs=map_runs,
            )
            self._records[record.execution_arn] = record
            self._by_name[(sm.arn, record.name)] = record.execution_arn
            self._live[record.execution_arn] = handle
            self.data.save_execution(record.to_json())
            watcher = self._watcher(record, handle, journal)
        watcher.start()
        return record

    def start_sync(self, sm_arn: Any, input_text: str | None, name: str | None) -> dict[str, Any]:
        """StartSyncExecution: run an Express machine's execution to its end and answer
        with its result (AWS keeps no record of it: ListExecutions does not show it)."""
        sm = self.state_machine(sm_arn)
        if getattr(sm, "workflow_type", "STANDARD") != "EXPRESS":
            raise SfnError(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            )
        text = "{}" if input_text is None else input_text
        if not isinstance(text, str):
            raise SfnError("ValidationException", "input must be a string of JSON")
        payload = parse_input(text)
        name = str(uuid.uuid4()) if name is None else name
        validate_name(name)
        with self._lock:
            if not self._accepting:
                raise SfnError("ServiceUnavailable", "sfnstack serve is shutting down", status=503)
        try:
            handle = self.runtime.start_execution(
                sm.logical_id, payload, name=name, record_history=False
            )
        except ValueError as exc:  # an execution of that name is running right now
            raise SfnError("ExecutionAlreadyExists", str(exc)) from None
        started = time.time()
        try:
            result = handle.wait(SYNC_TIMEOUT_SECONDS)
            status, output = result.status, _output_text(result.status, result.output)
            error, cause = result.error, result.cause
        except TimeoutError:  # AWS ends a synchronous Express execution after 5 minutes
            handle.stop(TIMEOUT_ERROR, "The execution exceeded the 5 minute limit")
            status, output = "TIMED_OUT", None
            error, cause = TIMEOUT_ERROR, "The execution exceeded the 5 minute limit"
        except RuntimeError as exc:  # the interpreter crashed
            status, output, error, cause = "FAILED", None, "States.Runtime", str(exc)
        stopped = time.time()
        forget = getattr(self.runtime, "forget", None)
        if forget is not None:
            forget(handle.arn)
        log.info("sync execution %s %s in %.1fs", name, status, stopped - started)
        region, account = arns.region_and_account(sm.arn)
        body: dict[str, Any] = {
            "executionArn": arns.express_execution_arn(
                sm.name, name, str(uuid.uuid4()), region, account
            ),
            "stateMachineArn": sm.arn,
            "name": name,
            "startDate": epoch(getattr(handle, "start_date", None)) or started,
            "stopDate": stopped,
            "status": status,
            "input": text,
            "inputDetails": {"included": True},
            "billingDetails": {
                # Express bills memory in 64 MB steps and time in 100 ms steps (at least 100)
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(100, math.ceil((stopped - started) * 10) * 100),
            },
        }
        if output is not None:
            body["output"] = output
            body["outputDetails"] = {"included": True}
        if error is not None:
            body["error"] = error
        if cause is not None:
            body["cause"] = cause
        return body

    def _map_run_recorder(
        self, arn: str, runs: builtins.list[dict[str, Any]]
    ) -> Callable[[dict[str, Any]], None]:
        def record(run: dict[str, Any]) -> None:
            with self._lock:
                runs.append(run)
                self._map_runs[run["mapRunArn"]] = arn

        return record

    def map_run(self, map_run_arn: Any) -> tuple[ExecutionRecord, dict[str, Any]]:
        """The execution that ran a map run, and the map run's facts."""
        if not isinstance(map_run_arn, str) or not re.fullmatch(
            r"arn:aws[\w-]*:states:[\w-]+:\d{12}:mapRun:[^:/]+/[^:]+:[^:]+", map_run_arn
        ):
            raise SfnError(
                "InvalidArn",
                f"Invalid Arn: 'Resource type not valid in this context: {map_run_arn}'",
            )
        with self._lock:
            execution_arn = self._map_runs.get(map_run_arn)
        record = self._records.get(execution_arn) if execution_arn else None
        if record is None:
            raise SfnError("ResourceNotFound", f"Map Run Does Not Exist: '{map_run_arn}'")
        run = next(r for r in record.map_runs if r["mapRunArn"] == map_run_arn)
        return record, run

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

    def redrive(self, arn: str, client_token: str | None = None) -> float:
        """RedriveExecution: run a FAILED, ABORTED or TIMED_OUT execution again from the
        top-level state that did not succeed, with the input it had, re-running only the
        Map iterations that did not succeed. Returns the redrive date."""
        record = self.record(arn)
        with self._lock:
            if not self._accepting:
                raise SfnError("ServiceUnavailable", "sfnstack serve is shutting down", status=503)
            if (
                client_token
                and record.status == "RUNNING"
                and self._redrive_tokens.get(arn) == client_token
            ):
                return record.redrive_date or time.time()  # the same request, again
            status, reason = record.redrive_status()
            if status != "REDRIVABLE":
                raise SfnError("ExecutionNotRedrivable", f"{reason}: '{arn}'")
            sm = self.state_machine(record.state_machine_arn)
            record.input = self._loaded(record).input
            record.offloaded = False
            payload = parse_input(record.input)
            earlier = self.data.load_history(arn)
            state, data, done = ProgressJournal.read(self._journal_path(arn))
            if state is None:  # stopped before its first state: from the start
                state, data, done = sm.definition["StartAt"], payload, {}
            now = time.time()
            resume = Resume(
                state=state,
                input=data,
                redrive_count=record.redrive_count + 1,
                redrive_date=datetime.fromtimestamp(now, UTC),
                first_event_id=(earlier[-1]["id"] + 1) if earlier else 1,
                iterations=done,
            )
            journal = ProgressJournal(
                self._journal_path(arn), resume, self._map_run_recorder(arn, record.map_runs)
            )
            log.info(
                "execution %s redriven from %s (%d iteration(s) already done)",
                record.name,
                state,
                len(done),
            )
            try:
                handle = self.runtime.start_execution(
                    sm.logical_id,
                    payload,
                    name=record.name,
                    listener=_progress_logger(sm, record.name),
                    progress=journal,
                )
            except Exception as exc:
                journal.close()
                log.error("execution %s could not be redriven: %s", record.name, exc)
                raise
            record.status = "RUNNING"
            record.redrive_count += 1
            record.redrive_date = now
            record.stop_date = record.output = record.error = record.cause = None
            if client_token:
                self._redrive_tokens[arn] = client_token
            self._earlier[arn] = earlier
            self._live[arn] = handle
            self.data.save_execution(record.to_json())
            watcher = self._watcher(record, handle, journal)
        watcher.start()
        return now

    def _watcher(
        self, record: ExecutionRecord, handle: Any, journal: ProgressJournal
    ) -> threading.Thread:
        watcher = threading.Thread(
            target=self._watch,
            args=(record, handle, journal),
            name=f"watch-{record.name}",
            daemon=True,
        )
        self._watchers.add(watcher)
        return watcher

    def _watch(self, record: ExecutionRecord, handle: Any, journal: ProgressJournal) -> None:
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
        journal.close()
        arn = record.execution_arn
        with self._lock:
            earlier = self._earlier.pop(arn, [])
            if record.status == "RUNNING" and result is None:
                record.history = earlier + [normalise_event(e) for e in list(handle.history)]
                record.status, record.error, record.cause = "FAILED", "States.Runtime", crash
                record.stop_date = time.time()
            elif record.status == "RUNNING":
                record.status = result.status
                record.output = _output_text(result.status, result.output)
                record.error = result.error
                record.cause = result.cause
                record.stop_date = epoch(result.stop_date) or time.time()
                record.history = earlier + [normalise_event(e) for e in result.history]
            self._live.pop(arn, None)
            closed = record if self.on_closed is None else dataclasses.replace(record)
            if record.history is not None:
                self._log_closed(record)
                self._save_closed(record)
            self._watchers.discard(threading.current_thread())
        forget = getattr(self.runtime, "forget", None)
        if forget is not None:  # the runtime need not keep what is recorded here
            forget(arn)
        if self.on_closed:
            self.on_closed(closed)

    def _snapshot(self, record: ExecutionRecord, handle: Any) -> None:
        with self._lock:
            if record.status != "RUNNING":
                return
            earlier = self._earlier.get(record.execution_arn, [])
            so_far = earlier + [normalise_event(e) for e in list(handle.history)]
            self.data.save_history(record.execution_arn, so_far)
            self.data.save_execution(record.to_json())

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
                record.history = self._earlier.pop(arn, []) + [
                    normalise_event(e) for e in list(handle.history)
                ]
                self._mark_aborted(record, cause or "stopped", error)
                record.error, record.cause = error, cause
                self._live.pop(arn, None)
                self._save_closed(record)
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
                    earlier = self._earlier.pop(record.execution_arn, [])
                    if handle is not None:
                        record.history = earlier + [
                            normalise_event(e) for e in list(handle.history)
                        ]
                    else:
                        record.history = earlier or None
                    self._mark_aborted(
                        record, "sfnstack serve stopped before the execution finished"
                    )
                    self._live.pop(record.execution_arn, None)
                    self._save_closed(record)
            log.warning("execution %s ABORTED (server stopping)", record.name)


# -- task tokens (SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat) -------------------


def send_task_result(
    executions: Executions, operation: str, request: dict[str, Any]
) -> dict[str, Any]:
    """SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat: hand a waiting task
    (``.waitForTaskToken``) its answer, through the runtime's task tokens."""
    from sfnstack.integrations.tokens import TaskTokenError

    tokens = getattr(executions.runtime, "task_tokens", None)
    token = request.get("taskToken")
    if not isinstance(token, str) or not token:
        raise null_member("taskToken")
    if tokens is None:
        raise SfnError("TaskDoesNotExist", "this runtime has no tasks waiting for a token")
    try:
        if operation == "SendTaskSuccess":
            output = request.get("output")
            if not isinstance(output, str):
                raise SfnError("InvalidOutput", "output must be a string of JSON")
            tokens.succeed(token, output)
        elif operation == "SendTaskFailure":
            error, cause = request.get("error"), request.get("cause")
            if error is not None and (not isinstance(error, str) or len(error) > 256):
                raise SfnError("ValidationException", "error must be a string of at most 256")
            if cause is not None and (not isinstance(cause, str) or len(cause) > 32768):
                raise SfnError("ValidationException", "cause must be a string of at most 32768")
            tokens.fail(token, error, cause)
        else:
            tokens.heartbeat(token)
    except TaskTokenError as exc:
        raise SfnError(exc.code, exc.message) from None
    log.info("%s for a task token", operation)
    return {}


class RecordedExecutions:
    """states:startExecution's children, started and recorded like any execution of the
    server (``sfnstack.integrations.nested.NestedExecutions``)."""

    def __init__(self, executions: Executions) -> None:
        self._executions = executions

    def start(self, state_machine_arn: str, input_text: str, name: str | None) -> str:
        from sfnstack.integrations.nested import NestedExecutionError

        try:
            record = self._executions.start(
                state_machine_arn, input_text, name, trigger="states:startExecution"
            )
        except SfnError as exc:
            raise NestedExecutionError(exc.code, exc.message) from None
        return record.execution_arn

    def describe(self, execution_arn: str) -> dict[str, Any]:
        from sfnstack.integrations.nested import NestedExecutionError

        try:
            record = self._executions.details(execution_arn)
        except SfnError as exc:
            raise NestedExecutionError(exc.code, exc.message) from None
        return {
            "status": record.status,
            "input": record.input,
            "output": record.output,
            "error": record.error,
            "cause": record.cause,
            "name": record.name,
            "state_machine_arn": record.state_machine_arn,
            "start_date": record.start_date,
            "stop_date": record.stop_date,
        }

    def stop(self, execution_arn: str, error: str | None, cause: str | None) -> None:
        try:
            self._executions.stop(execution_arn, error, cause)
        except SfnError:
            log.warning("could not stop the child execution %s", execution_arn)


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
