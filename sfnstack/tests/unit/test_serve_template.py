"""Reading the triggers out of a SAM template, and the start API's request handling."""

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sfnstack.serve.apigateway import StartApi, escape_javascript, render_mapping_template
from sfnstack.serve.executions import SfnError
from sfnstack.serve.template_triggers import read_triggers
from sfnstack.template import Template, TemplateError, load_template

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serve" / "template.yaml"
SM_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Forecast"


# Physical names pinned the CloudFormation way (BucketName, Name) so the triggers name them.
PINNED = {
    "InputBucket": ("AWS::S3::Bucket", "BucketName", "in-bucket"),
    "ResultsBucket": ("AWS::S3::Bucket", "BucketName", "out-bucket"),
    "ForecastStateMachine": ("AWS::Serverless::StateMachine", "Name", "Forecast"),
}


def _stack(template: Template | dict[str, Any], **overrides: str) -> Template:
    body = copy.deepcopy(template.body if isinstance(template, Template) else template)
    resources = body.setdefault("Resources", {})
    for logical_id, (kind, key, name) in PINNED.items():
        resource = resources.setdefault(logical_id, {"Type": kind})
        resource.setdefault("Properties", {})[key] = name
    return Template(path=FIXTURE, body=body, parameter_overrides=overrides)


def test_fixture_template_triggers() -> None:
    template = load_template(FIXTURE)
    triggers = read_triggers(_stack(template, CityListKey="lists/x.csv"))

    assert triggers.eventbridge_buckets == {"in-bucket"}
    (rule,) = triggers.rules
    assert rule.state_machine_id == "ForecastStateMachine"
    assert rule.pattern["detail"]["bucket"]["name"] == ["in-bucket"]

    (schedule,) = triggers.schedules
    assert schedule.expression == "rate(1 day)"
    assert json.loads(schedule.input) == {
        "bucket": "in-bucket",
        "key": "lists/x.csv",
        "trigger": "schedule",
    }

    (route,) = triggers.api_routes
    assert (route.method, route.path, route.stage) == ("POST", "/forecasts", "v1")
    assert route.iam_auth and route.validate_body
    assert route.body_schema is not None and "cities" in route.body_schema["properties"]
    assert SM_ARN in (route.request_template or "")


