"""sfnstack serve and the embedded S3 endpoint: request latency, triggers, restart, memory.

Measures, with boto3 as a user would, each server in a process of its own:

- PutObject / GetObject medians for small objects against, taking turns within each of
  ``--rounds`` rounds: a trivial keep-alive server answering canned responses (what boto3
  costs by itself: the floor), moto's own server (werkzeug and moto's Flask app: what the
  embedded endpoint was), the embedded endpoint that ``raincast run`` starts (LocalS3), and
  ``sfnstack serve``'s persisting endpoint (fixture stack, tests/fixtures/serve); with
  ``--compare REV`` also serve as of git revision REV (its ``sfnstack/src``). Each row says
  what the endpoint adds to the floor;
- upload-to-execution latency: PutObject under incoming/ until ListExecutions shows it,
  and the StartExecution -> closed round trip of the fixture's one-task machine (serve and
  serve @REV taking turns);
- restart time with the objects and executions on disk (serve and serve @REV taking
  turns, ``--restarts`` times each);
- with ``--rss-executions N``: the server's memory (RSS) after N executions, per execution,
  also for REV with ``--compare REV``.

    python benchmarks/serve_bench.py [--objects 300 --rounds 3] [--compare main]
    python benchmarks/serve_bench.py --rss-executions 300 --compare main
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "serve"))
sys.path.insert(0, str(REPO / "src"))

from stack import ServeProcess, wait_until  # noqa: E402


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _run_executions(server: ServeProcess, count: int, keep_results: bool) -> None:
    sfn, s3 = server.sfn(), server.s3()
    sm_arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    results = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "result" in b["Name"])
    request = '{"cities": ["Perth", "Sydney", "?Atlantis"]}'

    def one(_: int) -> None:
        arn = sfn.start_execution(stateMachineArn=sm_arn, input=request)["executionArn"]
        wait_until(
            lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING",
            120,
            "the execution",
            interval=0.01,
        )
        if not keep_results:  # what the run wrote is data, not the server's bookkeeping
            listed = s3.list_objects_v2(Bucket=results, Prefix=f"runs/{arn.rsplit(':', 1)[-1]}/")
            for item in listed.get("Contents", []):
                s3.delete_object(Bucket=results, Key=item["Key"])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def rss_growth(
    source: Path | None, executions: int, keep_results: bool, warmup: int = 30
) -> tuple[float, float]:
    """(RSS after the warm-up, MB per execution over the next ``executions``) of a server
    running the sfnstack in ``source`` (None: this checkout). ``keep_results=False``
    deletes each run's result objects once it closed, so only what the server keeps per
    execution grows."""
    with tempfile.TemporaryDirectory() as tmp:
        server = ServeProcess(
            Path(tmp) / "data",
            REPO / "tests" / "fixtures" / "serve" / "template.yaml",
            "--no-schedule",
            python_path=[source] if source is not None else None,
        )
        server.start()
        try:
            assert server.process is not None
            _run_executions(server, warmup, keep_results)
            time.sleep(1)
            before = _rss_mb(server.process.pid)
            _run_executions(server, executions, keep_results)
            time.sleep(1)
            after = _rss_mb(server.process.pid)
        finally:
            server.stop()
    return before, (after - before) / executions


def _extract(revision: str, into: Path) -> Path:
    """``sfnstack/src`` of a git revision, as files under ``into``."""
    archive = subprocess.run(
        ["git", "archive", revision, "sfnstack/src"],
        cwd=REPO.parent,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "sfnstack" / "src"


def memory(executions: int, compare: str | None) -> None:
    rows: list[tuple[str, Path | None]] = [("this checkout", None)]
    with tempfile.TemporaryDirectory() as tmp:
        if compare:
            rows.append((compare, _extract(compare, Path(tmp))))
        for keep_results in (False, True):
            what = "results kept   " if keep_results else "results deleted"
            for label, source in rows:
                base, per_execution = rss_growth(source, executions, keep_results)
                print(
                    f"{what}: RSS after warm-up {base:6.1f} MB, then "
                    f"{per_execution * 1024:6.1f} KB per execution over {executions}  [{label}]"
                )


class _FloorHandler(socketserver.StreamRequestHandler):
    """Answers every request at once, over keep-alive, with the headers moto answers a
    PutObject / GetObject of ``_BODY`` with (ETag, Last-Modified, CRC32 checksum, ...):
    what boto3 costs by itself (signing, sending, parsing the same response)."""

    def handle(self) -> None:
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method = line.split(b" ", 1)[0]
            length, expect = 0, False
            while (header := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = header.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"expect":  # boto3 waits for this before a PUT's body
                    expect = value.strip().lower() == b"100-continue"
            if length:
                if expect:
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.rfile.read(length)
            body = _BODY if method == b"GET" else b""
            headers = _GET_HEADERS if method == b"GET" else _PUT_HEADERS
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\n" + headers
                + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )  # fmt: skip


_BODY = b'{"city": "Sydney", "probability": 0.42}' * 10
_PUT_HEADERS = (
    f'ETag: "{hashlib.md5(_BODY).hexdigest()}"\r\n'
    "Last-Modified: Wed, 02 Dec 2026 07:00:00 GMT\r\n"
    f"x-amz-checksum-crc32: {base64.b64encode(zlib.crc32(_BODY).to_bytes(4, 'big')).decode()}\r\n"
    "x-amz-sdk-checksum-algorithm: CRC32\r\n"
    "x-amzn-requestid: 64aTYRPgB8pRmaP7xGWiQqmdTxSJXuOAcq6KlvOSaOJpAdzGGwtw\r\n"
    "Date: Wed, 02 Dec 2026 07:00:00 GMT\r\n"
).encode()
_GET_HEADERS = _PUT_HEADERS + b"Content-Type: binary/octet-stream\r\nAccept-Ranges: bytes\r\n"


def _serve_one(kind: str) -> int:
    """Serve one endpoint in this process (the benchmark's child): prints its port, then
    serves until stdin closes."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(128)
    server: Any
    if kind == "floor":
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(
            listening.getsockname(), _FloorHandler, bind_and_activate=False
        )
        server.socket.close()
        server.socket = listening
        server.daemon_threads = True
    elif kind == "moto":  # ThreadedMotoServer's app and server, without its log lines
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        host, port = listening.getsockname()
        app = DomainDispatcherApplication(create_backend_app)
        server = make_server(
            host, port, app, threaded=True, request_handler=QuietHandler, fd=listening.fileno()
        )
    else:  # the embedded endpoint, as `raincast run` starts it
        from sfnstack.embedded_s3 import RequestCounter, _s3_server

        server = _s3_server(listening, RequestCounter(lambda environ, start_response: []))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(listening.getsockname()[1], flush=True)
    sys.stdin.read()
    return 0


class _Endpoint:
    """A child process serving one kind of endpoint (``_serve_one``)."""

    def __init__(self, kind: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-one", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def _load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def _range(values: list[float]) -> str:
    return f"{min(values) * 1000:5.2f}-{max(values) * 1000:5.2f} ms"


def requests_side_by_side(rows: list[tuple[str, str]], objects: int, rounds: int) -> None:
    """PutObject / GetObject medians of the same boto3 calls against each endpoint, the
    endpoints taking turns request by request (the machine's speed drifts from one second
    to the next, and every endpoint sees the same drift); the first row is the trivial
    server, so each row's excess over it is the endpoint's own time."""
    from sfnstack.embedded_s3 import s3_client

    clients = [s3_client(url) for _, url in rows]
    for client in clients:
        client.create_bucket(Bucket="bench-objects")
    medians: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _ in rows}
    width = max(len(label) for label, _ in rows)
    body = _BODY
    for round_number in range(1, rounds + 1):
        print(f"round {round_number} ({_load()})")
        samples: list[tuple[list[float], list[float]]] = [([], []) for _ in rows]
        for index in range(objects):
            key = f"bench/{round_number}/{index:05d}.json"
            for client, (puts, gets) in zip(clients, samples, strict=True):
                start = time.perf_counter()
                client.put_object(Bucket="bench-objects", Key=key, Body=body)
                puts.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.get_object(Bucket="bench-objects", Key=key)["Body"].read()
                gets.append(time.perf_counter() - start)
        floor_put = statistics.median(samples[0][0])
        floor_get = statistics.median(samples[0][1])
        for (label, _), (puts, gets) in zip(rows, samples, strict=True):
            put, get = statistics.median(puts), statistics.median(gets)
            if label == rows[0][0]:
                medians[label][0].append(put)
                medians[label][1].append(get)
                print(f"  {label:<{width}}  PutObject {_ms(puts)}  GetObject {_ms(gets)}")
                continue
            medians[label][0].append(put - floor_put)
            medians[label][1].append(get - floor_get)
            print(
                f"  {label:<{width}}  PutObject {_ms(puts)}  GetObject {_ms(gets)}"
                f"  (adds {(put - floor_put) * 1000:5.2f} / {(get - floor_get) * 1000:5.2f} ms)"
            )
    print(f"over {rounds} rounds of {objects} objects of {len(body)} B (median per round):")
    label = rows[0][0]
    puts, gets = medians[label]
    print(f"  {label:<{width}}  PutObject {_range(puts)}  GetObject {_range(gets)}  = boto3 alone")
    for label, _ in rows[1:]:
        puts, gets = medians[label]
        print(f"  {label:<{width}}  PutObject adds {_range(puts)}  GetObject adds {_range(gets)}")


def restarts(serves: list[tuple[str, ServeProcess]], rounds: int) -> None:
    """Each stopped server started again on its data directory, taking turns: the time
    until it answers, and the objects and executions it then holds."""
    times: dict[str, list[float]] = {label: [] for label, _ in serves}
    held: dict[str, tuple[int, int]] = {}
    for _ in range(rounds):
        for label, stopped in serves:
            server = ServeProcess(
                stopped.data_dir, stopped.template, *stopped.extra, python_path=stopped.python_path
            )
            started = time.perf_counter()
            server.start()
            times[label].append(time.perf_counter() - started)
            s3 = server.s3()
            objects = sum(
                page.get("KeyCount", 0)
                for bucket in s3.list_buckets()["Buckets"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
            )
            held[label] = (objects, len(list((stopped.data_dir / "executions").glob("*.json"))))
            server.stop()
    for label, elapsed in times.items():
        objects, executions = held[label]
        print(
            f"{label}: restart with {objects} objects, {executions} executions: "
            f"{min(elapsed):.2f}-{max(elapsed):.2f} s ({rounds}x)"
        )


def _upload_to_execution(server: ServeProcess) -> tuple[float, float]:
    """(PutObject under incoming/ until ListExecutions shows its execution, StartExecution
    until the execution closed) for the fixture's machine, once."""
    s3, sfn = server.s3(), server.sfn()
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    input_bucket = next(b for b in buckets if "input" in b)
    sm_arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    key = f"incoming/bench-{uuid.uuid4().hex[:10]}.json"
    start = time.perf_counter()
    s3.put_object(Bucket=input_bucket, Key=key, Body=b'["Sydney"]')

    def started_for() -> bool:
        executions = sfn.list_executions(stateMachineArn=sm_arn, maxResults=5)["executions"]
        for execution in executions:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if key in described["input"]:
                return True
        return False

    wait_until(started_for, 30, "the upload's execution", interval=0.002)
    trigger = time.perf_counter() - start
    start = time.perf_counter()
    run = sfn.start_execution(stateMachineArn=sm_arn, input='{"cities": ["Perth"]}')
    wait_until(
        lambda: sfn.describe_execution(executionArn=run["executionArn"])["status"] != "RUNNING",
        60,
        "the execution",
        interval=0.002,
    )
    return trigger, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--executions", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=3, help="restarts of each server")
    parser.add_argument("--rss-executions", type=int, default=0, help="measure memory only")
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also run serve (or, with --rss-executions, measure memory) at git REV",
    )
    parser.add_argument(
        "--serve-one", choices=["floor", "moto", "embedded"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_one:
        return _serve_one(args.serve_one)
    if args.rss_executions:
        memory(args.rss_executions, args.compare)
        return 0

    print(f"start: {_load()}")
    template = REPO / "tests" / "fixtures" / "serve" / "template.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        serves = [("serve, persisted", ServeProcess(data_dir, template, "--no-schedule"))]
        if args.compare:
            source = _extract(args.compare, Path(tmp) / "compare")
            serves.append(
                (
                    f"serve @{args.compare}, persisted",
                    ServeProcess(
                        Path(tmp) / "compare-data", template, "--no-schedule", python_path=[source]
                    ),
                )
            )
        endpoints = [_Endpoint(kind) for kind in ("floor", "moto", "embedded")]
        try:
            for label, server in serves:
                started = time.perf_counter()
                server.start()
                print(
                    f"{label}: first start (empty data dir) {time.perf_counter() - started:6.2f} s"
                )
            rows = [
                ("trivial keep-alive server", endpoints[0].url),
                ("moto's server (werkzeug)", endpoints[1].url),
                ("embedded endpoint (LocalS3)", endpoints[2].url),
                *((label, server.endpoint) for label, server in serves),
            ]
            requests_side_by_side(rows, args.objects, args.rounds)

            timings: dict[str, tuple[list[float], list[float]]] = {
                label: ([], []) for label, _ in serves
            }
            for _ in range(args.executions):
                for label, server in serves:
                    trigger, round_trip = _upload_to_execution(server)
                    timings[label][0].append(trigger)
                    timings[label][1].append(round_trip)
            for label, (triggers, round_trips) in timings.items():
                print(f"{label}: upload -> execution listed ({args.executions}x): {_ms(triggers)}")
                print(
                    f"{label}: StartExecution -> closed ({args.executions}x):   {_ms(round_trips)}"
                )
        finally:
            for endpoint in endpoints:
                endpoint.stop()
            for _, server in serves:
                if server.process is not None:
                    server.stop()

        restarts(serves, args.restarts)
    print(f"end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
