"""Reads the three triggers out of ``template.yaml`` — EventBridge rules, schedules and the
start API — and resolves the intrinsic functions they use (``!Ref``, ``!GetAtt``, ``!Sub``,
``!Join``, ``!Select``, ``!If`` with ``Conditions`` left out, ``AWS::Include``) against the
local stack: bucket names, state machine ARNs, parameter values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raincast.serve.eventbridge import InputTransformer, TargetInput

__all__ = [
    "ApiRoute",
    "LocalStack",
    "RuleTrigger",
    "ScheduleTrigger",
    "TemplateError",
    "TemplateTriggers",
    "load_template",
    "read_triggers",
]


class TemplateError(ValueError):
    """The template has a trigger the local stack cannot read; the message says where."""


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (``!Ref X``) into long form
    (``{"Ref": "X"}``)."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation/SAM template (no Resources)")
    return document


@dataclass
class LocalStack:
    """What the intrinsic functions resolve to locally."""

    region: str = "us-east-1"
    account: str = "123456789012"
    stack_name: str = "raincast"
    parameters: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name
    state_machines: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (arn, name)
    template_dir: Path = Path(".")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/"
            f"{self.stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.buckets:
            return self.buckets[name]
        if name in self.state_machines:
            return self.state_machines[name][0]
        return name  # other resources: their logical id stands in for the physical id

    def get_att(self, name: str, attribute: str) -> Any:
        if name in self.buckets:
            bucket = self.buckets[name]
            return {
                "Arn": f"arn:aws:s3:::{bucket}",
                "DomainName": f"{bucket}.s3.amazonaws.com",
                "RegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com",
            }.get(attribute, bucket)
        if name in self.state_machines:
            arn, sm_name = self.state_machines[name]
            return {"Arn": arn, "Name": sm_name}.get(attribute, arn)
        return f"arn:aws:local:{self.region}:{self.account}:{name}/{attribute}"

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsic functions anywhere in ``value``."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                return self.get_att(parts[0], self.resolve(parts[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return str(separator).join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg)
                return str(text).split(separator)
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg))
            if key == "Fn::Transform":
                return self._include(arg)
            if key == "Fn::If":
                raise TemplateError("Fn::If is not supported in trigger properties")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self.resolve(arg[1]) if len(arg) > 1 else {}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def _include(self, arg: Mapping[str, Any]) -> Any:
        if arg.get("Name") != "AWS::Include":
            raise TemplateError(f"unsupported Fn::Transform {arg.get('Name')!r}")
        location = self.resolve(arg.get("Parameters", {}).get("Location"))
        path = self.template_dir / str(location)
        if not path.is_file():
            raise TemplateError(f"AWS::Include location {location!r} is not a local file")
        return self.resolve(load_template_fragment(path))


def load_template_fragment(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            values[name] = str(spec["Default"])
    values.update(overrides)
    return values


@dataclass(frozen=True)
class RuleTrigger:
    """An EventBridge rule with one state-machine target."""

    rule_id: str
    pattern: dict[str, Any]
    state_machine_id: str
    target_input: TargetInput


@dataclass(frozen=True)
class ScheduleTrigger:
    schedule_id: str
    expression: str
    timezone: str | None
    state_machine_id: str
    input: str


@dataclass(frozen=True)
class ApiRoute:
    """A REST API method integrated with ``states:StartExecution``."""

    api_id: str
    method: str
    path: str
    stage: str | None
    iam_auth: bool
    validate_body: bool
    body_schema: dict[str, Any] | None
    request_template: str | None  # VTL for application/json, None = passthrough


@dataclass
class TemplateTriggers:
    rules: list[RuleTrigger] = field(default_factory=list)
    schedules: list[ScheduleTrigger] = field(default_factory=list)
    api_routes: list[ApiRoute] = field(default_factory=list)
    eventbridge_buckets: set[str] = field(default_factory=set)  # bucket names sending events


def _state_machine_of(stack: LocalStack, arn: Any, where: str) -> str | None:
    for logical_id, (sm_arn, _) in stack.state_machines.items():
        if arn == sm_arn:
            return logical_id
    return None


def read_triggers(template: Mapping[str, Any], stack: LocalStack) -> TemplateTriggers:
    """Every rule, schedule and StartExecution API method that targets one of the stack's
    state machines."""
    triggers = TemplateTriggers()
    resources: Mapping[str, Any] = template.get("Resources") or {}
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == "AWS::S3::Bucket":
            notification = stack.resolve(props.get("NotificationConfiguration") or {})
            eventbridge = notification.get("EventBridgeConfiguration") or {}
            if eventbridge.get("EventBridgeEnabled") in (True, "true", "True"):
                triggers.eventbridge_buckets.add(stack.buckets.get(logical_id, logical_id))
        elif kind == "AWS::Events::Rule":
            _read_rule(logical_id, stack.resolve(props), stack, triggers)
        elif kind == "AWS::Scheduler::Schedule":
            _read_schedule(logical_id, stack.resolve(props), stack, triggers)
        elif kind in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            _read_api(logical_id, kind, props, stack, triggers)
        elif kind == "AWS::Serverless::StateMachine":
            _read_sam_events(logical_id, props.get("Events") or {}, resources, stack, triggers)
    return triggers


def _read_sam_events(
    sm_id: str,
    events: Mapping[str, Any],
    resources: Mapping[str, Any],
    stack: LocalStack,
    out: TemplateTriggers,
) -> None:
    """SAM's event sources on a state machine: EventBridgeRule, ScheduleV2, Schedule, Api."""
    for event_id, event in events.items():
        kind = event.get("Type")
        props = stack.resolve(event.get("Properties") or {})
        if kind == "EventBridgeRule":
            if props.get("State", "ENABLED") != "ENABLED":
                continue
            transformer = None
            if "InputTransformer" in props:
                spec = props["InputTransformer"]
                transformer = InputTransformer(
                    dict(spec.get("InputPathsMap") or {}),
                    str(spec.get("InputTemplate", "")),
                    rule_name=f"{sm_id}{event_id}",
                )
            target_input = TargetInput(
                constant=props.get("Input"),
                input_path=props.get("InputPath"),
                transformer=transformer,
            )
            out.rules.append(RuleTrigger(event_id, props.get("Pattern") or {}, sm_id, target_input))
        elif kind in ("ScheduleV2", "Schedule"):
            expression = props.get("ScheduleExpression") or props.get("Schedule")
            enabled = props.get("State", "ENABLED") == "ENABLED" and props.get("Enabled", True) in (
                True,
                "true",
                "True",
            )
            if not enabled or not isinstance(expression, str):
                continue
            input_value = props.get("Input", "{}")
            if not isinstance(input_value, str):
                input_value = json.dumps(input_value)
            timezone_name = props.get("ScheduleExpressionTimezone")
            out.schedules.append(
                ScheduleTrigger(event_id, expression, timezone_name, sm_id, input_value)
            )
        elif kind == "Api":
            out.api_routes.append(_sam_api_route(sm_id, props, resources, stack))