def test_swagger2_body_and_disabled_schedule(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Resources:
  Off:
    Type: AWS::Scheduler::Schedule
    Properties:
      State: DISABLED
      ScheduleExpression: rate(1 hour)
      Target: {Arn: !GetAtt ForecastStateMachine.Arn, Input: "{}"}
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Body:
        swagger: "2.0"
        definitions:
          Req: {type: object, required: [cities]}
        paths:
          /runs:
            post:
              parameters: [{in: body, name: body, schema: {$ref: "#/definitions/Req"}}]
              x-amazon-apigateway-integration:
                uri: !Sub arn:aws:apigateway:${AWS::Region}:states:action/StartExecution
""",
        encoding="utf-8",
    )
    template = load_template(tmp_path / "template.yaml")
    triggers = read_triggers(_stack(template))
    assert triggers.schedules == []
    (route,) = triggers.api_routes
    assert route.body_schema == {"type": "object", "required": ["cities"]}
    assert route.request_template is None and not route.iam_auth and not route.validate_body


def test_not_a_template(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("hello: world\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(tmp_path / "t.yaml")


def test_intrinsics() -> None:
    stack = _stack({"Parameters": {"Key": {"Type": "String", "Default": "k"}}})
    assert (
        stack.resolve({"Fn::Sub": "${InputBucket}/${Key}/${AWS::Region}"})
        == "in-bucket/k/us-east-1"
    )
    assert (
        stack.resolve({"Fn::Sub": ["${X}-${!Literal}", {"X": {"Ref": "InputBucket"}}]})
        == "in-bucket-${Literal}"
    )
    assert stack.resolve({"Fn::GetAtt": ["InputBucket", "Arn"]}) == "arn:aws:s3:::in-bucket"
    assert stack.resolve({"Fn::Join": ["/", ["a", {"Ref": "Key"}]]}) == "a/k"
    assert stack.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}) == "b"


def test_escape_javascript_matches_commons_lang() -> None:
    assert escape_javascript('{"a":"O\'B/é\n"}') == '{\\"a\\":\\"O\\\'B\\/\\u00E9\\n\\"}'
    assert escape_javascript("😀") == "\\uD83D\\uDE00"


def test_mapping_template() -> None:
    template = (
        '{"stateMachineArn": "arn", "input": "$util.escapeJavaScript($input.json(\'$\'))'
        '.replaceAll("\\\\\'","\'")", "name": "$context.requestId", "c": $input.json(\'$.cities[0]\')}'
    )
    rendered = json.loads(
        render_mapping_template(template, '{"cities": ["O\'Hare"]}', {"requestId": "r1"})
    )
    assert rendered == {
        "stateMachineArn": "arn",
        "input": '{"cities":["O\'Hare"]}',
        "name": "r1",
        "c": "O'Hare",
    }


def _call(api: StartApi, path: str, body: str, signed: bool = True) -> tuple[int, dict]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body.encode())),
        "wsgi.input": io.BytesIO(body.encode()),
    }
    if signed:
        environ["HTTP_AUTHORIZATION"] = (
            "AWS4-HMAC-SHA256 Credential=test/20261128/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=abc"
        )
    status: list[str] = []
    payload = b"".join(api(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), json.loads(payload)


def test_start_api_routes_validation_auth_and_errors() -> None:
    template = load_template(FIXTURE)
    triggers = read_triggers(_stack(template))
    calls: list[tuple[dict, str]] = []

    def start(request: dict, trigger: str) -> dict:
        if json.loads(request["input"]).get("cities") == ["taken"]:
            raise SfnError("ExecutionAlreadyExists", "Execution Already Exists: 'x'")
        calls.append((request, trigger))
        return {"executionArn": "arn:exec", "startDate": 1.5}

    api = StartApi(triggers.api_routes, start, "123456789012")
    assert _call(api, "/forecasts", '{"cities": ["Perth"]}') == (
        200,
        {"executionArn": "arn:exec", "startDate": 1.5},
    )
    request, trigger = calls[0]
    assert request["stateMachineArn"] == SM_ARN
    assert json.loads(request["input"]) == {"cities": ["Perth"]}
    assert trigger == "api POST /forecasts"
    assert _call(api, "/v1/forecasts", '{"bucket": "b", "key": "k"}')[0] == 200

    status, body = _call(api, "/forecasts", '{"cities": "Perth"}')
    assert status == 400 and body["message"] == "Invalid request body"
    assert body["errors"] == ["cities: 'Perth' is not of type 'array'"]
    assert _call(api, "/forecasts", "{}")[0] == 400  # neither cities nor bucket+key
    assert _call(api, "/forecasts", '{"cities": ["x"]}', signed=False) == (
        403,
        {"message": "Missing Authentication Token"},
    )
    status, body = _call(api, "/elsewhere", "{}")
    assert status == 404 and "POST /forecasts" in body["message"]
    assert _call(api, "/forecasts", '{"cities": ["taken"]}') == (
        400, {"__type": "ExecutionAlreadyExists", "message": "Execution Already Exists: 'x'"}
    )  # fmt: skip


def test_sam_state_machine_events(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Parameters:
  Expr: {Type: String, Default: "rate(5 minutes)"}
Resources:
  InputBucket:
    Type: AWS::S3::Bucket
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth: {DefaultAuthorizer: AWS_IAM}
      Models:
        Req: {type: object, required: [cities]}
  ForecastStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Events:
        Upload:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [aws.s3], detail: {bucket: {name: [!Ref InputBucket]}}}
            InputTransformer:
              InputPathsMap: {key: $.detail.object.key}
              InputTemplate: '{"key": <key>}'
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: !Ref Expr
            ScheduleExpressionTimezone: Australia/Perth
            Input: '{"cities": ["Perth"]}'
        Off:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour), State: DISABLED}
        Start:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /runs
            Method: post
            RequestModel: {Model: Req, ValidateBody: true}
""",
        encoding="utf-8",
    )
    template = load_template(tmp_path / "template.yaml")
    triggers = read_triggers(_stack(template))
    (rule,) = triggers.rules
    assert rule.pattern == {"source": ["aws.s3"], "detail": {"bucket": {"name": ["in-bucket"]}}}
    assert rule.target_input.transformer is not None
    assert json.loads(rule.target_input.render({"detail": {"object": {"key": "k"}}})) == {
        "key": "k"
    }
    (schedule,) = triggers.schedules
    assert (schedule.expression, schedule.timezone) == ("rate(5 minutes)", "Australia/Perth")
    (route,) = triggers.api_routes
    assert (route.method, route.path, route.stage, route.iam_auth) == (
        "POST",
        "/runs",
        "prod",
        True,
    )
    assert route.validate_body and route.body_schema == {"type": "object", "required": ["cities"]}
    rendered = json.loads(
        render_mapping_template(route.request_template or "", '{"cities": ["x"]}', {})
    )
    assert rendered == {"input": '{"cities":["x"]}', "stateMachineArn": SM_ARN}


def test_outcome_summary_for_the_log() -> None:
    from sfnstack.serve.executions import outcome_summary

    output = {
        "total": 3,
        "by_status": {"error": 1, "ok": 2},
        "errors_by_reason": {"unknown city": 1},
    }
    assert outcome_summary(json.dumps(output)) == "3 cities: error 1, ok 2 (unknown city: 1)"
    assert outcome_summary(json.dumps({"summary": {"counts": {"ok": 1}}})) == "1 city: ok 1"
    assert outcome_summary(json.dumps({"something": "else"})) is None
    assert outcome_summary("not json") is None
    assert outcome_summary(None) is None
