"""The cooperative hub (greenlets on one thread waiting for pipes, timers and signals), and
Map iterations / Parallel branches running on it against real Lambda worker processes:
concurrency without threads, waits that let the others run, Lambda concurrency slots,
timeouts, nesting and stops."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfnstack.cooperative import Hub, current_hub
from sfnstack.lambdas import LambdaPool, function_from_callable
from sfnstack.lambdas.pool import Worker
from sfnstack.local import LocalRuntime

# -- the hub itself -----------------------------------------------------------------------


def run_on_hub(*functions: Any) -> None:
    with Hub.running() as hub:
        greenlets = [hub.spawn(f) for f in functions]
        hub.run_until(lambda: all(g.dead for g in greenlets))


def test_current_hub_is_only_seen_from_its_greenlets() -> None:
    seen: list[Any] = []
    assert current_hub() is None
    with Hub.running() as hub:
        assert current_hub() is None  # the loop itself may not wait cooperatively
        glet = hub.spawn(lambda: seen.append(current_hub()))
        hub.run_until(lambda: glet.dead)
    assert seen == [hub]
    assert current_hub() is None


def test_a_greenlet_waiting_for_its_pipe_lets_the_others_run() -> None:
    read_fd, write_fd = os.pipe()
    order: list[str] = []

    def reader() -> None:
        order.append("reader waits")
        current_hub().wait_readable(read_fd)  # type: ignore[union-attr]
        order.append(f"reader got {os.read(read_fd, 10).decode()}")

    def writer() -> None:
        order.append("writer runs")
        current_hub().sleep(0.05)  # type: ignore[union-attr]
        os.write(write_fd, b"data")
        order.append("writer wrote")

    try:
        run_on_hub(reader, writer)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert order == ["reader waits", "writer runs", "writer wrote", "reader got data"]


def test_a_greenlet_alone_on_its_hub_reads_without_the_hub() -> None:
    # Nothing else could run meanwhile: the caller's blocking read is the wait (no poll).
    read_fd, write_fd = os.pipe()
    returned: list[bool] = []

    def alone() -> None:
        current_hub().wait_readable(read_fd)  # type: ignore[union-attr]
        returned.append(True)

    try:
        run_on_hub(alone)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert returned == [True]  # with no data in the pipe, and no switch to the hub


def test_sleeps_overlap_and_join_waits_for_nested_greenlets() -> None:
    finished: list[int] = []

    def parent() -> None:
        hub = current_hub()
        assert hub is not None

        def child(n: int) -> Any:
            def run() -> None:
                hub.sleep(0.2)
                finished.append(n)

            return run

        hub.join([hub.spawn(child(n)) for n in range(5)])
        finished.append(99)

    started = time.monotonic()
    run_on_hub(parent)
    assert sorted(finished[:5]) == [0, 1, 2, 3, 4] and finished[5] == 99
    assert time.monotonic() - started < 0.8  # together, not 5 x 0.2 s one after another


def test_a_signal_set_by_another_thread_wakes_its_waiter_and_a_timeout_ends_a_wait() -> None:
    results: list[bool] = []

    def waiter() -> None:
        hub = current_hub()
        assert hub is not None
        signal = hub.signal()
        threading.Timer(0.05, signal.set).start()
        results.append(signal.wait(timeout=10))
        results.append(hub.signal().wait(timeout=0.05))  # nobody sets this one

    run_on_hub(waiter)
    assert results == [True, False]


def test_a_hub_whose_greenlets_all_wait_for_nothing_says_so() -> None:
    def stuck() -> None:
        hub = current_hub()
        assert hub is not None
        hub.join([hub.spawn(lambda: hub.loop.switch())])  # parks with nothing to wake it

    with pytest.raises(RuntimeError, match="nothing can wake"):
        run_on_hub(stuck)


def test_an_exception_in_a_greenlet_reaches_run_until() -> None:
    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_on_hub(broken)


# -- the interpreter on a hub, with real worker processes ----------------------------------

HANDLERS = """
import os, threading, time
def slow(event, context):
    time.sleep(event.get("seconds", 0))
    return {"pid": os.getpid(), "i": event.get("i")}
