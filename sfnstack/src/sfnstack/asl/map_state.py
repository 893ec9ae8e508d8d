"""The Map state: inline and DISTRIBUTED (item reader, batcher, tolerated failures,
result writer). Iterations that can block run side by side as greenlets of the execution's
hub, at most ``services.map_workers`` and MaxConcurrency at once; results are always in
item order."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import arns
from .concurrency import Job, LazyJobs, Outcome, run_jobs
from .context import BranchCancelled, Execution, Frame, Scope, iso_timestamp
from .distributed import (
    ItemBatcher,
    ItemReader,
    OutputText,
    ResultWriter,
    object_items_unsupported,
    resolve_number,
)
from .errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    DefinitionError,
    ExecutionAborted,
    ExecutionTimedOut,
    HistoryLimitExceeded,
    RuntimeFailure,
    StateFailure,
)
from .history import Track
from .jsonata_mode import QueryEvaluationFailure, describe_type, is_expression
from .jsonvalue import is_number, to_json_string
from .references import Reference, compile_path_reference
from .states import State

if TYPE_CHECKING:
    from .language import StateFields
    from .machine import ProgramBuilder


class MapState(State):
    TYPE = "Map"
    FIELDS = frozenset(
        {
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "ItemReader",
            "ItemSelector",
            "Parameters",
            "ItemBatcher",
            "ItemProcessor",
            "Iterator",
            "ResultWriter",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "Label",
            "Assign",
        }
    )
    HAS_RESULT = True
    JSONATA_FIELDS = frozenset({"Output", "Items"})

    def __init__(self, name: str, spec: dict[str, Any], builder: ProgramBuilder) -> None:
        # "Parameters" on a Map is the legacy name of ItemSelector: not a state-input template.
        super().__init__(name, spec, builder)
        fields = self.fields
        if "ItemSelector" in spec and "Parameters" in spec:
            raise DefinitionError(
                "ItemSelector and Parameters are mutually exclusive",
                state=name,
                field="ItemSelector",
            )
        selector = spec.get("ItemSelector", spec.get("Parameters"))
        self.item_selector = (
            fields.template(selector, "ItemSelector") if selector is not None else None
        )
        self.items = (
            _expression_items(fields, spec["Items"])
            if "Items" in spec
            else _input_items(fields.jsonata)
        )

        processor = spec.get("ItemProcessor", spec.get("Iterator"))
        if processor is None:
            raise DefinitionError(
                "ItemProcessor (or Iterator) is required", state=name, field="ItemProcessor"
            )
        if not isinstance(processor, dict):
            raise DefinitionError(
                "ItemProcessor must be an object", state=name, field="ItemProcessor"
            )
        config = processor.get("ProcessorConfig", {})
        self.mode = config.get("Mode", "INLINE") if isinstance(config, dict) else "INLINE"
        if self.mode not in ("INLINE", "DISTRIBUTED"):
            raise DefinitionError(
                "ProcessorConfig.Mode must be INLINE or DISTRIBUTED",
                state=name,
                field="ItemProcessor",
            )
        self.processor = builder.build(
            {k: v for k, v in processor.items() if k != "ProcessorConfig"}, f"{name}.ItemProcessor"
        )
        self.blocking = self.processor.blocking
        if "ItemsPath" in spec:
            try:
                self.items = _path_items(compile_path_reference(spec["ItemsPath"]))
            except ValueError as exc:
                raise DefinitionError(str(exc), state=name, field="ItemsPath") from None
        # AWS accepts the tolerated-failure fields on inline maps too (they only act in
        # DISTRIBUTED mode); these need DISTRIBUTED.
        distributed_only = ("ItemReader", "ItemBatcher", "ResultWriter")
        if self.mode == "INLINE":
            for field in distributed_only:
                if field in spec:
                    raise DefinitionError(
                        f"{field} needs ProcessorConfig Mode DISTRIBUTED", state=name, field=field
                    )
        if "ItemReader" in spec:
            self.items = ItemReader(spec["ItemReader"], name, fields).read
        self.iterations = (
            DistributedIterations(self, spec)
            if self.mode == "DISTRIBUTED"
            else InlineIterations(self)
        )
        max_concurrency = spec.get("MaxConcurrency", 0)
        if fields.jsonata and is_expression(max_concurrency):
            pass  # checked when evaluated
        elif not isinstance(max_concurrency, int) or max_concurrency < 0:
            raise DefinitionError(
                "MaxConcurrency must be a non-negative integer", state=name, field="MaxConcurrency"
            )
        percentage = spec.get("ToleratedFailurePercentage")
        if isinstance(percentage, int | float) and not (0 <= percentage <= 100):
            raise DefinitionError(
                "ToleratedFailurePercentage must be between 0 and 100",
                state=name,
                field="ToleratedFailurePercentage",
            )
        self.max_concurrency = fields.value(
            "MaxConcurrency",
            resolve_path=_path_max_concurrency,
            check=_non_negative("MaxConcurrency", "integer", lambda v: int(v or 0)),
            default=0,
        )
        self.tolerated_count = fields.value(
            "ToleratedFailureCount",
            resolve_path=lambda *args: _check_count(int(resolve_number(*args))),
            convert_literal=_check_count,
            check=_non_negative("ToleratedFailureCount", "integer"),
        )
        self.tolerated_percentage = fields.value(
            "ToleratedFailurePercentage",
            resolve_path=lambda *args: _check_percentage(
                float(resolve_number(*args, kind="float"))
            ),
            convert_literal=_check_percentage,
            check=_non_negative("ToleratedFailurePercentage", "number"),
        )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        fields = self.fields
        data = fields.input(raw, frame)
        max_concurrency = self.max_concurrency(data, frame)
        tolerated_count = self.tolerated_count(data, frame)
        tolerated_percentage = self.tolerated_percentage(data, frame)
        items = self.items(ex, data, frame)
        history = ex.history
        history.add(track, "MapStateStarted", "mapStateStartedEventDetails", {"length": len(items)})
        workers = ex.services.map_workers if self.blocking else 1
        if max_concurrency:
            workers = min(workers, max_concurrency)
        inputs = self._inputs(ex, data, frame, items)
        tolerance = Tolerance(tolerated_count, tolerated_percentage)
        work = MapWork(data, inputs, workers, tolerance, max_concurrency or 0)
        result = self.iterations.run(ex, frame, track, work)
        history.add(track, "MapStateSucceeded")
        return self.next, fields.finish_result(raw, result, frame)

    def _inputs(self, ex: Execution, data: Any, frame: Frame, items: list[Any]) -> list[Any]:
        """Each item, through ItemSelector when there is one."""
        select = self.item_selector
        if select is None:
            return list(items)
        scope = frame.scope
        inputs = []
        for index, item in enumerate(items):
            # $$.Map.Item exists only while ItemSelector is evaluated, as on AWS.
            item_frame = Frame(
                ex,
                scope.child(map_item={"Index": index, "Value": item}),
                self.name,
                frame.entered_time,
                frame.retry_count,
            )
            inputs.append(select(data, item_frame))
        return inputs


class Tolerance:
    """ToleratedFailureCount / ToleratedFailurePercentage of one map run: either, when
    given, fails the run once exceeded; with neither given no failure is tolerated."""

    __slots__ = ("count", "percentage")

    def __init__(self, count: int | None, percentage: float | None) -> None:
        self.count = count
        self.percentage = percentage

    def exceeded(self, failed: int, total: int) -> bool:
        if failed == 0:
            return False
        if self.count is None and self.percentage is None:
            return True
        if self.count is not None and failed > self.count:
            return True
        return self.percentage is not None and failed * 100.0 / total > self.percentage


class MapWork(NamedTuple):
    """What one Map visit hands its iterations."""

    data: Any  # the state's data (for ItemBatcher and ResultWriter)
    inputs: list[Any]  # the items, through ItemSelector
    workers: int  # at most this many at once
    tolerance: Tolerance
    max_concurrency: int = 0  # the state's MaxConcurrency (0: no limit)


class InlineIterations:
    """An inline Map's iterations: the ItemProcessor runs in the execution itself, its
    events in the execution's history; the first failure fails the Map."""

    def __init__(self, state: MapState) -> None:
        self.name = state.name
        self.processor = state.processor

    def run(self, ex: Execution, frame: Frame, track: Track, work: MapWork) -> Any:
        scope = frame.scope
        processor = self.processor
        inputs = work.inputs

        def make(i: int) -> Job:
            value = inputs[i]
            return self.job(ex, scope, track, i, lambda t, s: processor.run(ex, value, t, s))

        outcomes = run_jobs(
            LazyJobs(len(inputs), make), workers=work.workers, should_stop=lambda o: True
        )
        for outcome in outcomes:
            if outcome.failure is not None:
                ex.history.add(track, "MapStateFailed")
                raise outcome.failure
        return [o.value for o in outcomes]

    def job(
        self,
        ex: Execution,
        scope: Scope,
        parent: Track,
        index: int,
        process: Callable[[Track, Scope], Any],
    ) -> Job:
        """One iteration between its MapIteration* events; ``process(track, scope)`` runs
        the ItemProcessor."""
        history = ex.history
        name = self.name
        progress = ex.services.progress

        def job(cancel: threading.Event) -> Any:
            if progress is not None:  # a redrive: an iteration that succeeded is not re-run
                done, output = progress.recorded_iteration(name, index)
                if done:
                    return output
            iteration_track = Track(parent.last_id)
            details = {"name": name, "index": index}
            history.add(
                iteration_track,
                "MapIterationStarted",
                "mapIterationStartedEventDetails",
                details,
            )
            try:
                result = process(iteration_track, scope.child(cancel))
            except StateFailure as failure:
                history.add(
                    iteration_track,
                    "MapIterationFailed",
                    "mapIterationFailedEventDetails",
                    details,
                )
                raise failure
            except (ExecutionAborted, ExecutionTimedOut, HistoryLimitExceeded, BranchCancelled):
                history.add(
                    iteration_track,
                    "MapIterationAborted",
                    "mapIterationAbortedEventDetails",
                    details,
                )
                raise
            history.add(
                iteration_track,
                "MapIterationSucceeded",
                "mapIterationSucceededEventDetails",
                details,
            )
            if progress is not None:
                progress.iteration_done(name, index, result)
            return result

        return job


