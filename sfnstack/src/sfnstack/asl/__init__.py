"""Amazon States Language interpreter (JSONPath and JSONata query languages).

sm = StateMachine(definition, name="Forecast")
result = sm.execute({"cities": [...]}, services=Services(invoke_lambda=...))
result.status, result.output, result.error, result.cause, result.history
"""

from .errors import DefinitionError, StateFailure
from .machine import ExecutionResult, StateMachine

__all__ = ["DefinitionError", "ExecutionResult", "StateFailure", "StateMachine"]
