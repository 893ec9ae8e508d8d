"""The Map state: inline and DISTRIBUTED (item reader, batcher, tolerated failures,
result writer). Iterations that can block run on a thread pool bounded by
``services.map_workers`` and MaxConcurrency; results are always in item order."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import arns
from .concurrency import LazyJobs, Outcome, run_jobs
from .context import BranchCancelled, Execution, Frame, iso_timestamp
from .distributed import ItemBatcher, ItemReader, ResultWriter, resolve_positive_int
from .errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    DefinitionError,
    ExecutionAborted,
    ExecutionTimedOut,
    RuntimeFailure,
    StateFailure,
)
from .history import Track
from .jsonata_mode import (
    JsonataTemplate,
    QueryEvaluationFailure,
    bindings,
    describe_type,
    is_expression,
)
from .jsonvalue import is_number, to_json_string
from .payload import Template
from .references import compile_path_reference, compile_reference
from .states import State

if TYPE_CHECKING:
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
        self.parameters = None
        if "ItemSelector" in spec and "Parameters" in spec:
            raise DefinitionError(
                "ItemSelector and Parameters are mutually exclusive",
                state=name,
                field="ItemSelector",
            )
        selector = spec.get("ItemSelector", spec.get("Parameters"))
        self.item_selector = (
            Template(selector, state=name, field="ItemSelector")
            if selector is not None and not self.jsonata
            else None
        )
        self.j_item_selector = (
            JsonataTemplate(selector, state=name, field="ItemSelector")
            if selector is not None and self.jsonata
            else None
        )
        self.j_items = (
            JsonataTemplate(spec["Items"], state=name, field="Items") if "Items" in spec else None
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
        self.items_path = None
        if "ItemsPath" in spec:
            try:
                self.items_path = compile_path_reference(spec["ItemsPath"])
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
        self.item_reader = (
            ItemReader(spec["ItemReader"], name, jsonata=self.jsonata)
            if "ItemReader" in spec
            else None
        )
        self.item_batcher = (
            ItemBatcher(spec["ItemBatcher"], name, jsonata=self.jsonata)
            if "ItemBatcher" in spec
            else None
        )
        self.result_writer = (
            ResultWriter(spec["ResultWriter"], name, jsonata=self.jsonata)
            if "ResultWriter" in spec
            else None
        )
        self.label = spec.get("Label", name)
        self.max_concurrency = spec.get("MaxConcurrency", 0)
        if self.jsonata and is_expression(self.max_concurrency):
            pass  # checked when evaluated
        elif not isinstance(self.max_concurrency, int) or self.max_concurrency < 0:
            raise DefinitionError(
                "MaxConcurrency must be a non-negative integer", state=name, field="MaxConcurrency"
            )
        self.paths = {
            field: compile_reference(spec[field])
            for field in (
                "MaxConcurrencyPath",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCountPath",
            )
            if field in spec
        }
        self.tolerated_percentage = spec.get("ToleratedFailurePercentage")
        self.tolerated_count = spec.get("ToleratedFailureCount")
        if isinstance(self.tolerated_percentage, int | float) and not (
            0 <= self.tolerated_percentage <= 100
        ):
            raise DefinitionError(
                "ToleratedFailurePercentage must be between 0 and 100",
                state=name,
                field="ToleratedFailurePercentage",
            )

    def execute(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any, Any]:
        data = self.apply_input_path(raw, frame)
        max_concurrency = self.max_concurrency
        if "MaxConcurrencyPath" in self.paths:
            max_concurrency = int(
                resolve_positive_int(
                    self.paths["MaxConcurrencyPath"], "MaxConcurrencyPath", data, frame
                )
            )
            if max_concurrency < 0:
                raise RuntimeFailure("MaxConcurrency cannot be negative.")
        tolerated_count = self.tolerated_count
        if "ToleratedFailureCountPath" in self.paths:
            tolerated_count = int(
                resolve_positive_int(
                    self.paths["ToleratedFailureCountPath"],
                    "ToleratedFailureCountPath",
                    data,
                    frame,
                )
            )
        if tolerated_count is not None and tolerated_count < 0:
            raise RuntimeFailure("ToleratedFailureCount cannot be negative.")
        tolerated_percentage = self.tolerated_percentage
        if "ToleratedFailurePercentagePath" in self.paths:
            tolerated_percentage = float(
                resolve_positive_int(
                    self.paths["ToleratedFailurePercentagePath"],
                    "ToleratedFailurePercentagePath",
                    data,
                    frame,
                    kind="float",
                )
            )
        if tolerated_percentage is not None and not (0 <= tolerated_percentage <= 100):
            raise RuntimeFailure("ToleratedFailurePercentage must be between 0 and 100.")

        if self.item_reader is not None:
            items = self.item_reader.read(ex, data, frame)
        else:
            items = self.items_path.resolve(data, frame) if self.items_path is not None else data
            if not isinstance(items, list):
                source = self.items_path.source if self.items_path is not None else "$"
                raise RuntimeFailure(
                    f"Map state input must be an array, but the ItemsPath '{source}' "
                    f"resolved to '{to_json_string(items)}'"
                )
        selector = self.item_selector

        def select(item_frame: Frame) -> Any:
            return selector(data, item_frame)  # type: ignore[misc]  # used only when not None

        result = self._iterate(
            ex,
            data,
            frame,
            track,
            items,
            select if selector is not None else None,
            max_concurrency,
            tolerated_count,
            tolerated_percentage,
        )
        if self.result_selector is not None:
            result = self.result_selector(result, frame)
        output = self.result_path.apply(raw, result) if self.result_path is not None else result
        return self.next, self.apply_output_path(output, frame), result

    def execute_jsonata(
        self, ex: Execution, raw: Any, frame: Frame, track: Track
    ) -> tuple[str | None, Any]:
        numbers: dict[str, Any] = {}
        for field, kind in (
            ("MaxConcurrency", "integer"),
            ("ToleratedFailureCount", "integer"),
            ("ToleratedFailurePercentage", "number"),
        ):
            value = self._jsonata_value(field, frame, raw) if field in self.spec else None
            if value is not None and (
                not is_number(value) or (kind == "integer" and value != int(value)) or value < 0
            ):
                raise QueryEvaluationFailure(
                    f"The {field} field must be a non-negative {kind}, but was "
                    f"{to_json_string(value)}"
                )
            numbers[field] = value
        if self.item_reader is not None:
            items = self.item_reader.read(ex, raw, frame)
        elif self.j_items is not None:
            items = self.j_items(bindings(frame, raw))
            if not isinstance(items, list):
                source = self.spec["Items"]
                shown = source[2:-2].strip() if is_expression(source) else to_json_string(source)
                raise QueryEvaluationFailure(
                    f"The JSONata expression '{shown}' specified for the field 'Items' returned "
                    f"an unexpected result type. Expected 'array', but was "
                    f"'{describe_type(items)}' for value: {to_json_string(items)}"
                )
        else:
            items = raw
            if not isinstance(items, list):
                raise QueryEvaluationFailure(
                    f"Map state input must be an array but was: {to_json_string(items)}"
                )
        selector = self.j_item_selector

        def select(item_frame: Frame) -> Any:
            return selector(bindings(item_frame, raw))  # type: ignore[misc]  # only when not None

        result = self._iterate(
            ex,
            raw,
            frame,
            track,
            items,
            select if selector is not None else None,
            int(numbers["MaxConcurrency"] or 0),
            numbers["ToleratedFailureCount"],
            numbers["ToleratedFailurePercentage"],
        )
        return self.next, self.finish_jsonata(frame, raw, result, result=result)

    def _iterate(
        self,
        ex: Execution,
        data: Any,
        frame: Frame,
        track: Track,
        items: list[Any],
        select: Any,
        max_concurrency: int,
        tolerated_count: int | None,
        tolerated_percentage: float | None,
    ) -> Any:
        history = ex.history
        history.add(track, "MapStateStarted", "mapStateStartedEventDetails", {"length": len(items)})
        scope = frame.scope
        if select is not None:
            inputs = []
            for index, item in enumerate(items):
                item_frame = Frame(
                    ex,
                    scope.child(map_item={"Index": index, "Value": item}),
                    self.name,
                    frame.entered_time,
                    frame.retry_count,
                )
                inputs.append(select(item_frame))
        else:
            inputs = list(items)
        if self.item_batcher is not None:
            inputs = self.item_batcher.batch(inputs, data, frame)
        workers = ex.services.map_workers if self.blocking else 1
        if max_concurrency:
            workers = min(workers, max_concurrency)
        if self.mode == "DISTRIBUTED":
            result = self._run_distributed(
                ex,
                data,
                frame,
                track,
                inputs,
                workers,
                tolerated_count,
                tolerated_percentage,
            )
        else:
            result = self._run_inline(ex, frame, track, inputs, workers)
        history.add(track, "MapStateSucceeded")
        return result

    def _iteration_job(
        self,
        ex: Execution,
        scope: Any,
        parent: Track,
        index: int,
        value: Any,
        map_run_arn: str | None = None,
    ) -> Any:
        processor = self.processor
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
            # $$.Map.Item exists only while ItemSelector is evaluated, as on AWS.
            iteration_scope = scope.child(cancel)
            try:
                if map_run_arn is None:
                    result = processor.run(ex, value, iteration_track, iteration_scope)
                else:
                    # A distributed iteration is a child execution with its own history and
                    # $$.Execution, as on AWS; the parent only records MapIteration* events.
                    run_id = map_run_arn.rsplit(":", 1)[-1]
                    child_name = f"{run_id[:8]}-{index:08d}"
                    child = ex.child(
                        child_name,
                        arns.execution_arn(
                            f"{ex.machine.name}/{self.label}", child_name, ex.region, ex.account
                        ),
                        value,
                    )
                    result = processor.run(child, value, Track(), iteration_scope)
            except StateFailure as failure:
                history.add(
                    iteration_track,
                    "MapIterationFailed",
                    "mapIterationFailedEventDetails",
                    details,
                )
                raise failure
            except (ExecutionAborted, ExecutionTimedOut, BranchCancelled):
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

    def _run_inline(
        self,
        ex: Execution,
        frame: Frame,
        track: Track,
        inputs: list[Any],
        workers: int,
    ) -> list[Any]:
        scope = frame.scope
        outcomes = run_jobs(
            LazyJobs(len(inputs), lambda i: self._iteration_job(ex, scope, track, i, inputs[i])),
            workers=workers,
            should_stop=lambda outcome: True,
            cooperative=ex.services.cooperative,
        )
        for outcome in outcomes:
            if outcome.failure is not None:
                ex.history.add(track, "MapStateFailed")
                raise outcome.failure
        return [o.value for o in outcomes]

    def _run_distributed(
        self,
        ex: Execution,
        data: Any,
        frame: Frame,
        track: Track,
        inputs: list[Any],
        workers: int,
        tolerated_count: int | None,
        tolerated_percentage: float | None,
    ) -> Any:
        history = ex.history
        run_id = str(uuid.uuid4())
        map_run_arn = arns.map_run_arn(ex.machine.name, self.label, run_id, ex.region, ex.account)
        history.add(track, "MapRunStarted", "mapRunStartedEventDetails", {"mapRunArn": map_run_arn})
        total = len(inputs)
        failed = [0]
        lock = threading.Lock()

        def exceeded() -> bool:
            # Either threshold, when given, fails the run once exceeded; with neither given
            # no failure is tolerated.
            count = failed[0]
            if count == 0:
                return False
            if tolerated_count is None and tolerated_percentage is None:
                return True
            if tolerated_count is not None and count > tolerated_count:
                return True
            return tolerated_percentage is not None and count * 100.0 / total > tolerated_percentage

        def should_stop(outcome: Outcome) -> bool:
            with lock:
                failed[0] += 1
                return exceeded()

        starts: list[str | None] = [None] * total
        stops: list[str | None] = [None] * total

        def timed(job: Any, i: int) -> Any:
            if self.result_writer is None:
                return job  # start/stop dates only go into ResultWriter records

            def run(cancel: threading.Event) -> Any:
                starts[i] = iso_timestamp(datetime.now(UTC))
                try:
                    return job(cancel)
                finally:
                    stops[i] = iso_timestamp(datetime.now(UTC))

            return run

        scope = frame.scope
        jobs = LazyJobs(
            len(inputs),
            lambda i: timed(
                self._iteration_job(ex, scope, track, i, inputs[i], map_run_arn),
                i,
            ),
        )
        outcomes = run_jobs(
            jobs, workers=workers, should_stop=should_stop, cooperative=ex.services.cooperative
        )
        if self.result_writer is not None:
            records = self._records(ex, map_run_arn, inputs, outcomes, starts, stops)
            result: Any = self.result_writer.write(ex, data, frame, map_run_arn, records)
        else:
            result = [
                o.value
                if o.ok
                else ({"Error": o.failure.error, "Cause": o.failure.cause} if o.failure else None)
                for o in outcomes
            ]
        if exceeded():
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
    ) -> dict[str, list[dict[str, Any]]]:
        records: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
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
                record.update(
                    Output=to_json_string(outcome.value),
                    OutputDetails={"Included": True},
                    RedriveStatus="NOT_REDRIVABLE",
                    RedriveStatusReason="Execution is SUCCEEDED and cannot be redriven",
                    Status="SUCCEEDED",
                )
                records["SUCCEEDED"].append(record)
            elif outcome.failure is not None:
                record.update(
                    Error=outcome.failure.error,
                    Cause=outcome.failure.cause,
                    RedriveStatus="REDRIVABLE",
                    Status="FAILED",
                )
                records["FAILED"].append(record)
            else:
                record.update(Status="PENDING", RedriveStatus="NOT_REDRIVABLE")
                record.pop("StartDate")
                record.pop("StopDate")
                records["PENDING"].append(record)
        return records
