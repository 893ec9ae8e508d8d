"""sfnstack serve: what the persistence layer costs and how fast triggers react.

Starts ``sfnstack serve`` (fixture stack, tests/fixtures/serve) as a separate process and
measures, with boto3 as a user would:

- PutObject / GetObject latency for small objects through the persisting S3 endpoint, next to
  moto's plain S3 server (no persistence) as the baseline;
- upload-to-execution latency: PutObject under incoming/ until ListExecutions shows it;
- StartExecution -> SUCCEEDED round trip of the fixture's one-task machine;
- restart time with N objects and executions on disk.

    python benchmarks/serve_bench.py [--objects 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--executions", type=int, default=20)
    args = parser.parse_args()

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
