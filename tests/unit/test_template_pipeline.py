"""template.yaml and the state machine definition: the contract other parts rely on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from raincast_cli.template_checks import (
    check_least_privilege,
    check_retry_errors,
    check_substitutions,
    iter_states,
    template_body,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return template_body(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return json.loads((ROOT / "statemachine" / "forecast.asl.json").read_text())


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_logical_ids_others_rely_on(template) -> None:
    ids = set(template["Resources"])
    assert {
        "InputBucket", "ResultsBucket", "ForecastStateMachine", "GeocodeFunction", "WeatherFunction",
        "PredictFunction", "StoreFunction", "SharedLayer", "ModelLayer",
    } <= ids  # fmt: skip


def test_every_substitution_is_defined_and_used(template) -> None:
    assert check_substitutions(template, ROOT) == []


def test_a_missing_substitution_is_reported(template) -> None:
    broken = copy.deepcopy(template)
    del broken["Resources"]["ForecastStateMachine"]["Properties"]["DefinitionSubstitutions"][
        "StoreFunctionArn"
    ]
    assert check_substitutions(broken, ROOT) == [
        "ForecastStateMachine: ${StoreFunctionArn} in statemachine/forecast.asl.json has no DefinitionSubstitution"
    ]


def test_substitutions_point_at_the_functions(template) -> None:
    subs = template["Resources"]["ForecastStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for name, value in subs.items():
        if name.endswith("FunctionArn"):
            function = name.removesuffix("Arn")
            assert value == {"Fn::GetAtt": [function, "Arn"]}
            assert template["Resources"][function]["Type"] == "AWS::Serverless::Function"


def test_iam_is_least_privilege(template) -> None:
    assert check_least_privilege(template) == []


def test_a_wildcard_grant_is_reported(template) -> None:
    broken = copy.deepcopy(template)
    policies = broken["Resources"]["StoreFunction"]["Properties"]["Policies"]
    policies.append({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    assert check_least_privilege(broken) == [
        "StoreFunction: wildcard action 's3:*'",
        "StoreFunction: Resource '*' for s3:*",
    ]


def test_functions_runtime_architecture_and_layers(template) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12" and globals_["Architectures"] == ["arm64"]
    assert globals_["Layers"] == [{"Ref": "SharedLayer"}]
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {
        f"{n}Function" for n in ("Prepare", "Geocode", "Weather", "Predict", "Store", "Summarize")
    }
    assert functions["PredictFunction"]["Properties"]["Layers"] == [{"Ref": "ModelLayer"}]
    for name, function in functions.items():
        props = function["Properties"]
        folder = ROOT / props["CodeUri"]
        assert (folder / "app.py").is_file(), name
        assert props.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME"), (
            name
        )
    # Every function has its log group with a retention.
    groups = resources(template, "AWS::Logs::LogGroup")
    named = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups.values()}
    for name in functions:
        assert f"/aws/lambda/${{{name}}}" in named
    assert all(
        g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values()
    )


def test_buckets_are_private_encrypted_and_tls_only(template) -> None:
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p
        for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for name in ("InputBucket", "ResultsBucket"):
        props = template["Resources"][name]["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        (statement,) = policies[name]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    input_props = template["Resources"]["InputBucket"]["Properties"]
    assert (
        input_props["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"]
        is True
    )


def test_upload_trigger_delivers_bucket_and_key(template) -> None:
    event = template["Resources"]["ForecastStateMachine"]["Properties"]["Events"]["UploadTrigger"]
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "InputBucket"}]
    transformer = event["Properties"]["InputTransformer"]
    rendered = transformer["InputTemplate"]
    s3_event = {
        "detail": {
            "bucket": {"name": "in-bucket"},
            "object": {"key": "incoming/a.csv", "version-id": "v-42"},
        }
    }
    for placeholder, path in transformer["InputPathsMap"].items():
        value: Any = s3_event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        rendered = rendered.replace(f"<{placeholder}>", json.dumps(value))
    assert json.loads(rendered) == {
        "bucket": "in-bucket",
        "key": "incoming/a.csv",
        "version_id": "v-42",  # the version that fired the event, not the latest
        "trigger": "s3",
    }
    # the bucket is versioned, so S3's events carry that version id
    versioning = template["Resources"]["InputBucket"]["Properties"]["VersioningConfiguration"]
    assert versioning == {"Status": "Enabled"}


def test_schedule_starts_the_machine_with_the_configured_list(template) -> None:
    schedule = template["Resources"]["ForecastSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert schedule["Target"]["Arn"] == {"Ref": "ForecastStateMachine"}
    rendered = (
        schedule["Target"]["Input"]["Fn::Sub"]
        .replace("${InputBucket}", "in")
        .replace("${ScheduledCityListKey}", "schedules/cities.csv")
    )
    assert json.loads(rendered) == {
        "bucket": "in",
        "key": "schedules/cities.csv",
        "trigger": "schedule",
    }
    assert template["Parameters"]["ScheduledCityListKey"]["Default"].startswith("schedules/")


def api_schema(template: dict[str, Any]) -> dict[str, Any]:
    body = template["Resources"]["ForecastApi"]["Properties"]["DefinitionBody"]
    return body["components"]["schemas"]["ForecastRequest"]


def test_api_route_is_iam_authorised_validated_and_starts_an_execution(template) -> None:
    body = template["Resources"]["ForecastApi"]["Properties"]["DefinitionBody"]
    post = body["paths"]["/forecasts"]["post"]
    assert post["security"] == [{"sigv4": []}]
    assert (
        body["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    )
    validator = body["x-amazon-apigateway-request-validators"][
        post["x-amazon-apigateway-request-validator"]
    ]
    assert validator["validateRequestBody"] is True
    integration = post["x-amazon-apigateway-integration"]
    assert integration["uri"]["Fn::Sub"].endswith(":states:action/StartExecution")
    assert (
        "${ForecastStateMachine}" in integration["requestTemplates"]["application/json"]["Fn::Sub"]
    )


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"cities": ["Sydney", {"city": "Perth", "country": "AU"}]}, True),
        ({"bucket": "b-in", "key": "lists/a.csv", "date": "2016-06-01", "weather": "replay"}, True),
        ({"cities": ["Sydney"], "geocoder": "locationiq", "run_id": "my-run.1"}, True),
        ({}, False),
        ({"bucket": "b-in"}, False),
        ({"cities": []}, False),
        ({"cities": ["Sydney"], "weather": "sunshine"}, False),
        ({"cities": ["Sydney"], "run_id": "../x"}, False),
        ({"cities": ["Sydney"], "extra": 1}, False),
        ({"cities": ["Sydney"], "bucket": "b", "key": "k"}, False),
    ],
)
def test_api_request_model(template, body, valid) -> None:
    validator = jsonschema.Draft4Validator(api_schema(template))
    assert validator.is_valid(body) is valid


def test_state_machine_shape(definition) -> None:
    states = dict(iter_states(definition))
    forecast = definition["States"]["ForecastCities"]
    assert forecast["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert forecast["ItemReader"]["ReaderConfig"]["InputType"] == "JSONL"
    assert forecast["ItemBatcher"]["MaxItemsPerBatch"] >= 1
    assert set(forecast["ItemBatcher"]["BatchInput"]) >= {
        "run_id.$",
        "date.$",
        "weather.$",
        "geocoder.$",
    }
    assert "ToleratedFailurePercentage" in forecast and "ResultWriter" in forecast
    processor = forecast["ItemProcessor"]["States"]
    chain, name = [], forecast["ItemProcessor"]["StartAt"]
    while name:
        chain.append(name)
        name = processor[name].get("Next")
    assert chain == ["Geocode", "Weather", "Predict", "Store"]
    for step in ("Geocode", "Weather"):
        retried = {e for r in states[step]["Retry"] for e in r["ErrorEquals"]}
        assert {"ProviderTimeout", "ProviderRateLimited", "ProviderUnavailable"} <= retried
    for step in ("Geocode", "Weather", "Predict"):
        assert states[step]["Catch"][0]["Next"] == "RecordFailedBatch"


def test_retried_error_names_are_raincast_errors(template) -> None:
    assert check_retry_errors(template, ROOT) == []
