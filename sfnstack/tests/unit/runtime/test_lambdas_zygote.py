"""Environments forked from a zygote (``LambdaPool(preload=...)``): the preloaded library is
imported once, in the zygote, and each environment still has what a fresh interpreter
would have (its own handler import, environment variables, working directory, temp dir,
random state, exit status); a function the zygote cannot stand in for gets a fresh one."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sfnstack.lambdas import LambdaPool, function_from_callable
from sfnstack.lambdas.functions import LocalFunction
from sfnstack.services import LambdaFunctionError, LambdaTimeoutError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

LIBRARY = """
import os, time
IMPORTED_BY = os.getpid()
time.sleep(float(os.environ.get("PRELOADED_LIB_SLEEP", "0")))
"""

HANDLERS = """
import atexit, os, random, sys, tempfile
import preloaded_lib

IMPORTS = 0
IMPORTS += 1

def probe(event, context):
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "library_imported_by": preloaded_lib.IMPORTED_BY,
        "library_file": preloaded_lib.__file__,
        "imports": IMPORTS,
        "cwd": os.getcwd(),
        "mark": os.environ.get("MARK"),
        "tmp": tempfile.gettempdir(),
        "random": random.random(),
        "argv0": os.path.basename(sys.argv[0]),
        "stdin_is_null": os.path.samefile("/dev/null", "/proc/self/fd/0"),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    }

def exit_with(event, context):
    os._exit(event)

def sleep(event, context):
    import time
    time.sleep(event)

def at_exit(event, context):
    atexit.register(lambda: open(event, "w").write("ran"))
    return "registered"
"""


@pytest.fixture()
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A library on this process's import path (what the zygote preloads) and a code
    directory with the handlers."""
    library = tmp_path / "site"
    library.mkdir()
    (library / "preloaded_lib.py").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(library))
    code = tmp_path / "code"
    code.mkdir()
    (code / "zygote_handlers.py").write_text(HANDLERS)
    return code


def function(name: str, target: str, code_dir: Path, **environment: str) -> LocalFunction:
    made = function_from_callable(name, f"zygote_handlers:{target}", code_dir=code_dir)
    made.environment.update(environment)
    return made


@pytest.fixture()
def pool(code: Path, tmp_path: Path) -> Iterator[LambdaPool]:
    (tmp_path / "tmp-a").mkdir()
    (tmp_path / "tmp-b").mkdir()
    functions = {
        "a": function("a", "probe", code, MARK="a", TMPDIR=str(tmp_path / "tmp-a")),
        "b": function("b", "probe", code, MARK="b", TMPDIR=str(tmp_path / "tmp-b")),
        "exit": function("exit", "exit_with", code),
        "sleep": function("sleep", "sleep", code),
        "at_exit": function("at_exit", "at_exit", code),
    }
    functions["sleep"].timeout = 1
    pool = LambdaPool(functions, max_workers=4, preload=("preloaded_lib",))
    assert pool.zygote is not None and pool.zygote.wait_ready(60)
    assert pool.zygote.loaded == ["preloaded_lib"]
    yield pool
    pool.close()


def test_the_library_is_imported_once_and_each_environment_is_its_own(
    pool: LambdaPool, code: Path, tmp_path: Path
) -> None:
    assert pool.zygote is not None
    zygote_pid = pool.zygote.process.pid
    a = pool.invoke("a", {})
    b = pool.invoke("b", {})
    for result in (a, b):
        assert result["library_imported_by"] == zygote_pid  # imported in the zygote, once
        assert result["pid"] not in (zygote_pid, os.getpid())
        assert result["ppid"] == os.getpid()  # re-parented to the pool's process
        assert result["imports"] == 1  # the handler's own module: imported in the environment
        assert result["cwd"] == str(code)
        assert result["argv0"] == "worker.py"
        assert result["stdin_is_null"]
    assert a["pid"] != b["pid"]
    assert (a["mark"], b["mark"]) == ("a", "b")  # each its own environment variables
    assert (a["tmp"], b["tmp"]) == (str(tmp_path / "tmp-a"), str(tmp_path / "tmp-b"))
    assert a["random"] != b["random"]  # random state reseeded in each
    assert all(w.forked for queue in pool._idle.values() for w in queue)


