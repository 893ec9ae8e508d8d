"""Lambda emulation: functions resolved from the template, run in worker processes that
behave like Lambda execution environments."""

from sfnstack.lambdas.functions import (
    LocalFunction,
    function_from_callable,
    resolve_functions,
)
from sfnstack.lambdas.pool import InvocationRecord, LambdaPool, Worker, default_worker_count

__all__ = [
    "InvocationRecord",
    "LambdaPool",
    "LocalFunction",
    "Worker",
    "default_worker_count",
    "function_from_callable",
    "resolve_functions",
]
