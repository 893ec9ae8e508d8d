"""Task resources that call AWS services: the AWS SDK integrations
(``arn:aws:states:::aws-sdk:SERVICE:ACTION``) and the optimized ones for S3, DynamoDB,
SQS, SNS and EventBridge, answered by moto in process (``integrations.aws``).

Results are shaped as Step Functions returns them: the API response with its PascalCase
member names (S3 GetObject's ``Body`` as text, DynamoDB items in attribute-value form);
the optimized DynamoDB, SQS and SNS integrations add ``SdkHttpMetadata`` and
``SdkResponseMetadata``, as they do on AWS. Errors are named as AWS names them:
``<Service>.<Exception>`` with the SDK integrations' service casing (``S3``, ``DynamoDb``,
``Sfn``), the optimized integrations' own (``DynamoDB``, ``SQS``, ``SNS``)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .. import arns
from ..asl.errors import RuntimeFailure, StateFailure
from ..asl.history import Track
from ..asl.jsonvalue import to_json_string
from ..asl.task import (
    Limits,
    TaskResource,
    _await_task_token,
    _record_task_failed,
    _record_task_start,
    _record_task_succeeded,
    _resource_details,
)
from . import aws

if TYPE_CHECKING:
    from ..asl.context import Execution, Frame

# The optimized integrations that run here: resource -> (service, operation).
OPTIMIZED: dict[str, tuple[str, str]] = {
    "s3:getObject": ("s3", "GetObject"),
    "s3:putObject": ("s3", "PutObject"),
    "dynamodb:getItem": ("dynamodb", "GetItem"),
    "dynamodb:putItem": ("dynamodb", "PutItem"),
    "dynamodb:updateItem": ("dynamodb", "UpdateItem"),
    "dynamodb:deleteItem": ("dynamodb", "DeleteItem"),
    "sqs:sendMessage": ("sqs", "SendMessage"),
    "sns:publish": ("sns", "Publish"),
    "events:putEvents": ("events", "PutEvents"),
}
# The patterns each service's optimized integration supports besides request-response.
_OPTIMIZED_PATTERNS = {
    "sqs": {"waitForTaskToken"},
    "sns": {"waitForTaskToken"},
    "events": {"waitForTaskToken"},
}
# How the optimized integrations name their errors' service, and the service in the cause.
_OPTIMIZED_PREFIX = {
    "s3": ("S3", "Amazon S3"),
    "dynamodb": ("DynamoDB", "AmazonDynamoDBv2"),
    "sqs": ("SQS", "AmazonSQS"),
    "sns": ("SNS", "AmazonSNS"),
    "events": ("EventBridge", "AmazonEventBridge"),
}
_WITH_HTTP_METADATA = {"dynamodb", "sqs", "sns"}


class IntegrationTask(TaskResource):
    """A service integration: the history of a task (TaskScheduled, TaskStarted, then
    TaskSucceeded / TaskFailed / TaskTimedOut; TaskSubmitted before waiting for a task
    token), the call itself in ``request``, the token wait for ``.waitForTaskToken``."""

    def __init__(self, resource: str, integration: arns.IntegrationArn) -> None:
        super().__init__(resource)
        self.integration = integration
        self.wants_token = integration.pattern == "waitForTaskToken"

    def request(
        self, ex: Execution, params: Any, frame: Frame, track: Track, limits: Limits
    ) -> Any:
        raise NotImplementedError

    def region(self, ex: Execution) -> str:
        return self.integration.region or ex.region

    def call(self, ex: Execution, params: Any, frame: Frame, track: Track, limits: Limits) -> Any:
        base = _resource_details(self.resource)
        started = time.monotonic()
        _record_task_start(ex, track, base, params, limits)
        token = task_token(frame)
        try:
            result = self.request(ex, params, frame, track, limits)
            if self.wants_token and token is not None:
                result = _await_task_token(ex, frame, track, base, token, result, limits, started)
        except StateFailure as failure:
            if not isinstance(failure, RuntimeFailure):  # States.Runtime records no TaskFailed
                _record_task_failed(ex, track, base, failure.error, failure.cause)
            raise
        _record_task_succeeded(ex, track, base, result)
        return result


def task_token(frame: Frame) -> str | None:
    """The task token ``$$.Task.Token`` of this attempt, if its resource waits for one."""
    task = frame.context_object().get("Task")
    return task.get("Token") if isinstance(task, dict) else None


class AwsCall(IntegrationTask):
    """An AWS API call answered by moto; ``optimized``: with that integration's result
    shape and error names instead of the SDK integration's."""

    def __init__(
        self,
        resource: str,
        integration: arns.IntegrationArn,
        service: str,
        operation: str | None,
        *,
        optimized: bool,
    ) -> None:
        super().__init__(resource, integration)
        self.service = service  # Step Functions' name: s3, dynamodb, sfn, eventbridge ...
        self.operation = operation  # PascalCase; None: from the action, when first called
        self.optimized = optimized

    def _unsupported(self, why: str) -> RuntimeFailure:
        return RuntimeFailure(
            f"The resource '{self.resource}' cannot run locally: {why}"
            " (sfnstack answers AWS API calls from moto in process)"
        )

    def _client(self, ex: Execution) -> Any:
        boto_name = aws.boto3_service(self.service)
        if boto_name == "s3" and ex.services.s3_client is not None:
            return ex.services.s3_client  # the runtime's S3 endpoint, which handlers use
        return aws.CLIENTS.client(boto_name, self.region(ex))

    def request(
        self, ex: Execution, params: Any, frame: Frame, track: Track, limits: Limits
    ) -> Any:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RuntimeFailure(
                f"The parameters of '{self.resource}' must be a JSON object, not"
                f" {to_json_string(params)[:100]}"
            )
        try:
            client = self._client(ex)
            operation = self.operation or aws.operation_name(client, self.integration.action)
            if self.optimized:
                params = _optimized_params(self.service, params)
            response = aws.call(client, operation, params)
        except aws.UnknownCall as exc:
            raise RuntimeFailure(f"The resource '{self.resource}' is not valid: {exc}") from None
        except aws.NotEmulated as exc:
            raise self._unsupported(str(exc)) from None
        except aws.ServiceError as exc:
            raise self._failure(exc) from None
        except StateFailure:
            raise
        except Exception as exc:  # the S3 endpoint went away, a moto bug: the task failed
            raise StateFailure("States.TaskFailed", f"{type(exc).__name__}: {exc}") from None
        if self.optimized:
            return self._optimized_result(response)
        return response.body

    def _failure(self, exc: aws.ServiceError) -> StateFailure:
        code = exc.code
        if self.service == "s3" and code in ("404", "NotFound"):
            code = "NoSuchKey"  # HeadObject's bodiless 404, as the SDK reports it
        # an unmodelled error (a bare HTTP status): the service's own base exception
        name = aws.exception_name(code) if code[:1].isalpha() else ""
        if self.optimized:
            prefix, v1_service = _OPTIMIZED_PREFIX[self.service]
            error = f"{prefix}.{name or f'Amazon{prefix}Exception'}"
            cause = (
                f"{exc.message} (Service: {v1_service}; Status Code: {exc.status}; Error Code:"
                f" {exc.code or 'Unknown'}; Request ID: {exc.request_id}; Proxy: null)"
            )
        else:
            prefix = aws.error_prefix(self.service)
            error = f"{prefix}.{name or f'{prefix}Exception'}"
            cause = (
                f"{exc.message} (Service: {prefix}, Status Code: {exc.status}, Request ID:"
                f" {exc.request_id})"
            )
        return StateFailure(error, cause)

    def _optimized_result(self, response: aws.Response) -> Any:
        body = dict(response.body)
        if self.service == "events" and body.get("FailedEntryCount"):
            # EventBridge's optimized integration fails the task for a failed entry.
            raise StateFailure("EventBridge.FailedEntry", to_json_string(body))
        if self.service in _WITH_HTTP_METADATA:
            body.update(sdk_metadata(response.headers, response.status, response.request_id))
        return body


