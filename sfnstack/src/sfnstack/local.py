"""``LocalRuntime``: a SAM template's state machines, Lambda functions and buckets running on
this machine, the way AWS would run them, without Docker.

    with LocalRuntime("template.yaml") as rt:
        result = rt.execute("ForecastStateMachine", {"cities": [...]})

Functions run in worker processes (``sfnstack.lambdas``), S3 is the embedded moto
endpoint (``sfnstack.embedded_s3``) or one given by URL, and the ASL interpreter
(``sfnstack.asl``) runs each execution in its own thread, so several executions can
run at once and be watched or stopped while they run.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfnstack import arns
from sfnstack.arns import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from sfnstack.embedded_s3 import LocalS3
from sfnstack.lambdas import LambdaPool, LocalFunction, default_worker_count
from sfnstack.lambdas.functions import resolve_functions
from sfnstack.services import Services
from sfnstack.template import (
    DEFAULT_STACK_NAME,
    LocalStateMachine,
    Template,
    load_template,
    resolve_buckets,
    resolve_state_machines,
)

if TYPE_CHECKING:
    from sfnstack.asl import ExecutionResult
    from sfnstack.lambdas.pool import Zygote
    from sfnstack.mocks import TestCase

Listener = Callable[[dict[str, Any]], None]

__all__ = ["LocalExecution", "LocalRuntime", "LocalStateMachine"]


class _LazyS3Client:
    """Stands in for a boto3 S3 client; starts the runtime's S3 endpoint on first use, so
    definitions that never touch S3 do not pay for starting it."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime.s3.shared_client(), name)


