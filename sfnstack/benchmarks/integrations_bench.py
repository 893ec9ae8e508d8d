"""What a Task state calling AWS costs locally (sfnstack.integrations), per state, side by
side with a Pass state doing the same data work (the interpreter's own cost):

- ``dynamodb:getItem`` and ``sqs:sendMessage`` (optimized, moto in process),
- ``aws-sdk:s3:getObject`` answered by moto in process and through the embedded S3
  endpoint (what LocalRuntime's states use: moto's server on 127.0.0.1),
- a ``.waitForTaskToken`` round trip (the token answered from another thread).

    PYTHONPATH=src python benchmarks/integrations_bench.py [--states 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import Any

from sfnstack.asl import StateMachine
from sfnstack.embedded_s3 import LocalS3
from sfnstack.integrations import aws
from sfnstack.integrations.tokens import TaskTokens
from sfnstack.services import Services

REGION = "us-east-1"


def chain(state: dict[str, Any], length: int) -> StateMachine:
    states = {}
    for i in range(length):
        spec = dict(state, ResultPath="$.last")
        if i + 1 < length:
            spec["Next"] = f"S{i + 1}"
        else:
            spec["End"] = True
        states[f"S{i}"] = spec
    return StateMachine({"StartAt": "S0", "States": states}, name="Chain")


def per_state_ms(sm: StateMachine, services: Services, length: int, repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = sm.execute({}, services=services)
        elapsed = time.perf_counter() - start
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        runs.append(elapsed / length * 1000)
    return runs


def token_round_trip_ms(rounds: int) -> list[float]:
    url = aws.CLIENTS.client("sqs", REGION).create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")[
        "QueueUrl"
    ]
    sm = StateMachine(
        {
            "StartAt": "W",
            "States": {
                "W": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": url, "MessageBody.$": "$$.Task.Token"},
                    "End": True,
                }
            },
        }
    )
    tokens = TaskTokens()
    times = []
    for _ in range(rounds):
        done = threading.Event()

        answerer = threading.Thread(target=_answer_first, args=(tokens, done))
        answerer.start()
        start = time.perf_counter()
        result = sm.execute({}, services=Services(task_tokens=tokens))
        times.append((time.perf_counter() - start) * 1000)
        done.set()
        answerer.join()
        assert result.status == "SUCCEEDED", (result.error, result.cause)
    return times


def _answer_first(tokens: TaskTokens, done: threading.Event) -> None:
    """SendTaskSuccess for the first task that waits, as soon as it does."""
    while not done.is_set():
        for token, _execution, _state in tokens.waiting():
            tokens.succeed(token, "{}")
            return
        time.sleep(0.0005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.states, args.repeat

    dynamodb = aws.CLIENTS.client("dynamodb", REGION)
    table = f"bench-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=table, Item={"id": {"S": "k"}, "v": {"S": "x" * 100}})
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    aws.CLIENTS.client("s3", REGION).create_bucket(Bucket=bucket)
    aws.CLIENTS.client("s3", REGION).put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    queue = aws.CLIENTS.client("sqs", REGION).create_queue(QueueName=table)["QueueUrl"]
    endpoint = LocalS3()  # moto's server on 127.0.0.1, as LocalRuntime starts it

    pass_state = {"Type": "Pass", "Parameters": {"TableName": table, "Key": {"id": {"S": "k"}}}}
    cases: list[tuple[str, dict[str, Any], Services]] = [
        ("Pass (baseline)", pass_state, Services()),
        (
            "dynamodb:getItem",
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": {"id": {"S": "k"}}},
            },
            Services(),
        ),
        (
            "sqs:sendMessage",
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"n": 1}},
            },
            Services(),
        ),
        (
            "aws-sdk:s3:getObject (in process)",
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": bucket, "Key": "k"},
            },
            Services(),
        ),
        (
            "aws-sdk:s3:getObject (S3 endpoint)",
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": bucket, "Key": "k"},
            },
            Services(s3_client=endpoint.client()),
        ),
    ]
    print(f"{n} states per execution, {repeat} runs; ms per state (min / max over runs)")
    for label, state, services in cases:
        runs = per_state_ms(chain(state, n), services, n, repeat)
        print(f"  {label:38s} {min(runs):7.3f} / {max(runs):7.3f}")
    rounds = max(5, n // 20)
    trips = token_round_trip_ms(rounds)
    print(
        f"  {'.waitForTaskToken round trip':38s} {min(trips):7.3f} / {max(trips):7.3f}"
        f"  (one execution, {rounds} runs)"
    )
    endpoint.close()


if __name__ == "__main__":
    main()