def test_no_descriptor_of_the_zygote_or_the_pool_leaks_into_an_environment(
    pool: LambdaPool,
) -> None:
    # 0-2 stdio, the request and response pipes, the log stream's duplicate of stdout; and
    # at most the listing's own descriptor while /proc/self/fd is read.
    assert len(pool.invoke("a", {})["fds"]) <= 7


def test_a_function_with_its_own_copy_of_the_library_gets_a_fresh_interpreter(
    code: Path, tmp_path: Path
) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "zygote_handlers.py").write_text(HANDLERS)
    (own / "preloaded_lib.py").write_text("IMPORTED_BY = 'its own copy'\n")
    functions = {
        "shared": function("shared", "probe", code),
        "own": function("own", "probe", own),
        "settings": function("settings", "probe", code, PYTHONWARNINGS="ignore::ImportWarning"),
    }
    with LambdaPool(functions, max_workers=2, preload=("preloaded_lib",)) as pool:
        assert pool.zygote is not None and pool.zygote.wait_ready(60)
        assert pool.invoke("own", {})["library_imported_by"] == "its own copy"
        assert pool.invoke("settings", {})["library_imported_by"] != pool.zygote.process.pid
        assert pool.invoke("shared", {})["library_imported_by"] == pool.zygote.process.pid
        assert "preloaded_lib" in pool.zygote.refusals["own"]
        assert "PYTHONWARNINGS" in pool.zygote.refusals["settings"]
        forked = {w.function.name: w.forked for queue in pool._idle.values() for w in queue}
        assert forked == {"own": False, "settings": False, "shared": True}


def test_exit_status_timeout_and_atexit_of_forked_environments(
    pool: LambdaPool, tmp_path: Path
) -> None:
    with pytest.raises(LambdaFunctionError) as caught:
        pool.invoke("exit", 3)
    assert "Runtime exited with error: exit status 3" in caught.value.payload["errorMessage"]
    with pytest.raises(LambdaTimeoutError):
        pool.invoke("sleep", 30)
    marker = tmp_path / "atexit-ran"
    assert pool.invoke("at_exit", str(marker)) == "registered"
    environments = [w.process for queue in pool._idle.values() for w in queue]
    pool.close()
    assert marker.read_text() == "ran"  # the interpreter's exit handlers still run
    assert all(process.poll() is not None for process in environments)
    assert pool.zygote is not None and pool.zygote.process.poll() is not None


