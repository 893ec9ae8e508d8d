"""ASL interpreter speed: engine overhead per state transition and large Map runs.

    PYTHONPATH=src python benchmarks/asl_bench.py [--items 10000] [--repeat 3]

Targets (issue 5): <= 0.2 ms engine overhead per state transition; a 10,000-item inline
Map of Pass states under 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any

from sfnstack.asl import StateMachine
from sfnstack.services import Services


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def chain_machine(length: int) -> StateMachine:
    states: dict[str, Any] = {}
    for i in range(length):
        spec: dict[str, Any] = {
            "Type": "Pass",
            "ResultPath": "$.last",
            "Parameters": {"i": i, "v.$": "$.value"},
        }
        if i + 1 < length:
            spec["Next"] = f"S{i + 1}"
        else:
            spec["End"] = True
        states[f"S{i}"] = spec
    return StateMachine({"StartAt": "S0", "States": states}, name="Chain")


def map_machine(mode: str = "INLINE") -> StateMachine:
    return StateMachine(
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemSelector": {"city.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": mode, "ExecutionType": "EXPRESS"},
                        "StartAt": "Shape",
                        "States": {
                            "Shape": {
                                "Type": "Pass",
                                "Parameters": {"name.$": "$.city", "i.$": "$.index"},
                                "Next": "Done",
                            },
                            "Done": {"Type": "Pass", "End": True},
                        },
                    },
                    # 10,000 results exceed the 256 KiB state-data limit, as on AWS: keep a count.
                    "ResultSelector": {"count.$": "States.ArrayLength($)", "last.$": "$[-1:]"},
                    "End": True,
                }
            },
        },
        name="BigMap",
        # A 10,000-item inline Map writes ~60,000 history events: over the 25,000-event
        # quota of a Standard execution (it fails there, as on AWS); Express has none.
        workflow_type="EXPRESS",
    )


def lambda_map_machine() -> StateMachine:
    return StateMachine(
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "StartAt": "Call",
                        "States": {
                            "Call": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": "noop", "Payload.$": "$"},
                                "OutputPath": "$.Payload",
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        },
        name="LambdaMap",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    chain = chain_machine(args.chain)
    data = {"value": "x" * 20}
    for history in (False, True):
        seconds, result = _best(
            functools.partial(chain.execute, data, record_history=history), args.repeat
        )
        assert result.status == "SUCCEEDED"
        per = seconds / args.chain * 1000
        print(
            f"transition overhead (Pass+Parameters+ResultPath, history={'on' if history else 'off'}): "
            f"{per:.4f} ms/state  [{args.chain} states in {seconds * 1000:.1f} ms]"
        )

    def noop_fn(function: str, payload: Any) -> Any:
        return payload

    task_chain = StateMachine(
        {
            "StartAt": "T0",
            "States": {
                f"T{i}": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:000000000000:function:noop",
                    "Parameters": {"v.$": "$.value", "i": i},
                    "ResultPath": "$.r",
                    **({"Next": f"T{i + 1}"} if i + 1 < 500 else {"End": True}),
                }
                for i in range(500)
            },
        },
        name="TaskChain",
    )
    seconds, result = _best(
        lambda: task_chain.execute(
            data, services=Services(invoke_lambda=noop_fn), record_history=False
        ),
        args.repeat,
    )
    assert result.status == "SUCCEEDED"
    print(
        f"transition overhead (Lambda Task, in-process no-op function, history=off): "
        f"{seconds / 500 * 1000:.4f} ms/state  [500 states in {seconds * 1000:.1f} ms]"
    )

    items = [f"city-{i}" for i in range(args.items)]
    for mode in ("INLINE", "DISTRIBUTED"):
        machine = map_machine(mode)
        for history in (False, True):
            seconds, result = _best(
                functools.partial(machine.execute, {"items": items}, record_history=history),
                args.repeat,
            )
            assert result.status == "SUCCEEDED", (result.error, result.cause)
            assert result.output["count"] == args.items, result.output
            events = len(result.history)
            print(
                f"{args.items}-item {mode.lower()} Map of 2 Pass states (history={'on' if history else 'off'}): "
                f"{seconds:.3f} s  [{seconds / args.items * 1e6:.1f} us/item, {events} events]"
            )

    def noop(function: str, payload: Any) -> Any:
        return payload

    services = Services(invoke_lambda=noop, map_workers=8)
    machine = lambda_map_machine()
    n = 1000
    lam_items = [{"i": i} for i in range(n)]
    seconds, result = _best(
        lambda: machine.execute({"items": lam_items}, services=services, record_history=False),
        args.repeat,
    )
    assert result.status == "SUCCEEDED" and result.output == lam_items
    loop, _ = _best(lambda: [noop("noop", x) for x in lam_items], args.repeat)
    print(
        f"{n}-item Map of lambda:invoke tasks, in-process no-op function: {seconds:.3f} s "
        f"(engine overhead {(seconds - loop) / n * 1000:.3f} ms/item)"
    )


if __name__ == "__main__":
    main()
