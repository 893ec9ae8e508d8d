"""serve's hot reload: a changed handler module or layer file gives the function fresh
environments at its next invocation (sfnstack.serve.hot_reload over the real worker pool),
environments busy during the change included, once they are idle."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfnstack.local import LocalRuntime
from sfnstack.serve.hot_reload import CodeWatcher, fingerprint

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "api"


def edit(path: Path, old: str, new: str) -> None:
    """Rewrite a file as an editor would, a little later than it was last written (so the
    change shows even where file times are coarse)."""
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    later = stat.st_mtime_ns + 2_000_000_000
    os.utime(path, ns=(later, later))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, LocalRuntime]]:
    root = tmp_path / "stack"
    shutil.copytree(FIXTURE, root)
    runtime = LocalRuntime(root / "template.yaml", workers=2, s3_endpoint_url="http://127.0.0.1:9")
    yield root, runtime
    runtime.close()


def watched(runtime: LocalRuntime) -> CodeWatcher:
    watcher = CodeWatcher(runtime.functions, runtime.lambdas)  # scans driven by the test
    runtime.before_invoke = watcher.before_invoke
    return watcher


def greet(runtime: LocalRuntime, **event: Any) -> dict[str, Any]:
    return runtime.invoke("GreetFunction", event)


def test_without_hot_reload_a_warm_environment_keeps_the_old_code(
    stack: tuple[Path, LocalRuntime],
) -> None:
    root, runtime = stack
    assert greet(runtime)["version"] == 1
    edit(root / "functions/calc/app.py", "VERSION = 1", "VERSION = 2")
    assert greet(runtime)["version"] == 1  # what hot reload is for


def test_a_changed_handler_module_runs_at_the_next_invocation(
    stack: tuple[Path, LocalRuntime],
) -> None:
    root, runtime = stack
    watcher = watched(runtime)
    assert greet(runtime)["version"] == 1
    assert watcher.scan() == set()  # nothing changed: nothing flagged
    assert greet(runtime)["version"] == 1
    assert runtime.lambdas.cold_starts == 1
    edit(root / "functions/calc/app.py", "VERSION = 1", "VERSION = 2")
    assert watcher.scan() == {"AddFunction", "FailFunction", "GreetFunction"}
    assert greet(runtime)["version"] == 2
    assert runtime.lambdas.cold_starts == 2
    assert greet(runtime)["version"] == 2
    assert runtime.lambdas.cold_starts == 2  # warm again until the next change


def test_a_changed_layer_file_runs_at_the_next_invocation(
    stack: tuple[Path, LocalRuntime],
) -> None:
    root, runtime = stack
    watcher = watched(runtime)
    assert greet(runtime)["greeting"] == "hello"
    edit(root / "layers/greeting/python/greeting.py", '"hello"', '"bonjour"')
    assert "GreetFunction" in watcher.scan()
    assert greet(runtime)["greeting"] == "bonjour"


def test_an_environment_busy_during_the_change_is_retired_once_idle(
    stack: tuple[Path, LocalRuntime],
) -> None:
    root, runtime = stack
    watcher = watched(runtime)
    slow: dict[str, Any] = {}
    started = threading.Event()

    def invoke_slowly() -> None:
        started.set()
        slow.update(greet(runtime, sleep=1.5))

    assert greet(runtime)["version"] == 1  # a warm environment with the old code
    thread = threading.Thread(target=invoke_slowly)
    thread.start()
    started.wait()
    deadline = time.monotonic() + 10
    while not runtime.lambdas._busy:  # the slow invocation holds the warm environment
        assert time.monotonic() < deadline
        time.sleep(0.01)
    edit(root / "functions/calc/app.py", "VERSION = 1", "VERSION = 2")
    watcher.scan()
    assert greet(runtime)["version"] == 2  # a fresh environment beside the busy one
    thread.join()
    assert slow["version"] == 1  # the busy one finished its invocation undisturbed
    for _ in range(3):  # the old environment, idle again, never serves another invocation
        assert greet(runtime)["version"] == 2


def test_retire_closes_idle_environments_and_returns_busy_ones(
    stack: tuple[Path, LocalRuntime],
) -> None:
    _root, runtime = stack
    runtime.lambdas.warm("GreetFunction", 2)
    assert runtime.lambdas.worker_count == 2
    assert runtime.lambdas.retire("GreetFunction") == []
    assert runtime.lambdas.worker_count == 0
    assert greet(runtime)["version"] == 1


def test_fingerprint_ignores_bytecode_caches(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    before = fingerprint(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0" * 10)
    assert fingerprint(tmp_path) == before
    (tmp_path / "new.py").write_text("y = 2\n")
    assert fingerprint(tmp_path) != before