def _sam_api_route(
    sm_id: str, props: Mapping[str, Any], resources: Mapping[str, Any], stack: LocalStack
) -> ApiRoute:
    """The integration SAM generates for a state machine's Api event: the body becomes the
    execution input."""
    api_id = props.get("RestApiId")
    api_props = (
        stack.resolve((resources.get(api_id) or {}).get("Properties") or {}) if api_id else {}
    )
    auth = {**(api_props.get("Auth") or {}), **(props.get("Auth") or {})}
    authorizer = (props.get("Auth") or {}).get("Authorizer") or auth.get("DefaultAuthorizer")
    request_model = props.get("RequestModel") or {}
    models = api_props.get("Models") or {}
    schema = models.get(request_model.get("Model")) if request_model else None
    arn = stack.state_machines[sm_id][0]
    return ApiRoute(
        api_id=str(api_id or "ServerlessRestApi"),
        method=str(props.get("Method", "post")).upper(),
        path=str(props.get("Path", "/")),
        stage=str(api_props.get("StageName")) if api_props.get("StageName") else None,
        iam_auth=authorizer == "AWS_IAM",
        validate_body=bool(request_model.get("ValidateBody", bool(schema))),
        body_schema=schema,
        request_template=(
            f'{{"input": "$util.escapeJavaScript($input.json(\'$\'))", "stateMachineArn": "{arn}"}}'
        ),
    )


