"""One ARN builder and one default account for every part of the local stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from sfnstack.asl import StateMachine
from sfnstack.serve.eventbridge import s3_object_created_event
from sfnstack.template import Template, load_template

from sfnstack import arns

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "template.yaml"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_partition_follows_the_region(region: str, partition: str) -> None:
    assert arns.partition_of(region) == partition
    assert arns.function_arn("f", region, "111122223333") == (
        f"arn:{partition}:lambda:{region}:111122223333:function:f"
    )
    template = Template(path=None, body={"Resources": {}}, region=region)
    assert template.pseudo_parameter("AWS::Partition") == partition


def test_global_services_have_no_region() -> None:
    assert arns.bucket_arn("b") == "arn:aws:s3:::b"
    assert arns.role_arn("r", "111122223333", "aws-cn") == "arn:aws-cn:iam::111122223333:role/r"
    assert arns.execution_arn("M/Map", "x", "eu-west-1", "1") == (
        "arn:aws:states:eu-west-1:1:execution:M/Map:x"
    )
    assert arns.region_and_account("arn:aws:states:::lambda:invoke") == (
        arns.DEFAULT_REGION,
        arns.DEFAULT_ACCOUNT_ID,
    )


def test_one_default_account_everywhere() -> None:
    """A bare StateMachine, a template's resources and the S3 events name the same account
    (the interpreter's default used to be 000000000000, the template's 123456789012)."""
    machine = StateMachine(PASS, name="Bare")
    assert machine.account == arns.DEFAULT_ACCOUNT_ID
    assert machine.arn == f"arn:aws:states:us-east-1:{arns.DEFAULT_ACCOUNT_ID}:stateMachine:Bare"
    result = machine.execute({}, execution_name="e1")
    assert result.status == "SUCCEEDED"
    template = load_template(FIXTURE)
    assert f":{arns.DEFAULT_ACCOUNT_ID}:" in template.state_machine_arn("MapStateMachine")
    assert template.pseudo_parameter("AWS::AccountId") == arns.DEFAULT_ACCOUNT_ID
    event = s3_object_created_event(
        bucket="b", key="k", size=1, etag="e", sequencer="1", reason="PutObject",
        region="cn-north-1", account=arns.DEFAULT_ACCOUNT_ID, request_id="r",
    )  # fmt: skip
    assert event["resources"] == ["arn:aws-cn:s3:::b"]
