"""sfnstack serve: what the persistence layer costs and how fast triggers react.

Starts ``sfnstack serve`` (fixture stack, tests/fixtures/serve) as a separate process and
measures, with boto3 as a user would:

- PutObject / GetObject latency for small objects through the persisting S3 endpoint, next to
  moto's plain S3 server (no persistence) as the baseline;
- upload-to-execution latency: PutObject under incoming/ until ListExecutions shows it;
- StartExecution -> SUCCEEDED round trip of the fixture's one-task machine;
- restart time with N objects and executions on disk;
- the server's memory (RSS) after N executions, per execution: with ``--compare REV`` also
  for the sfnstack of git revision REV (its ``sfnstack/src``, run the same way), side by
  side.

    python benchmarks/serve_bench.py [--objects 300] [--rss-executions 300 --compare main]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "serve"))
sys.path.insert(0, str(REPO / "src"))

from stack import ServeProcess, wait_until  # noqa: E402


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


def _put_get(s3: object, bucket: str, count: int) -> tuple[list[float], list[float]]:
    puts, gets = [], []
    body = b'{"city": "Sydney", "probability": 0.42}' * 10
    for i in range(count):
        key = f"bench/{i:05d}.json"
        start = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=key, Body=body)  # type: ignore[attr-defined]
        puts.append(time.perf_counter() - start)
        start = time.perf_counter()
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
        gets.append(time.perf_counter() - start)
    return puts, gets


def _moto_baseline(count: int) -> tuple[list[float], list[float]]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="baseline")
        return _put_get(s3, "baseline", count)
    finally:
        server.stop()


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
    rows = [("this checkout", None)]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--executions", type=int, default=20)
    parser.add_argument("--rss-executions", type=int, default=0, help="measure memory only")
    parser.add_argument("--compare", metavar="REV", help="also measure memory at git REV")
    args = parser.parse_args()
    if args.rss_executions:
        memory(args.rss_executions, args.compare)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        server = ServeProcess(
            data_dir, REPO / "tests" / "fixtures" / "serve" / "template.yaml", "--no-schedule"
        )
        started = time.perf_counter()
        server.start()
        print(f"first start (empty data dir):       {time.perf_counter() - started:6.2f} s")
        try:
            s3, sfn = server.s3(), server.sfn()
            buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
            input_bucket = next(b for b in buckets if "input" in b)
            results_bucket = next(b for b in buckets if "result" in b)
            puts, gets = _put_get(s3, results_bucket, args.objects)
            print(f"PutObject, persisted ({args.objects}x 400 B):  {_ms(puts)}")
            print(f"GetObject                         : {_ms(gets)}")

            sm_arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
            trigger, round_trip = [], []
            for i in range(args.executions):
                key = f"incoming/bench-{i}-{uuid.uuid4().hex[:6]}.json"
                start = time.perf_counter()
                s3.put_object(Bucket=input_bucket, Key=key, Body=b'["Sydney"]')

                def started_for(key: str = key) -> bool:
                    executions = sfn.list_executions(stateMachineArn=sm_arn, maxResults=5)[
                        "executions"
                    ]
                    for execution in executions:
                        described = sfn.describe_execution(executionArn=execution["executionArn"])
                        if key in described["input"]:
                            return True
                    return False

                wait_until(started_for, 30, "the upload's execution", interval=0.002)
                trigger.append(time.perf_counter() - start)

                start = time.perf_counter()
                run = sfn.start_execution(stateMachineArn=sm_arn, input='{"cities": ["Perth"]}')
                wait_until(
                    lambda arn=run["executionArn"]: (
                        sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"
                    ),
                    60,
                    "the execution",
                    interval=0.002,
                )
                round_trip.append(time.perf_counter() - start)
            print(f"upload -> execution listed ({args.executions}x): {_ms(trigger)}")
            print(f"StartExecution -> closed ({args.executions}x):   {_ms(round_trip)}")
        finally:
            server.stop()

        restarted = ServeProcess(
            data_dir, REPO / "tests" / "fixtures" / "serve" / "template.yaml", "--no-schedule"
        )
        started = time.perf_counter()
        restarted.start()
        elapsed = time.perf_counter() - started
        count = len(list((data_dir / "s3").rglob("*.data")))
        runs = len(list((data_dir / "executions").glob("*.json")))
        print(f"restart with {count} objects, {runs} executions: {elapsed:6.2f} s")
        restarted.stop()

    puts, gets = _moto_baseline(args.objects)
    print(f"baseline: moto server, no persistence, PutObject: {_ms(puts)}")
    print(f"baseline: moto server, no persistence, GetObject: {_ms(gets)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