class DistributedIterations(InlineIterations):
    """A distributed Map's map run: items batched (ItemBatcher), each iteration a child
    execution with its own history and $$.Execution, failures tolerated up to a threshold,
    results written to S3 (ResultWriter)."""

    def __init__(self, state: MapState, spec: dict[str, Any]) -> None:
        super().__init__(state)
        name, fields = state.name, state.fields
        self.item_batcher = (
            ItemBatcher(spec["ItemBatcher"], name, fields) if "ItemBatcher" in spec else None
        )
        self.result_writer = (
            ResultWriter(spec["ResultWriter"], name, fields) if "ResultWriter" in spec else None
        )
        self.label = spec.get("Label", name)

    def run(self, ex: Execution, frame: Frame, track: Track, work: MapWork) -> Any:
        data, inputs, tolerance = work.data, work.inputs, work.tolerance
        if self.item_batcher is not None:
            inputs = self.item_batcher.batch(inputs, data, frame)
        history = ex.history
        run_id = str(uuid.uuid4())
        map_run_arn = arns.map_run_arn(ex.machine.name, self.label, run_id, ex.region, ex.account)
        history.add(track, "MapRunStarted", "mapRunStartedEventDetails", {"mapRunArn": map_run_arn})
        total = len(inputs)
        if ex.services.progress is not None:  # what DescribeMapRun counts
            ex.services.progress.map_run_started(
                {
                    "mapRunArn": map_run_arn,
                    "state": self.name,
                    "label": self.label,
                    "itemsPerExecution": (
                        [len(batch.get("Items") or []) for batch in inputs]
                        if self.item_batcher is not None
                        else None
                    ),
                    "executions": total,
                    "maxConcurrency": work.max_concurrency,
                    "toleratedFailureCount": tolerance.count or 0,
                    "toleratedFailurePercentage": float(tolerance.percentage or 0),
                    "resultWriter": self.result_writer is not None,
                }
            )
        failed = [0]

        def should_stop(outcome: Outcome) -> bool:
            failed[0] += 1
            return tolerance.exceeded(failed[0], total)

        starts: list[str | None] = [None] * total
        stops: list[str | None] = [None] * total

        exports = self.result_writer is not None and self.result_writer.exports

        def timed(job: Job, i: int) -> Job:
            if self.result_writer is None:
                return job  # start/stop dates only go into ResultWriter records

            def run(cancel: threading.Event) -> Any:
                starts[i] = iso_timestamp(datetime.now(UTC))
                try:
                    output = job(cancel)
                finally:
                    stops[i] = iso_timestamp(datetime.now(UTC))
                # An exported output is only written out, as text, when the run ends.
                return OutputText(to_json_string(output)) if exports else output

            return run

        scope = frame.scope
        processor = self.processor

        def make(i: int) -> Job:
            value = inputs[i]

            def process(_parent_track: Track, iteration_scope: Scope) -> Any:
                # The parent only records MapIteration* events, as on AWS.
                child_name = f"{run_id[:8]}-{i:08d}"
                child = ex.child(
                    child_name,
                    arns.execution_arn(
                        f"{ex.machine.name}/{self.label}", child_name, ex.region, ex.account
                    ),
                    value,
                )
                return processor.run(child, value, Track(), iteration_scope)

            return timed(self.job(ex, scope, track, i, process), i)

        outcomes = run_jobs(LazyJobs(total, make), workers=work.workers, should_stop=should_stop)
        if self.result_writer is not None:
            records = self._records(ex, map_run_arn, inputs, outcomes, starts, stops)
            outputs = [o.value if o.ok else None for o in outcomes]
            result: Any = self.result_writer.write(ex, data, frame, map_run_arn, records, outputs)
        else:
            result = [
                o.value
                if o.ok
                else ({"Error": o.failure.error, "Cause": o.failure.cause} if o.failure else None)
                for o in outcomes
            ]
        if tolerance.exceeded(failed[0], total):
            cause = "The specified tolerated failure threshold was exceeded"
            history.add(
                track,
                "MapRunFailed",
                "mapRunFailedEventDetails",
                {"error": EXCEED_TOLERATED_FAILURE_THRESHOLD, "cause": cause},
            )
            history.add(track, "MapStateFailed")
            raise StateFailure(EXCEED_TOLERATED_FAILURE_THRESHOLD, cause)
        history.add(track, "MapRunSucceeded")
        return result

    def _records(
        self,
        ex: Execution,
        map_run_arn: str,
        inputs: list[Any],
        outcomes: list[Outcome],
        starts: list[str | None],
        stops: list[str | None],
    ) -> list[dict[str, Any]]:
        """One record per item, in item order (ResultWriter groups them by Status)."""
        records: list[dict[str, Any]] = []
        run_id = map_run_arn.rsplit(":", 1)[-1]
        child_machine = f"{ex.machine.arn}/{self.label}"
        for i, (value, outcome) in enumerate(zip(inputs, outcomes, strict=True)):
            name = f"{run_id[:8]}-{i:08d}"
            record: dict[str, Any] = {
                "ExecutionArn": arns.execution_arn(
                    f"{ex.machine.name}/{self.label}", name, ex.region, ex.account
                ),
                "Input": to_json_string(value),
                "InputDetails": {"Included": True},
                "Name": name,
                "RedriveCount": 0,
                "StartDate": starts[i],
                "StateMachineArn": child_machine,
                "StopDate": stops[i],
            }
            if outcome.ok:
                output = outcome.value
                record.update(
                    Output=output if isinstance(output, OutputText) else to_json_string(output),
                    OutputDetails={"Included": True},
                    RedriveStatus="NOT_REDRIVABLE",
                    RedriveStatusReason="Execution is SUCCEEDED and cannot be redriven",
                    Status="SUCCEEDED",
                )
                records.append(record)
            elif outcome.failure is not None:
                record.update(
                    Error=outcome.failure.error,
                    Cause=outcome.failure.cause,
                    RedriveStatus="REDRIVABLE",
                    Status="FAILED",
                )
                records.append(record)
            else:
                record.update(Status="PENDING", RedriveStatus="NOT_REDRIVABLE")
                record.pop("StartDate")
                record.pop("StopDate")
                records.append(record)
        return records