class _RuntimeExecutions:
    """states:startExecution's view of the runtime's executions
    (``sfnstack.integrations.nested.NestedExecutions``)."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self._runtime = runtime

    def start(self, state_machine_arn: str, input_text: str, name: str | None) -> str:
        import json

        from sfnstack.integrations.nested import NestedExecutionError

        try:
            self._runtime.state_machine(state_machine_arn)
        except KeyError:
            raise NestedExecutionError(
                "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{state_machine_arn}'"
            ) from None
        try:
            execution = self._runtime.start_execution(
                state_machine_arn, json.loads(input_text), name=name
            )
        except ValueError as exc:
            raise NestedExecutionError("ExecutionAlreadyExists", str(exc)) from None
        return execution.arn

    def describe(self, execution_arn: str) -> dict[str, Any]:
        import json

        from sfnstack.integrations.nested import NestedExecutionError

        execution = self._runtime.executions.get(execution_arn)
        if execution is None:
            raise NestedExecutionError(
                "ExecutionDoesNotExist", f"Execution Does Not Exist: '{execution_arn}'"
            )
        done = execution.done
        return {
            "status": execution.status,
            "input": json.dumps(execution.input, separators=(",", ":")),
            "output": json.dumps(execution.output, separators=(",", ":"))
            if done and execution.status == "SUCCEEDED"
            else None,
            "error": execution.error if done else None,
            "cause": execution.cause if done else None,
            "name": execution.name,
            "state_machine_arn": execution.state_machine.arn,
            "start_date": execution.start_date,
            "stop_date": execution.stop_date,
        }

    def stop(self, execution_arn: str, error: str | None, cause: str | None) -> None:
        execution = self._runtime.executions.get(execution_arn)
        if execution is not None and not execution.done:
            execution.stop(error, cause)


class LocalExecution:
    """One execution, running in a background thread."""

    def __init__(
        self,
        runtime: LocalRuntime,
        state_machine: LocalStateMachine,
        machine: Any,
        input: Any,
        name: str,
        listener: Listener | None,
        record_history: bool = True,
        progress: Any = None,
        test_case: TestCase | None = None,
    ) -> None:
        self.runtime = runtime
        self.state_machine = state_machine
        self.name = name
        self.arn = arns.execution_arn(state_machine.name, name, runtime.region, runtime.account_id)
        self.input = input
        self.start_date = datetime.now(UTC)
        self._machine = machine
        self._listener = listener
        self._record_history = record_history
        self._events: list[dict[str, Any]] = []
        self._stop_error: tuple[str | None, str | None] | None = None
        self._result: ExecutionResult | None = None
        self._failure: BaseException | None = None
        self._done = threading.Event()
        self.services = runtime.services()
        self.services.progress = progress
        if test_case is not None:
            self.services.mocked = test_case.start()
        self._thread = threading.Thread(target=self._run, name=f"execution-{name}", daemon=True)

    def start(self) -> None:
        """Run it (in its thread); the runtime knows it by then, so its states can ask
        about it (aws-sdk:sfn:describeExecution of $$.Execution.Id)."""
        self._thread.start()

    def _on_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        if self._listener is not None:
            self._listener(event)

    def _run(self) -> None:
        try:
            result = self._machine.execute(
                self.input,
                services=self.services,
                execution_name=self.name,
                execution_arn=self.arn,
                # Events are only built for someone who looks: a listener or the history.
                listener=self._on_event if self._listener is not None else None,
                record_history=self._record_history,
            )
            if self._stop_error is not None and result.status == "ABORTED":
                error, cause = self._stop_error
                if error is not None:
                    result.error = error
                if cause is not None:
                    result.cause = cause
                # StopExecution's error and cause go into the ExecutionAborted event too
                events = result.history
                details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
                if events and events[-1].get("type") == "ExecutionAborted":
                    events[-1]["executionAbortedEventDetails"] = details
            self._result = result
        except BaseException as exc:  # an interpreter bug must not hang wait()
            self._failure = exc
        finally:
            self._done.set()

    @property
    def status(self) -> str:
        if not self._done.is_set():
            return "RUNNING"
        if self._result is None:
            return "FAILED"
        return self._result.status

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def history(self) -> list[dict[str, Any]]:
        """The events so far: the full history once done; while running, the events seen by
        the listener given to ``start_execution`` (none without one)."""
        if self._result is not None and self._result.history:
            return list(self._result.history)
        return list(self._events)

    @property
    def result(self) -> ExecutionResult | None:
        """The result once done (``None`` while running)."""
        return self._result

    @property
    def stop_date(self) -> datetime | None:
        return self._result.stop_date if self._result is not None else None

    @property
    def output(self) -> Any:
        return self._result.output if self._result is not None else None

    @property
    def error(self) -> str | None:
        if self._failure is not None:
            return "States.Runtime"
        return self._result.error if self._result is not None else None

    @property
    def cause(self) -> str | None:
        if self._failure is not None:
            return f"the local interpreter failed: {self._failure!r}"
        return self._result.cause if self._result is not None else None

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        if not self._done.wait(timeout):
            raise TimeoutError(f"execution {self.name} still running after {timeout} s")
        if self._failure is not None:
            raise RuntimeError(f"execution {self.name} crashed the interpreter") from self._failure
        assert self._result is not None
        return self._result

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """StopExecution: the execution ends ABORTED (with this error and cause)."""
        self._stop_error = (error, cause)
        self.services.stop_event.set()


class LocalRuntime:
    """A template's resources, runnable here.

    ``template``: the SAM/CloudFormation template (``None`` for none: register functions
    and definitions yourself). ``s3_endpoint_url``: an S3 endpoint to use (``sfnstack
    serve``'s); ``None`` starts an embedded moto server on first use. ``workers``: Lambda
    invocations that may run at once (default: CPU count, at least 2). ``parameter_overrides``:
    template parameters. ``env_overrides``: per function logical id (or ``"*"``), variables
    over the template's. ``functions``: extra functions (``function_from_callable``).
    ``map_workers``: Map iterations / Parallel branches an execution runs at once (default
    ``workers``).
    ``max_environments``: live worker processes kept warm (default ``max(8, 4*workers)``).
    ``wait_for_warm``: an invocation waits (up to a cold start's time) for a busy
    environment of its function rather than starting another (``LambdaPool``; for batch
    runs on one machine).
    ``preload``: libraries (module names) that a zygote imports once, environments being
    forked from it rather than started as fresh interpreters (``LambdaPool``; Linux).
    ``zygote``: one already importing (``sfnstack.lambdas.pool.start_zygote``), used instead
    of starting one for ``preload``, and closed with the runtime.

    ``functions`` / ``state_machines`` / ``buckets`` are by logical id; state machines may
    also be named by name or ARN, functions by name or (qualified) ARN."""

    def __init__(
        self,
        template: str | Path | None = "template.yaml",
        *,
        s3_endpoint_url: str | None = None,
        workers: int | None = None,
        parameter_overrides: Mapping[str, Any] | None = None,
        env_overrides: Mapping[str, Mapping[str, str]] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        functions: Mapping[str, LocalFunction] | None = None,
        log_dir: str | Path | None = None,
        map_workers: int | None = None,
        max_environments: int | None = None,
        wait_for_warm: bool = False,
        preload: Collection[str] = (),
        zygote: Zygote | None = None,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.template: Template | None = None
        self._provisioner: Any = None
        self._provision_for_handlers = False
        self.functions: dict[str, LocalFunction] = {}
        self.state_machines: dict[str, LocalStateMachine] = {}
        self.buckets: dict[str, str] = {}
        if template is not None:
            self.template = load_template(
                template,
                parameter_overrides=parameter_overrides,
                stack_name=stack_name,
                region=region,
                account_id=account_id,
            )
            self.functions = resolve_functions(self.template)
            self.state_machines = resolve_state_machines(self.template)
            self.buckets = resolve_buckets(self.template)
            from sfnstack.integrations import aws, provision

            # its queues, topics and tables in moto, for the states and handlers that call
            # them: made when S3 starts or a state first calls AWS, not before
            if provision.template_resources(self.template):
                self._provisioner = provision.Provisioner(self.template)
                aws.CLIENTS.before_calls.add(self._provisioner.wait)
                self._provision_for_handlers = provision.named_by_functions(self.template)
        self.functions.update(functions or {})
        self.workers = workers or default_worker_count()
        # Map iterations / Parallel branches an execution runs at once (greenlets on the
        # execution's thread, see sfnstack.cooperative): as many as Lambda
        # invocations can run at once; more would only wait for a slot. Raise it for Maps
        # that mostly Wait.
        self.map_workers = map_workers or self.workers
        self._s3_endpoint_url = s3_endpoint_url
        self._s3: LocalS3 | None = None
        self._s3_lock = threading.Lock()
        self._machines: dict[str, Any] = {}
        self._machines_lock = threading.Lock()
        self._executions: dict[str, LocalExecution] = {}
        self.lambdas = LambdaPool(
            self.functions,
            max_workers=self.workers,
            max_environments=max_environments,
            base_env=self._lambda_base_env,
            env_overrides=env_overrides,
            log_dir=log_dir,
            account_id=account_id,
            wait_for_warm=wait_for_warm,
            preload=preload,
            zygote=zygote,
        )
        # Called with the function's name before each invocation (serve's hot reload).
        self.before_invoke: Callable[[str], None] | None = None
        self._closed = False
        # The tasks waiting for a task token, and what states:startExecution starts
        # executions with (sfnstack serve puts its own recorded executions there).
        from sfnstack.integrations.tokens import TaskTokens

        self.task_tokens = TaskTokens()
        self.nested_executions: Any = _RuntimeExecutions(self)

    # -- S3 -------------------------------------------------------------------------

    @property
    def s3(self) -> LocalS3:
        """The S3 endpoint, started on first use; it makes the template's buckets before it
        serves a request."""
        with self._s3_lock:
            if self._s3 is None:
                # moto starts in the background and makes the buckets before it serves: the
                # endpoint's URL (the Lambda environments' AWS_ENDPOINT_URL) is known at once.
                s3 = LocalS3(self._s3_endpoint_url, background=True, buckets=self.buckets.values())
                if self._provision_for_handlers:
                    self._provisioner.start(after=s3.wait_ready)
                self._s3 = s3
            return self._s3

    @property
    def s3_endpoint_url(self) -> str:
        return self.s3.endpoint_url

    def s3_client(self) -> Any:
        return self.s3.client()

    def _lambda_base_env(self) -> dict[str, str]:
        endpoint = self.s3_endpoint_url
        if self._provision_for_handlers:  # the handlers may call the template's queues
            self._provisioner.wait()
        return {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint}

    # -- functions ------------------------------------------------------------------

    def add_function(self, function: LocalFunction) -> None:
        self.functions[function.logical_id] = function
        self.lambdas.add_function(function)

    def invoke(self, function: str, payload: Any) -> Any:
        """Invoke a function (logical id, name or ARN) directly, as Lambda's Invoke would."""
        if self.before_invoke is not None:
            self.before_invoke(function)
        return self.lambdas.invoke(function, payload)

    def services(self) -> Services:
        """What one execution gets: Lambda, S3, its own stop event."""
        invoke, invoke_json = self.lambdas.invoke, self.lambdas.invoke_json
        check = self.before_invoke
        if check is not None:  # serve's hot reload: a look before each invocation

            def invoke(function: str, payload: Any) -> Any:
                check(function)
                return self.lambdas.invoke(function, payload)

            def invoke_json(function: str, body: bytes) -> bytes:
                check(function)
                return self.lambdas.invoke_json(function, body)

        return Services(
            invoke_lambda=invoke,
            invoke_lambda_json=invoke_json,
            s3_client=_LazyS3Client(self),
            map_workers=self.map_workers,
            task_tokens=self.task_tokens,
            executions=self.nested_executions,
        )

    # -- state machines -------------------------------------------------------------

    def state_machine(self, key: str) -> LocalStateMachine:
        """By logical id, name or ARN."""
        if key in self.state_machines:
            return self.state_machines[key]
        for machine in self.state_machines.values():
            if key in (machine.name, machine.arn):
                return machine
        known = ", ".join(sorted(self.state_machines)) or "none"
        raise KeyError(f"no state machine {key!r} (known: {known})")

    def add_state_machine(
        self,
        definition: dict[str, Any] | str,
        *,
        name: str = "StateMachine",
        logical_id: str | None = None,
        workflow_type: str = "STANDARD",
    ) -> LocalStateMachine:
        """Register a definition that is not in the template (``sfnstack states run``,
        serve's CreateStateMachine); the same ``logical_id`` again replaces it."""
        import json

        parsed = json.loads(definition) if isinstance(definition, str) else definition
        machine = LocalStateMachine(
            logical_id=logical_id or name,
            name=name,
            arn=arns.state_machine_arn(name, self.region, self.account_id),
            definition=parsed,
            workflow_type=workflow_type,
        )
        self.state_machines[machine.logical_id] = machine
        with self._machines_lock:
            self._machines.pop(machine.logical_id, None)
        return machine

    def remove_state_machine(self, logical_id: str) -> None:
        """Forget a state machine added with ``add_state_machine`` (DeleteStateMachine);
        its running executions keep their compiled machine and finish."""
        self.state_machines.pop(logical_id, None)
        with self._machines_lock:
            self._machines.pop(logical_id, None)

    def compiled(self, key: str) -> Any:
        """The interpreter's validated ``StateMachine`` (``DefinitionError`` if invalid)."""
        from sfnstack.asl import StateMachine

        machine = self.state_machine(key)
        with self._machines_lock:
            compiled = self._machines.get(machine.logical_id)
            if compiled is None:
                compiled = StateMachine(
                    machine.definition,
                    name=machine.name,
                    arn=machine.arn,
                    workflow_type=machine.workflow_type,
                )
                self._machines[machine.logical_id] = compiled
            return compiled

    def start_execution(
        self,
        state_machine: str,
        input: Any = None,
        *,
        name: str | None = None,
        listener: Listener | None = None,
        record_history: bool = True,
        progress: Any = None,
        test_case: TestCase | None = None,
    ) -> LocalExecution:
        """Start an execution in a background thread. ``record_history=False`` skips building
        the history (faster for large Maps; ``result.history`` is then empty).
        ``progress``: an ``asl.progress.Progress`` that records what the execution does; one
        with a ``resume`` starts a closed execution of that name again from its recorded
        progress (a redrive). ``test_case`` (a mock configuration's, ``sfnstack.mocks``)
        answers the Task states it names."""
        if self._closed:
            raise RuntimeError("the local runtime is closed")
        machine = self.state_machine(state_machine)
        compiled = self.compiled(machine.logical_id)
        name = name or str(uuid.uuid4())
        arn = arns.execution_arn(machine.name, name, self.region, self.account_id)
        earlier = self._executions.get(arn)
        redrive = progress is not None and progress.resume is not None
        if earlier is not None and not (redrive and earlier.done):
            raise ValueError(f"ExecutionAlreadyExists: {arn}")
        execution = LocalExecution(
            self,
            machine,
            compiled,
            {} if input is None else input,
            name,
            listener,
            record_history,
            progress,
            test_case,
        )
        self._executions[execution.arn] = execution
        execution.start()
        return execution

    def execution(self, arn: str) -> LocalExecution:
        return self._executions[arn]

    def forget(self, arn: str) -> None:
        """Drop a closed execution the caller has recorded elsewhere (``sfnstack serve``
        keeps its own records), so a long-running runtime does not hold every result."""
        execution = self._executions.get(arn)
        if execution is not None and execution.done:
            del self._executions[arn]

    @property
    def executions(self) -> dict[str, LocalExecution]:
        return dict(self._executions)

    def execute(
        self,
        state_machine: str,
        input: Any = None,
        *,
        name: str | None = None,
        listener: Listener | None = None,
        record_history: bool = True,
        timeout: float | None = None,
        test_case: TestCase | None = None,
    ) -> ExecutionResult:
        """Run an execution to its end (``TimeoutError`` after ``timeout`` seconds)."""
        execution = self.start_execution(
            state_machine,
            input,
            name=name,
            listener=listener,
            record_history=record_history,
            test_case=test_case,
        )
        return execution.wait(timeout)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for execution in self._executions.values():
            if not execution.done:
                execution.stop("States.Runtime", "the local runtime was closed")
        for execution in self._executions.values():
            execution._done.wait(5)
        self.lambdas.close()
        if self._provisioner is not None:
            from sfnstack.integrations import aws

            aws.CLIENTS.before_calls.discard(self._provisioner.wait)
        with self._s3_lock:
            if self._s3 is not None:
                self._s3.close()
                self._s3 = None

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
