"""The template's alarm, API and concurrency settings, and the checks that keep them
(raincast_cli.template_checks, run by scripts/validate_template.py in CI)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from raincast_cli.template_checks import (
    check_alarm_topics,
    check_checkov_skips,
    check_reserved_concurrency,
    template_body,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return template_body(ROOT / "template.yaml")


def test_the_alarm_topic_uses_a_key_cloudwatch_may_use(template) -> None:
    assert check_alarm_topics(template) == []
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert template["Resources"]["AlarmTopicKey"]["Properties"]["EnableKeyRotation"] is True


def test_the_aws_managed_sns_key_is_reported(template) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    assert check_alarm_topics(broken) == [
        "AlarmTopic: alarms publish here; encrypt it with a key of the template"
    ]
    no_grant = copy.deepcopy(template)
    statements = no_grant["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "CloudWatchAlarmsPublish"]
    assert check_alarm_topics(no_grant) == [
        "AlarmTopicKey: its policy must let cloudwatch.amazonaws.com use it (AlarmTopic)"
    ]


def test_the_api_logs_every_request_and_is_throttled(template) -> None:
    api = template["Resources"]["ForecastApi"]["Properties"]
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in api["AccessLogSetting"]["Format"]
    (settings,) = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    # Access logging needs the account's API Gateway CloudWatch role.
    assert template["Resources"]["ApiGatewayAccount"]["Type"] == "AWS::ApiGateway::Account"


def test_every_checkov_skip_says_why(template) -> None:
    assert check_checkov_skips(template) == []
    skipped = {
        skip["id"]
        for resource in template["Resources"].values()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    }
    assert "CKV_AWS_76" not in skipped  # API access logging is on, not skipped
    broken = copy.deepcopy(template)
    broken["Resources"]["InputBucket"]["Metadata"]["checkov"]["skip"][0]["comment"] = "no"
    assert check_checkov_skips(broken) == ["InputBucket: checkov skip CKV_AWS_18 does not say why"]


def test_reserved_concurrency_only_where_throttles_are_retried(template, tmp_path) -> None:
    assert check_reserved_concurrency(template, ROOT) == []
    reserved = {
        name
        for name, resource in template["Resources"].items()
        if "ReservedConcurrentExecutions" in (resource.get("Properties") or {})
    }
    assert {"PrepareFunction", "PredictFunction", "StoreFunction", "SummarizeFunction"} <= reserved
    # The same template with Predict's Task no longer retrying anything.
    definition = json.loads((ROOT / "statemachine" / "forecast.asl.json").read_text())
    definition["States"]["ForecastCities"]["ItemProcessor"]["States"]["Predict"].pop("Retry")
    (tmp_path / "statemachine").mkdir()
    (tmp_path / "statemachine" / "forecast.asl.json").write_text(json.dumps(definition))
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    assert check_reserved_concurrency(template, tmp_path) == [
        "ForecastStateMachine.Predict: PredictFunction has reserved concurrency but the Task "
        "does not retry Lambda.TooManyRequestsException"
    ]