def _read_rule(
    rule_id: str, props: dict[str, Any], stack: LocalStack, out: TemplateTriggers
) -> None:
    if props.get("State", "ENABLED") != "ENABLED":
        return
    for target in props.get("Targets") or []:
        sm_id = _state_machine_of(stack, target.get("Arn"), rule_id)
        if sm_id is None:
            continue
        transformer = None
        if "InputTransformer" in target:
            spec = target["InputTransformer"]
            template = spec.get("InputTemplate")
            if not isinstance(template, str):
                raise TemplateError(f"{rule_id}: InputTransformer.InputTemplate must be a string")
            transformer = InputTransformer(
                dict(spec.get("InputPathsMap") or {}), template, rule_name=rule_id
            )
        target_input = TargetInput(
            constant=target.get("Input"),
            input_path=target.get("InputPath"),
            transformer=transformer,
        )
        if "ScheduleExpression" in props:
            out.schedules.append(
                ScheduleTrigger(
                    rule_id, props["ScheduleExpression"], None, sm_id, target_input.render({})
                )
            )
        elif "EventPattern" in props:
            pattern = props["EventPattern"]
            if isinstance(pattern, str):
                pattern = json.loads(pattern)
            out.rules.append(RuleTrigger(rule_id, pattern, sm_id, target_input))


def _read_schedule(
    schedule_id: str, props: dict[str, Any], stack: LocalStack, out: TemplateTriggers
) -> None:
    if props.get("State", "ENABLED") != "ENABLED":
        return
    target = props.get("Target") or {}
    sm_id = _state_machine_of(stack, target.get("Arn"), schedule_id)
    if sm_id is None:
        return
    expression = props.get("ScheduleExpression")
    if not isinstance(expression, str):
        raise TemplateError(f"{schedule_id}: ScheduleExpression must resolve to a string")
    input_value = target.get("Input", "{}")
    if not isinstance(input_value, str):
        input_value = json.dumps(input_value)
    out.schedules.append(
        ScheduleTrigger(
            schedule_id, expression, props.get("ScheduleExpressionTimezone"), sm_id, input_value
        )
    )


def _read_api(
    api_id: str, kind: str, props: dict[str, Any], stack: LocalStack, out: TemplateTriggers
) -> None:
    body = props.get("DefinitionBody") if kind == "AWS::Serverless::Api" else props.get("Body")
    if body is None:
        return
    body = stack.resolve(body)
    stage = stack.resolve(props.get("StageName"))
    default_iam = (
        ((props.get("Auth") or {}).get("DefaultAuthorizer") == "AWS_IAM")
        if kind == "AWS::Serverless::Api"
        else False
    )
    security_schemes = {
        **((body.get("components") or {}).get("securitySchemes") or {}),
        **(body.get("securityDefinitions") or {}),
    }
    validators = body.get("x-amazon-apigateway-request-validators") or {}
    default_validator = body.get("x-amazon-apigateway-request-validator")
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict):
                continue
            integration = operation.get("x-amazon-apigateway-integration") or {}
            uri = str(integration.get("uri", ""))
            if ":states:action/StartExecution" not in uri:
                continue
            validator_name = operation.get(
                "x-amazon-apigateway-request-validator", default_validator
            )
            validator = validators.get(validator_name) or {}
            templates = integration.get("requestTemplates") or {}
            out.api_routes.append(
                ApiRoute(
                    api_id=api_id,
                    method=method.upper(),
                    path=path,
                    stage=str(stage) if stage else None,
                    iam_auth=default_iam
                    or _uses_sigv4(
                        operation.get("security", body.get("security")), security_schemes
                    ),
                    validate_body=bool(validator.get("validateRequestBody", False)),
                    body_schema=_body_schema(body, operation),
                    request_template=templates.get("application/json"),
                )
            )


def _uses_sigv4(security: Any, schemes: Mapping[str, Any]) -> bool:
    for requirement in security or []:
        for name in requirement:
            scheme = schemes.get(name) or {}
            if scheme.get("x-amazon-apigateway-authtype") in ("awsSigv4", "AWS_IAM"):
                return True
    return False


def _body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    """The request body's JSON schema, with ``$ref``s into the document inlined."""
    schema = None
    content = (operation.get("requestBody") or {}).get("content") or {}
    if "application/json" in content:
        schema = content["application/json"].get("schema")
    for parameter in operation.get("parameters") or []:  # Swagger 2.0
        if isinstance(parameter, dict) and parameter.get("in") == "body":
            schema = parameter.get("schema")
    if schema is None:
        return None
    return _inline_refs(document, schema, depth=0)


def _inline_refs(document: dict[str, Any], node: Any, depth: int) -> Any:
    if depth > 32:
        raise TemplateError("request model $ref nesting is too deep (recursive?)")
    if isinstance(node, list):
        return [_inline_refs(document, item, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str) and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _inline_refs(document, target, depth + 1)
    return {key: _inline_refs(document, value, depth) for key, value in node.items()}