def test_environments_start_fresh_until_the_zygote_has_imported(
    code: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRELOADED_LIB_SLEEP", "3")  # a slow import, in the zygote only
    functions = {"a": function("a", "probe", code, PRELOADED_LIB_SLEEP="0")}
    with LambdaPool(functions, max_workers=2, preload=("preloaded_lib",)) as pool:
        started = time.monotonic()
        first = pool.invoke("a", {})
        assert time.monotonic() - started < 2.5  # nothing waited for the zygote
        assert first["library_imported_by"] == first["pid"]  # a fresh interpreter's own import
        assert pool.zygote is not None and pool.zygote.wait_ready(60)
        pool.retire("a")
        assert pool.invoke("a", {})["library_imported_by"] == pool.zygote.process.pid


def test_a_library_that_does_not_import_is_skipped(code: Path) -> None:
    functions = {"a": function("a", "probe", code)}
    with LambdaPool(
        functions, max_workers=1, preload=("preloaded_lib", "no_such_library_here")
    ) as pool:
        assert pool.zygote is not None and pool.zygote.wait_ready(60)
        assert pool.zygote.loaded == ["preloaded_lib"]
        assert "ModuleNotFoundError" in pool.zygote.skipped["no_such_library_here"]
        assert pool.invoke("a", {})["library_imported_by"] == pool.zygote.process.pid


def test_a_dead_zygote_means_fresh_interpreters(code: Path) -> None:
    functions = {"a": function("a", "probe", code)}
    with LambdaPool(functions, max_workers=1, preload=("preloaded_lib",)) as pool:
        assert pool.zygote is not None and pool.zygote.wait_ready(60)
        pool.zygote.process.kill()
        pool.zygote.process.wait()
        result = pool.invoke("a", {})
        assert result["library_imported_by"] == result["pid"]
        assert not pool.zygote.alive


BOTOCORE_HANDLERS = """
import boto3, botocore.session

def loader_state(event, context):
    session = boto3.session.Session()  # what boto3.client() makes on first use
    loader = session._session.get_component("data_loader")
    cached = {key[0] for key in loader._cache}
    bucket = event.get("bucket")
    if bucket:  # a client made with the loader works as one made cold
        s3 = session.client("s3")
        s3.put_object(Bucket=bucket, Key="from-handler", Body=b"warm")
    return {"cached": sorted(cached), "search_paths": list(loader.search_paths)}
"""


def test_environments_forked_with_boto3_preloaded_start_with_botocore_data_read(
    tmp_path: Path,
) -> None:
    from sfnstack.embedded_s3 import LocalS3

    code = tmp_path / "code"
    code.mkdir()
    (code / "botocore_handlers.py").write_text(BOTOCORE_HANDLERS)
    (tmp_path / "models").mkdir()

    def botocore_function(name: str, **environment: str) -> LocalFunction:
        made = function_from_callable(name, "botocore_handlers:loader_state", code_dir=code)
        made.environment.update(environment)
        return made

    functions = {
        "same": botocore_function("same"),
        "own_data_path": botocore_function("own_data_path", AWS_DATA_PATH=str(tmp_path / "models")),
    }
    with LocalS3(buckets=["warm-loader"]) as s3:
        env = {"AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_ENDPOINT_URL_S3": s3.endpoint_url}
        with LambdaPool(functions, max_workers=2, base_env=env, preload=("boto3",)) as pool:
            assert pool.zygote is not None and pool.zygote.wait_ready(60)
            assert "botocore data" not in pool.zygote.skipped
            warm = pool.invoke("same", {"bucket": "warm-loader"})
            # read in the zygote: the service list, the endpoints, the S3 model
            assert {"list_available_services", "load_data_with_path", "load_service_model"} <= set(
                warm["cached"]
            )
            assert all(w.forked for queue in pool._idle.values() for w in queue)
            # another AWS_DATA_PATH searches other directories: its loader reads for itself
            own = pool.invoke("own_data_path", {})
            assert own["search_paths"][0] == str(tmp_path / "models")
            assert own["cached"] == []
        body = s3.client().get_object(Bucket="warm-loader", Key="from-handler")["Body"].read()
        assert body == b"warm"


def test_a_zygote_started_before_the_pool_is_the_pool_s(code: Path) -> None:
    """A caller with start-up work of its own (``raincast run`` reads and checks its list,
    its template) starts the zygote first, so that it imports meanwhile; the pool it is
    given forks its environments from that zygote and closes it."""
    from sfnstack.lambdas.pool import start_zygote

    zygote = start_zygote(("preloaded_lib",))
    assert zygote is not None and zygote.wait_ready(60)
    log_path = zygote.log_path
    assert log_path.exists()
    functions = {"a": function("a", "probe", code, MARK="mine")}
    with LambdaPool(functions, max_workers=1, zygote=zygote) as pool:
        assert pool.zygote is zygote
        result = pool.invoke("a", {})
        assert result["library_imported_by"] == zygote.process.pid
        assert result["mark"] == "mine"
        assert result["ppid"] == os.getpid()
    assert zygote.process.poll() is not None  # closed with the pool
    assert not log_path.exists()  # its own log file, removed with it


def test_a_runtime_forks_from_a_zygote_it_is_given(code: Path) -> None:
    from sfnstack.lambdas.pool import start_zygote
    from sfnstack.local import LocalRuntime

    zygote = start_zygote(("preloaded_lib",))
    assert zygote is not None
    runtime = LocalRuntime(
        None, functions={"a": function("a", "probe", code)}, zygote=zygote, workers=1
    )
    try:
        assert runtime.lambdas.zygote is zygote and zygote.wait_ready(60)
        assert runtime.lambdas.invoke("a", {})["library_imported_by"] == zygote.process.pid
    finally:
        runtime.close()
    assert zygote.process.poll() is not None