def sdk_metadata(headers: dict[str, str], status: int, request_id: str) -> dict[str, Any]:
    """``SdkHttpMetadata`` and ``SdkResponseMetadata``, which the optimized integrations
    built on the Java SDK 1.x add to their results."""
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": dict(headers),
            "HttpStatusCode": status,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def _optimized_params(service: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the optimized integrations take beyond the API: a JSON value where the API
    takes text (S3 PutObject's Body, SQS MessageBody, SNS Message, an EventBridge entry's
    Detail), sent as its JSON text."""
    params = dict(params)
    if service == "s3" and "Body" in params:
        params["Body"] = _text(params["Body"])
    elif service == "sqs" and "MessageBody" in params:
        params["MessageBody"] = _text(params["MessageBody"])
    elif service == "sns" and "Message" in params:
        params["Message"] = _text(params["Message"])
    elif service == "events" and isinstance(params.get("Entries"), list):
        params["Entries"] = [
            {**entry, "Detail": _text(entry["Detail"])}
            if isinstance(entry, dict) and "Detail" in entry
            else entry
            for entry in params["Entries"]
        ]
    return params


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def optimized_call(resource: str, integration: arns.IntegrationArn) -> AwsCall | None:
    """The optimized integration ``integration`` names, if it runs here with its pattern."""
    found = OPTIMIZED.get(integration.name)
    if found is None:
        return None
    service, operation = found
    if integration.pattern and integration.pattern not in _OPTIMIZED_PATTERNS.get(service, ()):
        return None
    return AwsCall(resource, integration, service, operation, optimized=True)


def sdk_call(resource: str, integration: arns.IntegrationArn) -> AwsCall | None:
    """An AWS SDK integration (request-response or ``.waitForTaskToken``)."""
    if integration.pattern not in ("", "waitForTaskToken"):
        return None
    service = integration.service.removeprefix("aws-sdk:")
    return AwsCall(resource, integration, service, None, optimized=False)