def _path_items(ref: Reference) -> Any:
    """ItemsPath (JSONPath)."""

    def items(ex: Execution, data: Any, frame: Frame) -> Any:
        found = ref.resolve(data, frame)
        if isinstance(found, dict):
            raise RuntimeFailure(object_items_unsupported(found, f"ItemsPath '{ref.source}'"))
        if not isinstance(found, list):
            raise RuntimeFailure(
                f"Map state input must be an array, but the ItemsPath '{ref.source}' "
                f"resolved to '{to_json_string(found)}'"
            )
        return found

    return items


def _input_items(jsonata: bool) -> Any:
    """The state's input itself is the list."""

    def items(ex: Execution, data: Any, frame: Frame) -> Any:
        if isinstance(data, dict) and not jsonata:
            # JSONPath: AWS iterates an object's key-value pairs (documented for ItemsPath);
            # JSONata requires an array (recorded: "Expected 'array', but was 'object'").
            raise RuntimeFailure(object_items_unsupported(data, "The Map state's input"))
        if not isinstance(data, list):
            if jsonata:
                raise QueryEvaluationFailure(
                    f"Map state input must be an array but was: {to_json_string(data)}"
                )
            raise RuntimeFailure(
                "Map state input must be an array, but the ItemsPath '$' "
                f"resolved to '{to_json_string(data)}'"
            )
        return data

    return items