def fail(event, context):
    raise KeyError("no such city")
def echo(event, context):
    return event
def text(event, context):
    return "\u00e9" * event["characters"]
def mark(event, context):
    time.sleep(event["seconds"])
    with open(event["path"], "w") as out:
        out.write("done")
    return {"pid": os.getpid()}
"""


@pytest.fixture()
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    functions = {
        name: function_from_callable(name, f"coop_handlers:{name}", code_dir=tmp_path)
        for name in ("slow", "fail")
    }
    with LocalRuntime(None, workers=2, map_workers=4, functions=functions) as rt:
        yield rt


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def map_of(processor_states: dict[str, Any], start: str, **map_fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": start, "States": processor_states},
                "End": True,
                **map_fields,
            }
        },
    }


SLOW_TASK = {"Type": "Task", "Resource": arn("slow"), "End": True}


def interpreter_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith(("asl-", "task-"))}


def test_map_iterations_share_one_thread_and_still_overlap(runtime: LocalRuntime) -> None:
    runtime.add_state_machine(map_of({"Call": SLOW_TASK}, "Call"), name="overlap")
    items = [{"seconds": 0.4, "i": i} for i in range(4)]
    runtime.lambdas.warm("slow", 2)
    threads_seen: set[str] = set()
    execution = runtime.start_execution("overlap", {"items": items})
    while not execution.done:
        threads_seen |= interpreter_threads()
        time.sleep(0.01)
    result = execution.wait(30)
    assert result.status == "SUCCEEDED", result.cause
    assert [r["i"] for r in result.output] == [0, 1, 2, 3]  # item order
    # 4 x 0.4 s on 2 environments: two rounds, not four; and no thread per iteration.
    assert threads_seen == set()
    assert len({r["pid"] for r in result.output}) == 2
    assert result.history[-1]["type"] == "ExecutionSucceeded"


def test_more_iterations_than_lambda_slots_wait_their_turn(runtime: LocalRuntime) -> None:
    # map_workers=4 over 2 Lambda slots: two iterations at a time wait cooperatively.
    runtime.add_state_machine(map_of({"Call": SLOW_TASK}, "Call"), name="slots")
    items = [{"seconds": 0.05, "i": i} for i in range(12)]
    result = runtime.execute("slots", {"items": items}, timeout=60)
    assert result.status == "SUCCEEDED", result.cause
    assert [r["i"] for r in result.output] == list(range(12))
    assert runtime.lambdas.worker_count <= 2


def test_wait_states_in_iterations_overlap(runtime: LocalRuntime) -> None:
    runtime.add_state_machine(
        map_of({"Pause": {"Type": "Wait", "Seconds": 1, "End": True}}, "Pause"), name="waits"
    )
    started = time.monotonic()
    result = runtime.execute("waits", {"items": [1, 2, 3, 4]}, timeout=60)
    assert result.status == "SUCCEEDED"
    assert result.output == [1, 2, 3, 4]
    assert time.monotonic() - started < 3.5  # four 1 s waits side by side, not in a row


def test_task_timeout_in_an_iteration_does_not_hold_up_the_others(runtime: LocalRuntime) -> None:
    states = {
        "Call": {
            "Type": "Task",
            "Resource": arn("slow"),
            "TimeoutSeconds": 1,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
            "End": True,
        },
        "TimedOut": {"Type": "Pass", "Result": "timed out", "End": True},
    }
    runtime.add_state_machine(map_of(states, "Call"), name="timeouts")
    items = [{"seconds": 3, "i": 0}, {"seconds": 0, "i": 1}, {"seconds": 0, "i": 2}]
    result = runtime.execute("timeouts", {"items": items}, timeout=60)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output[0] == "timed out"
    assert [r["i"] for r in result.output[1:]] == [1, 2]
    # The abandoned invocation finishes in the background and its slot comes back.
    assert runtime.invoke("slow", {"i": 7})["i"] == 7


def test_an_invocation_its_execution_gave_up_on_runs_to_completion(tmp_path: Path) -> None:
    # As on AWS, a Task's timeout does not stop the function: it finishes (its side effects
    # happen) and its environment stays warm, though the execution has ended.
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    mark = function_from_callable("mark", "coop_handlers:mark", code_dir=tmp_path)
    task = {"Type": "Task", "Resource": arn("mark"), "TimeoutSeconds": 1, "End": True}
    with LocalRuntime(None, workers=1, functions={"mark": mark}) as rt:
        rt.add_state_machine({"StartAt": "T", "States": {"T": task}}, name="gives-up")
        rt.lambdas.warm("mark")
        marker = tmp_path / "marker"
        result = rt.execute("gives-up", {"seconds": 2, "path": str(marker)}, timeout=60)
        assert result.error == "States.Timeout"
        assert not marker.exists()
        # The next call waits for the slot the abandoned one holds, then gets its environment.
        rt.invoke("mark", {"seconds": 0, "path": str(tmp_path / "again")})
        assert marker.read_text() == "done"
        assert rt.lambdas.cold_starts == 1


def test_an_abandoned_invocation_still_running_when_the_runtime_closes_ends_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Closing ends the environment the abandoned invocation runs in; the thread that waits
    # for its reply then notes the exit in the function's log, whose folder the closing
    # pool has removed: that note has nowhere to go and must not raise.
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    mark = function_from_callable("mark", "coop_handlers:mark", code_dir=tmp_path)
    task = {"Type": "Task", "Resource": arn("mark"), "TimeoutSeconds": 1, "End": True}
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    failed = Worker._failed
    log_dirs: list[Path] = []

    def failed_once_the_folder_is_gone(worker: Worker, *args: Any) -> None:
        # The order the race took in a CI run: the pool removes its log folder first.
        deadline = time.monotonic() + 10
        while log_dirs[0].exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        failed(worker, *args)

    monkeypatch.setattr(Worker, "_failed", failed_once_the_folder_is_gone)
    with LocalRuntime(None, workers=1, functions={"mark": mark}) as rt:
        log_dirs.append(rt.lambdas.log_dir)
        rt.add_state_machine({"StartAt": "T", "States": {"T": task}}, name="gives-up")
        result = rt.execute("gives-up", {"seconds": 30, "path": str(tmp_path / "m")}, timeout=60)
        assert result.error == "States.Timeout"
        finishers = [t for t in threading.enumerate() if t.name == "lambda-abandoned"]
        assert finishers, "the abandoned invocation is waited for in a thread"
    for finisher in finishers:
        finisher.join(10)
        assert not finisher.is_alive()
    assert raised == []
    assert not (tmp_path / "m").exists()


def test_parallel_branches_nested_in_iterations_with_one_lambda_slot(tmp_path: Path) -> None:
    # Every slot held by an iteration waiting for its reply while its sibling branches want
    # one: deadlock-free only if replies keep being read while others wait for slots.
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    branches = [{"StartAt": name, "States": {name: SLOW_TASK}} for name in ("Left", "Right")]
    processor = {"Both": {"Type": "Parallel", "Branches": branches, "End": True}}
    with LocalRuntime(None, workers=1, map_workers=3, functions={"slow": slow}) as rt:
        rt.add_state_machine(map_of(processor, "Both"), name="nested")
        items = [{"seconds": 0.01, "i": i} for i in range(6)]
        result = rt.execute("nested", {"items": items}, timeout=60)
    assert result.status == "SUCCEEDED", result.cause
    assert [[b["i"] for b in pair] for pair in result.output] == [[i, i] for i in range(6)]


def test_a_failing_iteration_fails_the_map_with_the_function_error(runtime: LocalRuntime) -> None:
    states = {
        "Call": {"Type": "Task", "Resource": arn("slow"), "Next": "Fail"},
        "Fail": {"Type": "Task", "Resource": arn("fail"), "End": True},
    }
    runtime.add_state_machine(map_of(states, "Call"), name="failing")
    result = runtime.execute("failing", {"items": [{"i": 1}, {"i": 2}]}, timeout=60)
    assert result.status == "FAILED"
    assert result.error == "KeyError"
    assert "no such city" in (result.cause or "")


def test_stopping_an_execution_ends_its_waiting_iterations(runtime: LocalRuntime) -> None:
    runtime.add_state_machine(
        map_of({"Pause": {"Type": "Wait", "Seconds": 60, "End": True}}, "Pause"), name="long"
    )
    execution = runtime.start_execution("long", {"items": [1, 2, 3]})
    time.sleep(0.3)
    started = time.monotonic()
    execution.stop(error="Stopped.ByTest")
    result = execution.wait(30)
    assert result.status == "ABORTED" and result.error == "Stopped.ByTest"
    assert time.monotonic() - started < 5


def test_two_executions_share_the_lambda_slots(tmp_path: Path) -> None:
    # Slots released by one execution's thread wake the other execution's hub.
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    with LocalRuntime(None, workers=1, map_workers=2, functions={"slow": slow}) as rt:
        rt.add_state_machine(map_of({"Call": SLOW_TASK}, "Call"), name="shared")
        items = [{"seconds": 0.02, "i": i} for i in range(8)]
        executions = [rt.start_execution("shared", {"items": items}) for _ in range(2)]
        results = [e.wait(60) for e in executions]
    for result in results:
        assert result.status == "SUCCEEDED", result.cause
        assert [r["i"] for r in result.output] == list(range(8))


def test_a_pool_used_from_a_hub_and_from_threads_at_once(tmp_path: Path) -> None:
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    with LambdaPool({"slow": slow}, max_workers=1) as pool:
        from_thread: list[int] = []
        thread = threading.Thread(
            target=lambda: from_thread.extend(
                pool.invoke("slow", {"seconds": 0.01, "i": i})["i"] for i in range(5)
            )
        )
        from_hub: list[int] = []

        def call(i: int) -> Any:
            return lambda: from_hub.append(pool.invoke("slow", {"seconds": 0.01, "i": i})["i"])

        thread.start()
        run_on_hub(*(call(i) for i in range(5)))
        thread.join(30)
    assert from_thread == [0, 1, 2, 3, 4]
    assert sorted(from_hub) == [0, 1, 2, 3, 4]


def test_an_invocation_interrupted_mid_wait_retires_its_environment(tmp_path: Path) -> None:
    # Its reply may still arrive: the environment must not serve the next invocation.
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    with LambdaPool({"slow": slow}, max_workers=1) as pool:
        pool.warm("slow")
        raised: list[BaseException] = []

        def caller() -> None:
            try:
                pool.invoke("slow", {"seconds": 0.3, "i": 1})
            except RuntimeError as exc:
                raised.append(exc)

        with Hub.running() as hub:
            victim = hub.spawn(caller)

            def interrupter() -> None:
                hub.sleep(0.05)
                victim.throw(RuntimeError("interrupted"))

            hub.spawn(interrupter)  # stays parked in throw(): the victim's end returns to the loop
            hub.run_until(lambda: victim.dead)
        assert [str(e) for e in raised] == ["interrupted"]
        assert pool.invoke("slow", {"i": 2})["i"] == 2
        assert pool.cold_starts == 2


def test_a_greenlet_interrupted_while_waiting_for_a_slot_does_not_take_the_next_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    with LambdaPool({"slow": slow}, max_workers=1) as pool:
        pool.warm("slow")
        done: list[Any] = []

        def call(i: int, seconds: float) -> Any:
            def run() -> None:
                try:
                    done.append(pool.invoke("slow", {"seconds": seconds, "i": i})["i"])
                except RuntimeError as exc:
                    done.append(str(exc))

            return run

        with Hub.running() as hub:
            holder = hub.spawn(call(1, 0.3))  # takes the only slot
            victim = hub.spawn(call(2, 0))  # queued first for the slot
            last = hub.spawn(call(3, 0))  # queued second

            def interrupter() -> None:
                hub.sleep(0.05)
                victim.throw(RuntimeError("interrupted"))

            def watchdog() -> None:
                hub.sleep(10)
                raise AssertionError("a greenlet waiting for a slot was never woken")

            hub.spawn(interrupter)
            hub.spawn(watchdog)
            hub.run_until(lambda: holder.dead and victim.dead and last.dead)
    assert done == ["interrupted", 1, 3]


@pytest.mark.parametrize("on_hub", [False, True])
def test_payloads_bigger_than_a_pipe_buffer_cross_both_ways(tmp_path: Path, on_hub: bool) -> None:
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    echo = function_from_callable("echo", "coop_handlers:echo", code_dir=tmp_path)
    event = {"cities": [f"Sydney-{i:06d}" for i in range(200_000)]}  # ~2.8 MB of JSON
    replies: list[Any] = []
    with LambdaPool({"echo": echo}, max_workers=1) as pool:
        if on_hub:
            run_on_hub(lambda: replies.append(pool.invoke("echo", event)))
        else:
            replies.append(pool.invoke("echo", event))
    assert replies == [event]


def test_task_results_at_the_state_size_limit_through_a_worker(tmp_path: Path) -> None:
    # 100,000 x "\u00e9" is 200,002 bytes of UTF-8 JSON (600,006 with \\u escapes, as
    # runtimes before python3.12 sent it): under the 262,144-byte limit. 140,000 of them
    # (280,002 bytes) are over it.
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    text = function_from_callable("text", "coop_handlers:text", code_dir=tmp_path)
    with LocalRuntime(None, workers=1, functions={"text": text}) as rt:
        rt.add_state_machine(
            {
                "StartAt": "T",
                "States": {"T": {"Type": "Task", "Resource": arn("text"), "End": True}},
            },
            name="text",
        )
        within = rt.execute("text", {"characters": 100_000}, timeout=60)
        over = rt.execute("text", {"characters": 140_000}, timeout=60)
    assert within.status == "SUCCEEDED", within.cause
    assert within.output == "\u00e9" * 100_000
    assert over.status == "FAILED" and over.error == "States.DataLimitExceeded"


# -- wait_for_warm: a busy environment soon free rather than a cold start ------------------


def test_with_wait_for_warm_iterations_share_a_busy_environment(tmp_path: Path) -> None:
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    for wait_for_warm, environments in ((False, 2), (True, 1)):
        with LambdaPool({"slow": slow}, max_workers=2, wait_for_warm=wait_for_warm) as pool:
            pids: list[int] = []

            def call(i: int, pool: LambdaPool = pool, pids: list[int] = pids) -> Any:
                return lambda: pids.append(pool.invoke("slow", {"seconds": 0.01, "i": i})["pid"])

            # Two at once while the first environment is still starting, then four more.
            run_on_hub(call(0), call(1))
            run_on_hub(*(call(i) for i in range(2, 6)))
            assert len(pids) == 6
            assert pool.cold_starts == len(set(pids)) == environments, wait_for_warm


def test_with_wait_for_warm_an_environment_busy_longer_than_a_cold_start_is_not_waited_for(
    tmp_path: Path,
) -> None:
    (tmp_path / "coop_handlers.py").write_text(HANDLERS)
    slow = function_from_callable("slow", "coop_handlers:slow", code_dir=tmp_path)
    with LambdaPool({"slow": slow}, max_workers=2, wait_for_warm=True) as pool:
        pool.invoke("slow", {})  # one cold start measured
        finished: list[int] = []

        def call(i: int, seconds: float) -> Any:
            return lambda: finished.append(pool.invoke("slow", {"seconds": seconds, "i": i})["i"])

        started = time.monotonic()
        run_on_hub(call(0, 4 * pool._cold_start_estimate("slow") + 0.5), call(1, 0))
        # The second did not wait out the first's invocation: it got an environment of its own.
        assert finished == [1, 0]
        assert pool.cold_starts == 2
        assert time.monotonic() - started < 8 * pool._cold_start_estimate("slow") + 5
