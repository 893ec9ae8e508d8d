"""Amazon Resource Names of the local stack: the one place that builds them, with the one
default account and region every part of sfnstack uses when none is given.

The default account is moto's (``123456789012``): the S3 endpoint's events and ARNs carry it,
so the state machines, functions and executions the stack names carry it too. The partition
follows the region (``cn-*`` is ``aws-cn``, ``us-gov-*`` is ``aws-us-gov``) unless given.

Written by hand: an ARN is one f-string per resource type; botocore and moto each build them
inline, with no public builder to reuse.
"""

from __future__ import annotations

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