def _expression_items(fields: StateFields, source: Any) -> Any:
    """Items (JSONata)."""
    template = fields.template(source, "Items")
    shown = source[2:-2].strip() if is_expression(source) else to_json_string(source)

    def items(ex: Execution, data: Any, frame: Frame) -> Any:
        found = template(data, frame)
        if not isinstance(found, list):
            raise QueryEvaluationFailure(
                f"The JSONata expression '{shown}' specified for the field 'Items' returned "
                f"an unexpected result type. Expected 'array', but was "
                f"'{describe_type(found)}' for value: {to_json_string(found)}"
            )
        return found

    return items


def _path_max_concurrency(ref: Reference, field: str, data: Any, frame: Frame) -> int:
    value = int(resolve_number(ref, field, data, frame))
    if value < 0:
        raise RuntimeFailure("MaxConcurrency cannot be negative.")
    return value


def _check_count(value: Any) -> Any:
    if value is not None and value < 0:
        raise RuntimeFailure("ToleratedFailureCount cannot be negative.")
    return value


def _check_percentage(value: Any) -> Any:
    if value is not None and not (0 <= value <= 100):
        raise RuntimeFailure("ToleratedFailurePercentage must be between 0 and 100.")
    return value


def _non_negative(field: str, kind: str, convert: Any = None) -> Any:
    """A JSONata number field's check."""

    def check(value: Any) -> Any:
        if value is not None and (
            not is_number(value) or (kind == "integer" and value != int(value)) or value < 0
        ):
            raise QueryEvaluationFailure(
                f"The {field} field must be a non-negative {kind}, but was {to_json_string(value)}"
            )
        return convert(value) if convert is not None else value

    return check
