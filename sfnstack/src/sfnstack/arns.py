"""Amazon Resource Names of the local stack: the one place that builds them, with the one
default account and region every part of sfnstack uses when none is given.

The default account is moto's (``123456789012``): the S3 endpoint's events and ARNs carry it,
so the state machines, functions and executions the stack names carry it too. The partition
follows the region (``cn-*`` is ``aws-cn``, ``us-gov-*`` is ``aws-us-gov``) unless given.

Written by hand: an ARN is one f-string per resource type; botocore and moto each build them
inline, with no public builder to reuse.
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


def partition_of(region: str) -> str:
    """The partition a region belongs to: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def url_suffix(region: str) -> str:
    """The domain of the region's endpoints (``AWS::URLSuffix``)."""
    return "amazonaws.com.cn" if partition_of(region) == "aws-cn" else "amazonaws.com"


def arn(
    service: str,
    resource: str,
    *,
    region: str = "",
    account: str = "",
    partition: str | None = None,
) -> str:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``; global services (IAM, S3) pass no
    region, S3 no account. Without ``partition`` it follows ``region`` (``aws`` when empty)."""
    return f"arn:{partition or partition_of(region)}:{service}:{region}:{account}:{resource}"


# Regional resources: the partition follows the region.


def function_arn(name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT_ID) -> str:
    return arn("lambda", f"function:{name}", region=region, account=account)


def layer_arn(
    name: str, version: int = 1, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT_ID
) -> str:
    return arn("lambda", f"layer:{name}:{version}", region=region, account=account)


def state_machine_arn(
    name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT_ID
) -> str:
    return arn("states", f"stateMachine:{name}", region=region, account=account)


def execution_arn(
    machine: str, name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT_ID
) -> str:
    """An execution; a distributed Map's child executions pass ``MACHINE/MAPLABEL`` as the
    state machine name, as AWS names them."""
    return arn("states", f"execution:{machine}:{name}", region=region, account=account)


def express_execution_arn(
    machine: str,
    name: str,
    run_id: str,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT_ID,
) -> str:
    """An Express execution (StartSyncExecution's): ``express:MACHINE:NAME:RUN_ID``."""
    return arn("states", f"express:{machine}:{name}:{run_id}", region=region, account=account)


def map_run_arn(
    machine: str,
    map_label: str,
    run_id: str,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT_ID,
) -> str:
    return arn("states", f"mapRun:{machine}/{map_label}:{run_id}", region=region, account=account)


# Global resources have no region to derive the partition from.


def role_arn(name: str, account: str = DEFAULT_ACCOUNT_ID, partition: str = "aws") -> str:
    return arn("iam", f"role/{name}", account=account, partition=partition)


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    return arn("s3", bucket, partition=partition)


def region_and_account(resource_arn: str) -> tuple[str, str]:
    """The region and account an ARN names, the defaults where it leaves them empty."""
    parts = resource_arn.split(":")
    region = parts[3] if len(parts) > 4 and parts[3] else DEFAULT_REGION
    account = parts[4] if len(parts) > 4 and parts[4] else DEFAULT_ACCOUNT_ID
    return region, account


# Parsing: what a Task state's Resource names.

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# The integration patterns a service integration's resource may end with.
INTEGRATION_PATTERNS = ("sync", "sync:2", "waitForTaskToken")


class IntegrationArn(NamedTuple):
    """A service integration's resource, ``arn:PARTITION:states:REGION::SERVICE:ACTION[.PATTERN]``:
    ``service`` is ``lambda``, ``sqs``, ``states``, ``aws-sdk:s3`` ...; ``pattern`` is
    ``""`` (request-response), ``sync``, ``sync:2`` or ``waitForTaskToken``; ``region`` is
    ``""`` unless the ARN names one."""

    partition: str
    region: str
    service: str
    action: str
    pattern: str

    @property
    def name(self) -> str:
        """``service:action`` without the pattern (``sqs:sendMessage``)."""
        return f"{self.service}:{self.action}"


def parse_integration(resource: str) -> IntegrationArn | None:
    """The service integration ``resource`` names, or None when it is not one (a function
    or activity ARN, or no ARN at all). Any partition; the region may be given
    (``arn:aws:states:us-east-1::sqs:sendMessage``) or left empty, the account is empty."""
    parts = resource.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[1] not in PARTITIONS:
        return None
    if parts[2] != "states" or parts[4] != "":
        return None
    rest = parts[5:]
    service = rest[0]
    if service == "aws-sdk":
        if len(rest) < 3:
            return None
        service, rest = f"aws-sdk:{rest[1]}", rest[2:]
    else:
        rest = rest[1:]
    tail = ":".join(rest)  # ACTION[.PATTERN], the pattern may hold a ':' (sync:2)
    action, dot, pattern = tail.partition(".")
    if not service or not action or (dot and pattern not in INTEGRATION_PATTERNS):
        return None
    return IntegrationArn(parts[1], parts[3], service, action, pattern)


def is_function_arn(resource: str) -> bool:
    """A Lambda function's ARN (any partition, optionally qualified)."""
    parts = resource.split(":")
    return (
        len(parts) in (7, 8)
        and parts[0] == "arn"
        and parts[1] in PARTITIONS
        and parts[2] == "lambda"
        and parts[5] == "function"
        and bool(parts[6])
    )


def is_arn(resource: str) -> bool:
    """Anything of the form ``arn:PARTITION:SERVICE:...`` in a known partition."""
    parts = resource.split(":", 3)
    return len(parts) == 4 and parts[0] == "arn" and parts[1] in PARTITIONS and bool(parts[2])
