"""Lambda execution environments: cold start once, warm reuse, the context, errors as Lambda
reports them, timeouts and crashes, the pool's limits, logs, shutdown; each both with fresh
interpreters and with environments forked from a zygote (``preload``)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sfnstack.lambdas import LambdaPool, function_from_callable, resolve_functions
from sfnstack.services import LambdaFunctionError, LambdaNotFoundError, LambdaTimeoutError
from sfnstack.template import load_template

FIXTURE = Path(__file__).parents[2] / "fixtures" / "runtime" / "template.yaml"
TOOLS_DIR = FIXTURE.parent / "functions" / "tools"
ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture(scope="module")
def functions():
    return resolve_functions(load_template(FIXTURE))


# Fresh interpreters, and environments forked from a zygote that preloaded a library.
MODES = {"fresh": (), "forked": ("json", "boto3")}


@pytest.fixture(scope="module", params=list(MODES))
def preload(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return MODES[request.param]


def ready(pool: LambdaPool, preload: tuple[str, ...]) -> LambdaPool:
    """The pool, its zygote (if any) ready, so every cold start is a fork."""
    if preload:
        assert pool.zygote is not None and pool.zygote.wait_ready(60)
    return pool


@pytest.fixture(scope="module")
def pool(functions, preload: tuple[str, ...]) -> Iterator[LambdaPool]:
    pool = LambdaPool(
        functions,
        max_workers=2,
        env_overrides={"*": {"EXTRA": "for-all"}, "DoubleFunction": {"EXTRA": "only-double"}},
        preload=preload,
    )
    yield ready(pool, preload)
    pool.close()


def test_cold_start_once_then_warm_reuse(pool: LambdaPool, preload: tuple[str, ...]) -> None:
    first = pool.invoke("ToolsFunction", {"n": 1})
    second = pool.invoke("ToolsFunction", {"n": 2})
    assert first["pid"] == second["pid"]
    environments = [w for queue in pool._idle.values() for w in queue]
    assert environments and all(w.forked == bool(preload) for w in environments)
    assert first["imports"] == second["imports"] == 1  # the module was imported once
    assert second["calls"] == first["calls"] + 1  # module state survives between invocations


def test_context_environment_and_import_path(pool: LambdaPool) -> None:
    result = pool.invoke("ToolsFunction", {})
    assert result["function_name"] == "local-ToolsFunction"
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"] == ARN_PREFIX + "local-ToolsFunction"
    assert result["memory_limit_in_mb"] == 256
    assert len(result["aws_request_id"]) == 36
    assert result["log_group_name"] == "/aws/lambda/local-ToolsFunction"
    assert 0 < result["remaining_ms"] <= 10_000
    assert result["cwd"] == str(TOOLS_DIR)
    assert result["layer"] == "from-the-shared-layer"  # layer content on the import path
    env = result["env"]
    assert env["DATA_BUCKET"] == "local-data-dev"
    assert env["MODE"] == "relaxed"
    assert env["EXTRA"] == "for-all"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "local-ToolsFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["LAMBDA_TASK_ROOT"] == str(TOOLS_DIR)
    assert env["_HANDLER"] == "app.describe"
    # Two requests never share an id
    assert pool.invoke("ToolsFunction", {})["aws_request_id"] != result["aws_request_id"]


def test_per_function_env_override_wins(pool: LambdaPool, functions) -> None:
    assert pool._worker_env(functions["DoubleFunction"])["EXTRA"] == "only-double"


@pytest.mark.parametrize(
    "name",
    [
        "DoubleFunction",
        "local-double",
        ARN_PREFIX + "local-double",
        ARN_PREFIX + "local-double:$LATEST",
        "123456789012:function:local-double",
        "local-double:$LATEST",
    ],
)
def test_invoke_by_logical_id_name_or_arn(pool: LambdaPool, name: str) -> None:
    assert pool.invoke(name, {"value": 21}) == {"value": 42}


def test_unknown_function(pool: LambdaPool) -> None:
    with pytest.raises(LambdaNotFoundError):
        pool.invoke(ARN_PREFIX + "nope", {})


def test_unhandled_exception_is_the_error_type_and_worker_stays_warm(pool: LambdaPool) -> None:
    with pytest.raises(LambdaFunctionError) as caught:
        pool.invoke("FailFunction", {"why": "testing"})
    error = caught.value
    assert error.error_type == "FixtureError"
    assert error.payload["errorType"] == "FixtureError"
    assert error.payload["errorMessage"] == "failing on purpose: testing"
    assert len(error.payload["requestId"]) == 36
    assert any("in fail" in line for line in error.payload["stackTrace"])
    assert not any("worker.py" in line for line in error.payload["stackTrace"])
    log = pool.read_log("FailFunction")
    assert "[ERROR] FixtureError: failing on purpose: testing" in log
    workers_before = pool.worker_count
    with pytest.raises(LambdaFunctionError):
        pool.invoke("FailFunction", {})
    assert pool.worker_count == workers_before  # no new environment was needed


def test_timeout_kills_the_environment(pool: LambdaPool) -> None:
    started = time.monotonic()
    with pytest.raises(LambdaTimeoutError) as caught:
        pool.invoke("ShortFunction", {"seconds": 30})
    assert time.monotonic() - started < 20
    assert caught.value.timeout_seconds == 1
    assert "Task timed out after 1.00 seconds" in str(caught.value)
    assert "Task timed out after 1.00 seconds" in pool.read_log("ShortFunction")
    # A fresh environment serves the next invocation
    assert pool.invoke("ShortFunction", {"seconds": 0}) == {"slept": 0}


def test_a_dying_runtime_is_an_exit_error(pool: LambdaPool) -> None:
    with pytest.raises(LambdaFunctionError) as caught:
        pool.invoke("CrashFunction", {})
    assert caught.value.error_type == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 7" in caught.value.payload["errorMessage"]
    assert "about to crash" in pool.read_log("CrashFunction")


def test_logs_have_lambda_markers_and_handler_output(pool: LambdaPool) -> None:
    pool.invoke("ToolsFunction", {"marker": "log-me"})
    log = pool.read_log("ToolsFunction")
    assert 'describe called with {"marker": "log-me"}' in log
    # the root logger has Lambda's handler: [LEVEL] timestamp request-id message
    assert re.search(
        r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\t"
        r"describe logged through the root logger",
        log,
    )
    assert "START RequestId: " in log and "END RequestId: " in log and "REPORT RequestId: " in log


def test_non_python_function_fails_clearly(pool: LambdaPool) -> None:
    with pytest.raises(LambdaFunctionError) as caught:
        pool.invoke("NodeFunction", {})
    assert caught.value.error_type == "Runtime.InvalidRuntime"
    assert "nodejs20.x" in caught.value.payload["errorMessage"]


# -- callables registered by name ---------------------------------------------------------


HANDLERS = """
import os, time
def echo(event, context):
    return {"event": event, "name": context.function_name}
