"""Reads the three triggers out of a loaded template: EventBridge rules, schedules and the
start API. Their properties are resolved by ``sfnstack.template.Template``, the same
one ``LocalRuntime`` runs the stack from, so bucket names, state machine ARNs and parameter
values are the runtime's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sfnstack.serve.eventbridge import InputTransformer, TargetInput
from sfnstack.template import BUCKET_TYPE, STATE_MACHINE_TYPES, Template, TemplateError

__all__ = [
    "ApiRoute",
    "RuleTrigger",
    "ScheduleTrigger",
    "TemplateTriggers",
    "read_triggers",
]


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


def read_triggers(template: Template) -> TemplateTriggers:
    """Every rule, schedule and StartExecution API method that targets one of the template's
    state machines (resources whose ``Condition`` is false are not in ``template.resources``)."""
    triggers = TemplateTriggers()
    state_machines = {
        template.state_machine_arn(logical_id): logical_id
        for logical_id, resource in template.resources.items()
        if resource["Type"] in STATE_MACHINE_TYPES
    }
    for logical_id, resource in template.resources.items():
        kind = resource["Type"]
        props = resource.get("Properties") or {}
        where = f"{logical_id}.Properties"
        if kind == BUCKET_TYPE:
            notification = template.resolve(
                props.get("NotificationConfiguration") or {}, f"{where}.NotificationConfiguration"
            )
            eventbridge = notification.get("EventBridgeConfiguration") or {}
            if eventbridge.get("EventBridgeEnabled") in (True, "true", "True"):
                triggers.eventbridge_buckets.add(template.bucket_name(logical_id))
        elif kind == "AWS::Events::Rule":
            _read_rule(logical_id, template.resolve(props, where), state_machines, triggers)
        elif kind == "AWS::Scheduler::Schedule":
            _read_schedule(logical_id, template.resolve(props, where), state_machines, triggers)
        elif kind in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            _read_api(logical_id, kind, props, template, triggers)
        elif kind == "AWS::Serverless::StateMachine":
            _read_sam_events(logical_id, props.get("Events") or {}, template, triggers)
    return triggers


def _read_sam_events(
    sm_id: str,
    events: Mapping[str, Any],
    template: Template,
    out: TemplateTriggers,
) -> None:
    """SAM's event sources on a state machine: EventBridgeRule, ScheduleV2, Schedule, Api."""
    for event_id, event in events.items():
        kind = event.get("Type")
        raw_props = event.get("Properties") or {}
        props = template.resolve(raw_props, f"{sm_id}.Properties.Events.{event_id}.Properties")
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
            api_id = _logical_id(raw_props.get("RestApiId"))
            out.api_routes.append(_sam_api_route(sm_id, api_id, props, template))


def _logical_id(reference: Any) -> str | None:
    """The resource a ``RestApiId: !Ref Api`` names (its logical id, not the physical id the
    ``Ref`` resolves to)."""
    if isinstance(reference, dict) and set(reference) == {"Ref"}:
        return str(reference["Ref"])
    return str(reference) if reference else None


def _sam_api_route(
    sm_id: str, api_id: str | None, props: Mapping[str, Any], template: Template
) -> ApiRoute:
    """The integration SAM generates for a state machine's Api event: the body becomes the
    execution input."""
    where = f"{sm_id}.Properties.Events (RestApiId)"
    api_props = (
        template.resolve(template.resource(api_id, where).get("Properties") or {}, api_id)
        if api_id
        else {}
    )
    auth = {**(api_props.get("Auth") or {}), **(props.get("Auth") or {})}
    authorizer = (props.get("Auth") or {}).get("Authorizer") or auth.get("DefaultAuthorizer")
    request_model = props.get("RequestModel") or {}
    models = api_props.get("Models") or {}
    schema = models.get(request_model.get("Model")) if request_model else None
    arn = template.state_machine_arn(sm_id)
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
    rule_id: str, props: dict[str, Any], state_machines: Mapping[str, str], out: TemplateTriggers
) -> None:
    if props.get("State", "ENABLED") != "ENABLED":
        return
    for target in props.get("Targets") or []:
        sm_id = state_machines.get(str(target.get("Arn")))
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
    schedule_id: str,
    props: dict[str, Any],
    state_machines: Mapping[str, str],
    out: TemplateTriggers,
) -> None:
    if props.get("State", "ENABLED") != "ENABLED":
        return
    target = props.get("Target") or {}
    sm_id = state_machines.get(str(target.get("Arn")))
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
    api_id: str, kind: str, props: dict[str, Any], template: Template, out: TemplateTriggers
) -> None:
    key = "DefinitionBody" if kind == "AWS::Serverless::Api" else "Body"
    if props.get(key) is None:
        return
    body = template.resolve(props[key], f"{api_id}.Properties.{key}")
    if not isinstance(body, dict):
        raise TemplateError(f"{api_id}.Properties.{key}: not an OpenAPI document (a mapping)")
    stage = template.resolve(props.get("StageName"), f"{api_id}.Properties.StageName")
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
