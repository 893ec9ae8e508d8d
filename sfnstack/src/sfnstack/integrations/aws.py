"""AWS API calls of Task states, answered by moto in this process.

A call is a boto3 client call. The clients are ordinary boto3 clients whose requests never
leave the process: a ``before-send`` hook hands each one to moto's own request dispatcher
(``moto.core.botocore_stubber.BotocoreStubber``, what ``mock_aws`` installs globally), so
the answer comes from moto's backends, the same per-process store the embedded S3 server
serves. Nothing is patched globally (``mock_aws`` would, and would reset every backend,
including the buckets the runtime's S3 endpoint serves); a request moto has no backend for
fails here instead of going out to AWS.

S3 is the exception: its calls go to the execution's S3 client (``Services.s3_client``,
the runtime's S3 endpoint, moto too), so what a state writes the handlers and ItemReader
read, and ``sfnstack serve`` persists it and sends its events.

Written here, not taken from a library: the translation between what a state machine
sends and receives (PascalCase members, JSON values, ``<Service>.<Exception>`` errors)
and boto3's Python calls, which botocore's service models drive.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}

# Step Functions names SDK services as the AWS SDK for Java 2.x does (lowercased), which
# mostly is botocore's name without hyphens; these differ.
_SERVICE_ALIASES = {
    "sfn": "stepfunctions",
    "eventbridge": "events",
    "cloudwatchevents": "events",
    "cloudwatchlogs": "logs",
    "elasticloadbalancing": "elb",
    "elasticloadbalancingv2": "elbv2",
    "cognitoidentityprovider": "cognito-idp",
    "databasemigration": "dms",
    "configservice": "config",
    "costexplorer": "ce",
    "applicationautoscaling": "application-autoscaling",
    "sesv2": "sesv2",
    "ssmincidents": "ssm-incidents",
    "sagemakerruntime": "sagemaker-runtime",
}

# The service part of AWS SDK integration error names (``S3.NoSuchKeyException``): the
# Java SDK 2.x client's name, PascalCase. Others: the name with its first letter upper.
_ERROR_PREFIXES = {
    "acmpca": "AcmPca",
    "apigateway": "ApiGateway",
    "cloudformation": "CloudFormation",
    "cloudwatch": "CloudWatch",
    "cloudwatchlogs": "CloudWatchLogs",
    "codebuild": "CodeBuild",
    "dynamodb": "DynamoDb",
    "ec2": "Ec2",
    "ecs": "Ecs",
    "eventbridge": "EventBridge",
    "iam": "Iam",
    "kms": "Kms",
    "lambda": "Lambda",
    "s3": "S3",
    "secretsmanager": "SecretsManager",
    "sesv2": "SesV2",
    "sfn": "Sfn",
    "sns": "Sns",
    "sqs": "Sqs",
    "ssm": "Ssm",
    "sts": "Sts",
}


class NotEmulated(Exception):
    """moto has no backend (or no implementation) for the request."""


class ServiceError(Exception):
    """The service answered with an error: ``code`` (its exception name, as botocore models
    it), ``message``, HTTP ``status``, ``request_id``."""

    def __init__(self, code: str, message: str, status: int, request_id: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id


class UnknownCall(Exception):
    """No such service or operation in the AWS SDK (botocore's models), or parameters the
    operation does not take."""


class Response(NamedTuple):
    """A call's result as JSON values with the API's PascalCase member names, and the HTTP
    metadata boto3 saw (status, headers, request id)."""

    body: dict[str, Any]
    status: int
    headers: dict[str, str]
    request_id: str


@functools.lru_cache(maxsize=256)
def boto3_service(sdk_service: str) -> str:
    """botocore's name of an SDK integration's service (``sfn`` -> ``stepfunctions``)."""
    if sdk_service in _SERVICE_ALIASES:
        return _SERVICE_ALIASES[sdk_service]
    available = _available_services()
    if sdk_service in available:
        return sdk_service
    for name in available:
        if name.replace("-", "") == sdk_service:
            return name
    raise UnknownCall(f"the AWS SDK has no service '{sdk_service}'")


def error_prefix(sdk_service: str) -> str:
    """``S3``, ``DynamoDb``, ``Sfn`` ...: how AWS SDK integration errors name the service."""
    return _ERROR_PREFIXES.get(sdk_service) or sdk_service[:1].upper() + sdk_service[1:]


def exception_name(code: str) -> str:
    """An error's name as Step Functions reports it: with the ``Exception`` suffix AWS
    adds where the service's own name has none (``NoSuchKey`` -> ``NoSuchKeyException``)."""
    return code if code.endswith("Exception") else f"{code}Exception"


class Clients:
    """boto3 clients answered by moto in process, one per (service, region), made once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._session: Any = None
        self._stubber: Any = None
        # What must be done before a state's call is answered (a runtime creating its
        # template's queues and tables): called, outside the lock, until it is removed.
        self.before_calls: set[Callable[[], None]] = set()

    def client(self, service: str, region: str) -> Any:
        for prepare in list(self.before_calls):
            prepare()
        key = (service, region)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                return found
            # moto's modules import each other in circles: a second thread importing
            # another entry point while the embedded S3 imports moto.server can get a
            # half-initialised module. Both threads entering through moto.server take
            # its module locks in the same order, so one waits for the other.
            import boto3
            import moto.server  # noqa: F401
            from botocore.config import Config
            from moto.core.botocore_stubber import BotocoreStubber

            if self._session is None:
                self._session = boto3.Session(**FAKE_CREDENTIALS)
                self._stubber = BotocoreStubber()
                self._stubber.enabled = True
            client = self._session.client(
                service,
                region_name=region,
                config=Config(retries={"max_attempts": 1}, parameter_validation=True),
            )
            client.meta.events.register_first("before-send", self._answer)
            self._clients[key] = client
            return client

    def _answer(self, request: Any, **_kwargs: Any) -> Any:
        try:
            response = self._stubber(None, request)
        except NotImplementedError as exc:
            raise NotEmulated(str(exc) or "not implemented by moto") from None
        if response is None:
            raise NotEmulated(f"moto has no backend answering {request.url}")
        if response.status_code == 404 and response.content == b"Not yet implemented":
            raise NotEmulated("not implemented by moto")
        untrack_moto_instances()  # the models this request's backend brought in, if new
        return response


_models_seen = 0  # model classes moto had when they were last untracked


class _Untracked(list[Any]):
    """A model class's ``instances_tracked`` that keeps nothing."""

    def append(self, item: Any) -> None:
        pass


def untrack_moto_instances(services: tuple[str, ...] | None = None) -> None:
    """moto keeps every model instance it ever made (``instances_tracked``, for its
    dashboard): every SQS message, DynamoDB item wrapper, S3 key, sent or deleted, for the
    life of the process. A long-running runtime must not: the models of ``services`` (all
    moto has imported so far when None) keep none; the backends still hold the live ones."""
    from moto.core.model_instances import model_data

    global _models_seen
    count = sum(len(models) for models in list(model_data.values()))
    if services is None and count == _models_seen:
        return  # nothing new since the last time (the common case: every request)
    for service, models in list(model_data.items()):
        if services is not None and service not in services:
            continue
        model: Any  # moto's model classes, which its metaclass gives instances_tracked
        for model in list(models.values()):
            if not isinstance(model.instances_tracked, _Untracked):
                model.instances_tracked = _Untracked()
    if services is None:
        _models_seen = count


CLIENTS = Clients()  # moto's store is per process, so are the clients answered from it


def call(client: Any, operation: str, params: dict[str, Any]) -> Response:
    """Call ``operation`` (PascalCase, ``GetObject``) with ``params`` as a state machine
    sends them; the response as a state machine receives it. Raises ``UnknownCall``,
    ``NotEmulated``, ``ServiceError``."""
    from botocore import xform_name
    from botocore.exceptions import ClientError, ParamValidationError

    model = client.meta.service_model
    if operation not in model.operation_names:
        raise UnknownCall(f"{model.service_name} has no operation '{operation}'")
    op = model.operation_model(operation)
    kwargs = _to_boto(params, op.input_shape) if op.input_shape is not None else {}
    if not isinstance(kwargs, dict):
        raise UnknownCall(f"the parameters of {operation} must be an object")
    method = getattr(client, xform_name(operation))
    try:
        result = method(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        metadata = exc.response.get("ResponseMetadata", {})
        code = type(exc).__name__ if type(exc).__name__ != "ClientError" else ""
        code = code or str(error.get("QueryErrorCode") or error.get("Code") or "")
        raise ServiceError(
            code,
            str(error.get("Message") or exc),
            int(metadata.get("HTTPStatusCode") or 400),
            str(metadata.get("RequestId") or ""),
        ) from None
    except ParamValidationError as exc:
        raise UnknownCall(_one_line(str(exc))) from None
    metadata = result.pop("ResponseMetadata", {}) if isinstance(result, dict) else {}
    body = _from_boto(result, op.output_shape) if op.output_shape is not None else {}
    return Response(
        body if isinstance(body, dict) else {},
        int(metadata.get("HTTPStatusCode") or 200),
        dict(metadata.get("HTTPHeaders") or {}),
        str(metadata.get("RequestId") or ""),
    )


def operation_name(client: Any, action: str) -> str:
    """The API operation a camelCase action names (``getObject`` -> ``GetObject``)."""
    names = client.meta.service_model.operation_names
    wanted = action.lower()
    for name in names:
        if name.lower() == wanted:
            return str(name)
    raise UnknownCall(f"{client.meta.service_model.service_name} has no action '{action}'")


@functools.lru_cache(maxsize=1)
def _available_services() -> tuple[str, ...]:
    import boto3

    return tuple(boto3.Session().get_available_services())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _to_boto(value: Any, shape: Any) -> Any:
    """Parameters as Step Functions takes them (member names in PascalCase whatever the
    API's own casing; any JSON) into what boto3 takes for ``shape``: structure members
    matched without regard to case, map keys kept."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        by_lower: dict[str, str] = {str(name).lower(): str(name) for name in shape.members}
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = by_lower.get(str(key).lower(), str(key))  # unknown: botocore says so
            member_shape = shape.members.get(member)
            out[member] = item if member_shape is None else _to_boto(item, member_shape)
        return out
    if kind == "list" and isinstance(value, list):
        return [_to_boto(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _to_boto(item, shape.value) for key, item in value.items()}
    if kind == "blob" and isinstance(value, str):
        return value.encode()
    return value


def _from_boto(value: Any, shape: Any) -> Any:
    """boto3's result as JSON values: structure members in PascalCase (as Step Functions
    returns them), timestamps ISO 8601, streamed bodies as text, other blobs base64."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            member_shape = shape.members.get(key)
            name = key[:1].upper() + key[1:]
            out[name] = (
                _json_value(item) if member_shape is None else _from_boto(item, member_shape)
            )
        return out
    if kind == "list" and isinstance(value, list):
        return [_from_boto(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _from_boto(item, shape.value) for key, item in value.items()}
    return _json_value(value)


def _json_value(value: Any) -> Any:
    if hasattr(value, "read"):  # a streamed body (s3 GetObject's Body): the text
        data = value.read()
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime):
        from ..asl.context import iso_timestamp

        return iso_timestamp(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if hasattr(value, "is_finite"):  # Decimal
        return int(value) if value == int(value) else float(value)
    return value
