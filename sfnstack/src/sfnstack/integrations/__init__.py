"""Service integrations of Task states beyond Lambda: the AWS SDK integrations and the
optimized ones for S3, DynamoDB, SQS, SNS and EventBridge (``calls``, answered by moto in
process: ``aws``), ``states:startExecution`` (``nested``) and the ``.waitForTaskToken``
pattern (``tokens``). ``task_resource`` is what the Task state asks for its Resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import arns

if TYPE_CHECKING:
    from ..asl.task import TaskResource


def task_resource(resource: str) -> TaskResource | None:
    """What runs the service integration ``resource`` names, or None when it is not one
    this runtime runs (the Task state then fails with a clear States.Runtime)."""
    from .calls import optimized_call, sdk_call
    from .nested import SFN_RUNTIME_ACTIONS, SfnSdkCall, StartExecution

    integration = arns.parse_integration(resource)
    if integration is None:
        return None
    if (
        integration.service == "aws-sdk:sfn"
        and integration.action in SFN_RUNTIME_ACTIONS
        and integration.pattern in ("", "waitForTaskToken")
    ):
        return SfnSdkCall(resource, integration)
    if integration.service.startswith("aws-sdk:"):
        return sdk_call(resource, integration)
    if integration.name == "states:startExecution":
        return StartExecution(resource, integration)
    return optimized_call(resource, integration)