def not_json(event, context):
    return {1, 2}
def slow(event, context):
    time.sleep(event)
    return os.getpid()
NOT_CALLABLE = 3
def segfault(event, context):
    import ctypes
    ctypes.string_at(0)
"""


@pytest.fixture()
def handlers_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "fixture_handlers.py").write_text(HANDLERS)
    (tmp_path / "broken_handlers.py").write_text("import no_such_module_here\n")
    (tmp_path / "syntax_handlers.py").write_text("def f(:\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_pool(
    handlers_dir: Path, preload: tuple[str, ...], max_workers: int = 2, **targets: str
) -> LambdaPool:
    pool = LambdaPool(
        {
            name: function_from_callable(name, target, code_dir=handlers_dir)
            for name, target in targets.items()
        },
        max_workers=max_workers,
        preload=preload,
    )
    return ready(pool, preload)


def test_callables_and_init_errors(handlers_dir: Path, preload: tuple[str, ...]) -> None:
    with make_pool(
        handlers_dir,
        preload,
        echo="fixture_handlers:echo",
        not_json="fixture_handlers:not_json",
        missing="fixture_handlers:nope",
        not_callable="fixture_handlers:NOT_CALLABLE",
        broken="broken_handlers:f",
        syntax="syntax_handlers:f",
    ) as pool:
        assert pool.invoke("echo", [1, "x"]) == {"event": [1, "x"], "name": "echo"}
        expected = {
            "not_json": "Runtime.MarshalError",
            "missing": "Runtime.HandlerNotFound",
            "not_callable": "Runtime.HandlerNotFound",
            "broken": "Runtime.ImportModuleError",
            "syntax": "Runtime.UserCodeSyntaxError",
        }
        for name, error_type in expected.items():
            with pytest.raises(LambdaFunctionError) as caught:
                pool.invoke(name, {})
            assert caught.value.error_type == error_type, name
        with pytest.raises(LambdaFunctionError) as caught:
            pool.invoke("echo", {"when": object()})  # not JSON: never reaches the function
        assert caught.value.error_type == "Lambda.InvalidRequestContentException"
        assert pool.invoke("echo", 1)["event"] == 1  # the pool is still usable


def test_a_segfault_is_an_exit_error_naming_the_signal(
    handlers_dir: Path, preload: tuple[str, ...]
) -> None:
    with make_pool(handlers_dir, preload, crash="fixture_handlers:segfault") as pool:
        with pytest.raises(LambdaFunctionError) as caught:
            pool.invoke("crash", {})
        assert caught.value.error_type == "Runtime.ExitError"
        assert "Runtime exited with error: signal: segmentation fault" in str(
            caught.value.payload["errorMessage"]
        )


def test_bad_callable_spec() -> None:
    with pytest.raises(ValueError, match="module:callable"):
        function_from_callable("f", "no_colon")
    with pytest.raises(ValueError, match="function name"):
        function_from_callable("bad name", "m:f")


def test_pool_never_exceeds_its_worker_limit(handlers_dir: Path, preload: tuple[str, ...]) -> None:
    with make_pool(handlers_dir, preload, max_workers=2, slow="fixture_handlers:slow") as pool:
        pids: list[int] = []
        peak = 0

        def call() -> None:
            pids.append(pool.invoke("slow", 0.3))

        threads = [threading.Thread(target=call) for _ in range(5)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, pool.worker_count)
            time.sleep(0.01)
        assert len(pids) == 5
        assert len(set(pids)) <= 2 and peak <= 2
        assert pool.cold_starts == len(set(pids))


def test_concurrency_limit_keeps_idle_environments_of_other_functions_warm(
    handlers_dir: Path, preload: tuple[str, ...]
) -> None:
    with make_pool(
        handlers_dir, preload, max_workers=1, a="fixture_handlers:slow", b="fixture_handlers:slow"
    ) as pool:
        pid_a = pool.invoke("a", 0)
        pid_b = pool.invoke("b", 0)
        assert pid_a != pid_b
        assert pool.invoke("a", 0) == pid_a  # still warm: one at a time, but both kept
        assert pool.cold_starts == 2 and pool.worker_count == 2


def test_too_many_environments_retire_the_least_recently_used(
    handlers_dir: Path, preload: tuple[str, ...]
) -> None:
    functions = {
        name: function_from_callable(name, "fixture_handlers:slow", code_dir=handlers_dir)
        for name in ("a", "b", "c")
    }
    with ready(
        LambdaPool(functions, max_workers=1, max_environments=2, preload=preload), preload
    ) as pool:
        pid_a = pool.invoke("a", 0)
        pid_b = pool.invoke("b", 0)
        pool.invoke("c", 0)  # a is the least recently used: retired
        assert pool.worker_count == 2
        assert pool.invoke("b", 0) == pid_b
        assert pool.invoke("a", 0) != pid_a  # a cold start again
        assert pool.cold_starts == 4


def test_close_ends_every_worker(handlers_dir: Path, preload: tuple[str, ...]) -> None:
    pool = make_pool(handlers_dir, preload, max_workers=2, echo="fixture_handlers:echo")
    pool.invoke("echo", 1)
    processes = [w.process for queue in pool._idle.values() for w in queue]
    assert processes
    pool.close()
    assert all(process.poll() is not None for process in processes)
    with pytest.raises(RuntimeError, match="closed"):
        pool.invoke("echo", 1)


def test_invocation_records_carry_the_handler_duration_and_the_cold_start(functions) -> None:
    with LambdaPool(functions, max_workers=1) as pool:
        pool.invoke("ToolsFunction", {})  # before recording: not kept
        assert pool.invocations == []
        pool.record_invocations = True
        pool.invoke("DoubleFunction", {"value": 2})  # a cold start
        pool.invoke("DoubleFunction", {"value": 3})  # warm
        pool.invoke("ShortFunction", {"seconds": 0.05})  # a duration known from below
        with pytest.raises(LambdaFunctionError):
            pool.invoke("FailFunction", {})
    cold, warm, slept, failed = pool.invocations
    assert [r.function for r in pool.invocations] == [
        "DoubleFunction", "DoubleFunction", "ShortFunction", "FailFunction",
    ]  # fmt: skip
    assert cold.init_ms is not None and cold.init_ms > 0 and warm.init_ms is None
    assert 50 <= slept.duration_ms < 5_000
    assert failed.error == "FixtureError"
    assert all(0 < r.duration_ms < 5_000 for r in pool.invocations)
    assert cold.error is None and warm.error is None


def test_prewarm_starts_one_idle_environment_per_function_for_its_first_invocation(
    handlers_dir: Path, preload: tuple[str, ...]
) -> None:
    with make_pool(
        handlers_dir,
        preload,
        echo="fixture_handlers:echo",
        slow="fixture_handlers:slow",
        broken="broken_handlers:f",
    ) as pool:
        pool.record_invocations = True
        pool.prewarm(["echo", "slow", "broken"]).join(60)
        assert pool.worker_count == 2  # broken could not start: nothing kept for it
        started = pool.cold_starts
        pool.prewarm(["echo"]).join(60)  # it has one already
        assert pool.worker_count == 2
        pid = pool.invoke("slow", 0)
        assert pool.invoke("slow", 0) == pid
        pool.invoke("echo", 1)
        assert pool.cold_starts == started  # the invocations took the prewarmed ones
        first = next(r for r in pool.invocations if r.function == "slow")
        assert first.init_ms is not None  # still reported as the cold start it was
        with pytest.raises(LambdaFunctionError) as caught:
            pool.invoke("broken", {})
        assert caught.value.error_type == "Runtime.ImportModuleError"
