"""SAM / CloudFormation template loading and intrinsic-function resolution.

``load_template(path)`` reads ``template.yaml`` (YAML with the short-form tags ``!Ref``,
``!GetAtt``, ``!Sub`` ... or JSON) into a ``Template``: parameters (defaults + overrides),
conditions, mappings, the ``Globals`` section merged into each ``AWS::Serverless::*``
resource, and resources whose ``Condition`` is false dropped. ``Template.resolve(value)``
evaluates intrinsics the way CloudFormation would for a local stack: a ``Ref`` to a bucket
is its name, ``!GetAtt Fn.Arn`` a local Lambda ARN, and so on. Physical names are
deterministic (``<stack>-<LogicalId>``) so ARNs (built by ``sfnstack.arns``) are stable
between runs. Each ``Fn::`` intrinsic is one small function in the ``_INTRINSICS`` table.
This is the one template loader: ``LocalRuntime``, ``serve`` (its triggers) and the
forecaster's template checks all read templates through it; a file without ``Resources`` is
refused.

What needs the cloud (``Fn::ImportValue`` without a given value, S3 code locations) raises
``TemplateError`` naming the resource and property, never a silent placeholder.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sfnstack import arns
from sfnstack.arns import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

DEFAULT_STACK_NAME = "local"

# Sentinel for AWS::NoValue: a property (or list item) resolving to it is removed.
NO_VALUE: Any = type("NoValueType", (), {"__repr__": lambda self: "AWS::NoValue"})()


class TemplateError(ValueError):
    """The template cannot be used locally; the message names the resource and property."""


# --------------------------------------------------------------------------------------
# YAML loading with CloudFormation's short-form tags


def _loader_class() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class CfnLoader(base):  # type: ignore[misc, valid-type]  # base is chosen at run time (C or Python)
        pass

    # CloudFormation keeps `2010-09-09` a string; YAML 1.1 would make it a date.
    CfnLoader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in base.yaml_implicit_resolvers.items()
    }

    def construct_tag(loader: Any, tag_suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag_suffix == "Ref":
            return {"Ref": value}
        if tag_suffix == "Condition":
            return {"Condition": value}
        if tag_suffix == "GetAtt" and isinstance(value, str):
            logical_id, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [logical_id, attribute]}
        return {f"Fn::{tag_suffix}": value}

    CfnLoader.add_multi_constructor("!", construct_tag)
    return CfnLoader


_CfnLoader = _loader_class()


def _definition_loader_class() -> type:
    """The loader of a YAML state machine definition file: YAML 1.2 booleans (only
    true/false), as the tools that write ASL in YAML (Workflow Studio, the Serverless
    Framework's js-yaml) read it, so a state named ``Yes`` or ``No`` stays a name. A SAM
    template keeps YAML 1.1 (``_CfnLoader``), as SAM's own parser reads it."""

    class DefinitionLoader(_CfnLoader):  # type: ignore[misc, valid-type]
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    inherited: dict[str, list[tuple[str, Any]]] = DefinitionLoader.yaml_implicit_resolvers
    resolvers = {
        key: [(tag, regexp) for tag, regexp in entries if tag != bool_tag]
        for key, entries in inherited.items()
    }
    core_bool = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    for first in "tTfF":
        resolvers.setdefault(first, []).insert(0, (bool_tag, core_bool))
    DefinitionLoader.yaml_implicit_resolvers = {k: v for k, v in resolvers.items() if v}
    return DefinitionLoader


_DefinitionLoader = _definition_loader_class()


def parse_template_text(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)
    if not isinstance(data, dict):
        raise TemplateError("template is not a mapping")
    return data


# --------------------------------------------------------------------------------------
# Physical names


def _safe_name(text: str, allowed: str, max_len: int) -> str:
    cleaned = re.sub(f"[^{allowed}]", "-", text)
    return cleaned[:max_len].strip("-")


def default_function_name(stack_name: str, logical_id: str) -> str:
    return _safe_name(f"{stack_name}-{logical_id}", "A-Za-z0-9_-", 64)


def default_bucket_name(stack_name: str, logical_id: str) -> str:
    name = _safe_name(f"{stack_name}-{logical_id}".lower(), "a-z0-9.-", 63)
    return name if len(name) >= 3 else f"{name}-bucket"


SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_TYPES = (SERVERLESS_FUNCTION, LAMBDA_FUNCTION)
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
BUCKET_TYPE = "AWS::S3::Bucket"
TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
ACTIVITY_TYPE = "AWS::StepFunctions::Activity"
EVENT_BUS_TYPE = "AWS::Events::EventBus"
# A stream's label is the time it was enabled; locally a fixed one keeps ARNs stable.
_STREAM_LABEL = "1970-01-01T00:00:00.000"


# --------------------------------------------------------------------------------------
# The template


@dataclass
class Template:
    """A loaded template. ``resources`` are raw (intrinsics unresolved, Globals merged);
    call ``resolve`` on any part of them."""

    path: Path | None
    body: dict[str, Any]
    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    import_values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_dir = self.path.parent if self.path else Path.cwd()
        self.mappings: dict[str, Any] = self.body.get("Mappings") or {}
        self.parameters = self._resolve_parameters()
        self._condition_defs: dict[str, Any] = self.body.get("Conditions") or {}
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        all_resources = self.body.get("Resources") or {}
        if not isinstance(all_resources, dict):
            raise TemplateError("Resources is not a mapping")
        globals_section = self.body.get("Globals") or {}
        self.resources: dict[str, dict[str, Any]] = {}
        for logical_id, resource in all_resources.items():
            if not isinstance(resource, dict) or "Type" not in resource:
                raise TemplateError(f"resource {logical_id}: not a mapping with a Type")
            condition = resource.get("Condition")
            if condition is not None and not self.condition(condition):
                continue
            self.resources[logical_id] = _with_globals(resource, globals_section)

    # -- parameters and conditions ---------------------------------------------------

    def _resolve_parameters(self) -> dict[str, Any]:
        declared = self.body.get("Parameters") or {}
        unknown = set(self.parameter_overrides) - set(declared)
        if unknown:
            raise TemplateError(f"parameter overrides for undeclared parameters: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in self.parameter_overrides:
                value = self.parameter_overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(
                    f"parameter {name} has no Default and no override was given"
                    " (pass parameter_overrides / --parameter {name}=VALUE)"
                )
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
            ptype = str(spec.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                if isinstance(value, str):
                    value = [item.strip() for item in value.split(",")] if value else []
            elif not isinstance(value, str):
                # CloudFormation hands parameter values to resources as strings.
                value = _to_string(value)
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._condition_defs:
            raise TemplateError(f"condition {name} is not defined in Conditions")
        if name in self._evaluating:
            raise TemplateError(f"condition {name} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._resolve(self._condition_defs[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"condition {name} does not evaluate to a boolean: {value!r}")
        self._condition_values[name] = value
        return value

    # -- names of things -------------------------------------------------------------

    def resource(self, logical_id: str, where: str = "") -> dict[str, Any]:
        try:
            return self.resources[logical_id]
        except KeyError:
            context = f"{where}: " if where else ""
            raise TemplateError(f"{context}no resource named {logical_id}") from None

    def _property(self, logical_id: str, name: str) -> Any:
        value = (self.resources[logical_id].get("Properties") or {}).get(name)
        if value is None:
            return None
        return self._resolve(value, f"{logical_id}.Properties.{name}")

    def function_name(self, logical_id: str) -> str:
        name = self._property(logical_id, "FunctionName")
        return str(name) if name else default_function_name(self.stack_name, logical_id)

    def function_arn(self, logical_id: str) -> str:
        return arns.function_arn(self.function_name(logical_id), self.region, self.account_id)

    def bucket_name(self, logical_id: str) -> str:
        name = self._property(logical_id, "BucketName")
        return str(name) if name else default_bucket_name(self.stack_name, logical_id)

    def state_machine_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        key = "Name" if resource["Type"] == "AWS::Serverless::StateMachine" else "StateMachineName"
        name = self._property(logical_id, key)
        return (
            str(name) if name else _safe_name(f"{self.stack_name}-{logical_id}", "A-Za-z0-9_-", 80)
        )

    def state_machine_arn(self, logical_id: str) -> str:
        return arns.state_machine_arn(
            self.state_machine_name(logical_id), self.region, self.account_id
        )

    def layer_arn(self, logical_id: str) -> str:
        name = self._property(logical_id, "LayerName") or default_function_name(
            self.stack_name, logical_id
        )
        return arns.layer_arn(str(name), 1, self.region, self.account_id)

    @property
    def partition(self) -> str:
        return arns.partition_of(self.region)

    @property
    def url_suffix(self) -> str:
        return arns.url_suffix(self.region)

    def _arn(self, service: str, resource: str) -> str:
        return arns.arn(service, resource, region=self.region, account=self.account_id)

    def _generic_name(self, logical_id: str) -> str:
        return default_function_name(self.stack_name, logical_id)

    def _named(self, logical_id: str, name_property: str) -> str:
        """The physical name: the ``name_property`` when the template gives it."""
        name = self._property(logical_id, name_property)
        return str(name) if name else self._generic_name(logical_id)

    def table_name(self, logical_id: str) -> str:
        return self._named(logical_id, "TableName")

    def table_arn(self, logical_id: str) -> str:
        return self._arn("dynamodb", f"table/{self.table_name(logical_id)}")

    def activity_arn(self, logical_id: str) -> str:
        return self._arn("states", f"activity:{self._named(logical_id, 'Name')}")

    def event_bus_arn(self, logical_id: str) -> str:
        return self._arn("events", f"event-bus/{self._named(logical_id, 'Name')}")

    def _ref_resource(self, logical_id: str) -> Any:
        rtype = self.resources[logical_id]["Type"]
        if rtype in FUNCTION_TYPES:
            return self.function_name(logical_id)
        if rtype == BUCKET_TYPE:
            return self.bucket_name(logical_id)
        if rtype in STATE_MACHINE_TYPES:
            return self.state_machine_arn(logical_id)
        if rtype in LAYER_TYPES:
            return self.layer_arn(logical_id)
        if rtype == "AWS::SNS::Topic":
            return self._arn("sns", self._named(logical_id, "TopicName"))
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.{self.url_suffix}/{self.account_id}/{self._named(logical_id, 'QueueName')}"
        if rtype in TABLE_TYPES:
            return self.table_name(logical_id)
        if rtype == ACTIVITY_TYPE:
            return self.activity_arn(logical_id)
        if rtype == EVENT_BUS_TYPE:
            return self._named(logical_id, "Name")
        # Roles, log groups, ...: CloudFormation's Ref is the physical name.
        return self._generic_name(logical_id)

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        resource = self.resource(logical_id, where)
        rtype = resource["Type"]
        region = self.region
        if rtype in FUNCTION_TYPES:
            if attribute == "Arn":
                return self.function_arn(logical_id)
        elif rtype == BUCKET_TYPE:
            name = self.bucket_name(logical_id)
            attributes = {
                "Arn": arns.bucket_arn(name, self.partition),
                "DomainName": f"{name}.s3.{self.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{region}.{self.url_suffix}",
                "WebsiteURL": f"http://{name}.s3-website-{region}.{self.url_suffix}",
            }
            if attribute in attributes:
                return attributes[attribute]
        elif rtype in STATE_MACHINE_TYPES:
            if attribute == "Arn":
                return self.state_machine_arn(logical_id)
            if attribute == "Name":
                return self.state_machine_name(logical_id)
        elif rtype == "AWS::SQS::Queue":
            name = self._named(logical_id, "QueueName")
            if attribute == "Arn":
                return self._arn("sqs", name)
            if attribute == "QueueName":
                return name
            if attribute == "QueueUrl":
                return self._ref_resource(logical_id)
        elif rtype == "AWS::SNS::Topic":
            if attribute in ("TopicArn",):
                return self._ref_resource(logical_id)
            if attribute == "TopicName":
                return self._named(logical_id, "TopicName")
        elif rtype == "AWS::IAM::Role":
            if attribute == "Arn":
                return arns.role_arn(
                    self._generic_name(logical_id), self.account_id, self.partition
                )
            if attribute == "RoleId":
                return f"AROA{self._generic_name(logical_id).upper()[:17]}"
        elif rtype in TABLE_TYPES:
            # A SimpleTable is a DynamoDB table once SAM has transformed it.
            if attribute == "Arn":
                return self.table_arn(logical_id)
            if attribute == "StreamArn" and self._property(logical_id, "StreamSpecification"):
                return f"{self.table_arn(logical_id)}/stream/{_STREAM_LABEL}"
        elif rtype == ACTIVITY_TYPE:
            if attribute == "Name":
                return self._named(logical_id, "Name")
        elif rtype == EVENT_BUS_TYPE:
            if attribute == "Arn":
                return self.event_bus_arn(logical_id)
            if attribute == "Name":
                return self._named(logical_id, "Name")
        elif rtype == "AWS::Logs::LogGroup":
            if attribute == "Arn":
                return self._arn("logs", f"log-group:{self._generic_name(logical_id)}:*")
        elif attribute == "Arn":
            service = rtype.split("::")[1].lower() if rtype.count("::") == 2 else "unknown"
            return self._arn(service, self._generic_name(logical_id))
        raise TemplateError(
            f"{where}: Fn::GetAtt {logical_id}.{attribute}: {rtype} has no local value for {attribute}"
        )

    def pseudo_parameter(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self._arn(
                "cloudformation", f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        return values[name]

    # -- intrinsic functions --------------------------------------------------------

    def resolve(self, value: Any, where: str = "template") -> Any:
        """Evaluate every intrinsic in ``value`` (a part of the template); ``where`` names the
        resource and property for error messages. ``AWS::NoValue`` parts are dropped."""
        result = self._resolve(copy.deepcopy(value), where)
        return None if result is NO_VALUE else result

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref needs a name, got {name!r}")
        if name.startswith("AWS::"):
            try:
                return self.pseudo_parameter(name)
            except KeyError:
                raise TemplateError(f"{where}: unknown pseudo parameter {name}") from None
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self._ref_resource(name)
        raise TemplateError(f"{where}: Ref {name}: no parameter or resource with that name")

    def _resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg, where)
        resolved = {}
        for key, item in value.items():
            item = self._resolve(item, f"{where}.{key}")
            if item is not NO_VALUE:
                resolved[key] = item
        return resolved

    def _function(self, key: str, arg: Any, where: str) -> Any:
        name = key[4:]
        entry = _INTRINSICS.get(name)
        if entry is None:
            raise TemplateError(f"{where}: intrinsic function Fn::{name} is not supported locally")
        resolve_argument, function = entry
        if resolve_argument:
            arg = self._resolve(arg, where)
        return function(self, arg, where, f"{where} (Fn::{name})")

    def _include(self, arg: Any, where: str) -> Any:
        """``Fn::Transform`` with ``AWS::Include``: the YAML/JSON snippet at ``Location`` (a path
        relative to the template; an S3 location needs the cloud), its intrinsics resolved."""
        here = f"{where} (Fn::Transform)"
        if not isinstance(arg, dict) or arg.get("Name") != "AWS::Include":
            name = arg.get("Name") if isinstance(arg, dict) else arg
            raise TemplateError(f"{here}: only AWS::Include is supported locally, not {name!r}")
        location = self._resolve((arg.get("Parameters") or {}).get("Location"), where)
        if not isinstance(location, str) or not location:
            raise TemplateError(f"{here}: AWS::Include needs Parameters.Location")
        if location.startswith("s3://"):
            raise TemplateError(
                f"{here}: AWS::Include location {location!r} is in S3; locally it must be a file"
            )
        path = (self.base_dir / location).resolve()
        try:
            snippet = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
        except OSError as exc:
            raise TemplateError(
                f"{here}: AWS::Include location {location!r}: cannot read {path}: {exc.strerror}"
            ) from None
        except yaml.YAMLError as exc:
            raise TemplateError(f"{here}: {path} is not valid YAML/JSON: {exc}") from None
        return self._resolve(snippet, f"{where} ({location})")

    _SUB_PATTERN = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any, where: str) -> str:
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text = arg[0]
            variables = {k: self._resolve(v, f"{where}.{k}") for k, v in arg[1].items()}
        elif isinstance(arg, str):
            text, variables = arg, {}
        else:
            raise TemplateError(f"{where} (Fn::Sub): needs a string or [string, {{variables}}]")
        if not isinstance(text, str):
            raise TemplateError(f"{where} (Fn::Sub): the template part must be a string")

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"  # ${!Literal} stays literal
            expression = expression.strip()
            if expression in variables:
                return _to_string(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, _, attribute = expression.partition(".")
                return _to_string(self._get_att(logical_id, attribute, where))
            return _to_string(self._ref(expression, where))

        return self._SUB_PATTERN.sub(replace, text)


# --------------------------------------------------------------------------------------
# Intrinsic functions: one function each, called with (template, argument, where, here);
# ``where`` names the resource and property, ``here`` adds the function's name.


def _fn_if(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 3):
        raise TemplateError(f"{here}: needs [condition, value_if_true, value_if_false]")
    branch = arg[1] if t.condition(arg[0]) else arg[2]
    return t._resolve(branch, where)


def _fn_get_att(t: Template, arg: Any, where: str, here: str) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    arg = t._resolve(arg, where)
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{here}: needs [LogicalId, Attribute]")
    return t._get_att(str(arg[0]), str(arg[1]), where)


def _fn_sub(t: Template, arg: Any, where: str, here: str) -> Any:
    return t._sub(arg, where)


def _fn_transform(t: Template, arg: Any, where: str, here: str) -> Any:
    return t._include(arg, where)


def _fn_import_value(t: Template, arg: Any, where: str, here: str) -> Any:
    export = t._resolve(arg, where)
    if export in t.import_values:
        return t.import_values[export]
    raise TemplateError(
        f"{here}: export {export!r} lives in another stack; there is no local value for it"
    )


def _fn_join(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
        raise TemplateError(f"{here}: needs [delimiter, [values]]")
    return str(arg[0]).join(_to_string(item) for item in arg[1])


def _fn_select(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
        raise TemplateError(f"{here}: needs [index, [values]]")
    index = int(arg[0])
    if not 0 <= index < len(arg[1]):
        raise TemplateError(f"{here}: index {index} out of range for {arg[1]!r}")
    return arg[1][index]


def _fn_split(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{here}: needs [delimiter, string]")
    return str(arg[1]).split(str(arg[0]))


def _fn_find_in_map(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) in (3, 4)):
        raise TemplateError(f"{here}: needs [MapName, TopLevelKey, SecondLevelKey]")
    try:
        return t.mappings[arg[0]][arg[1]][arg[2]]
    except (KeyError, TypeError):
        if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
            return arg[3]["DefaultValue"]
        raise TemplateError(f"{here}: no mapping value {arg[:3]!r}") from None


def _fn_equals(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{here}: needs [value1, value2]")
    return _to_string(arg[0]) == _to_string(arg[1])


def _fn_not(t: Template, arg: Any, where: str, here: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 1 and isinstance(arg[0], bool)):
        raise TemplateError(f"{here}: needs [condition]")
    return not arg[0]


def _conditions(arg: Any, here: str) -> list[bool]:
    if not (isinstance(arg, list) and arg and all(isinstance(a, bool) for a in arg)):
        raise TemplateError(f"{here}: needs a list of conditions")
    return arg


def _fn_and(t: Template, arg: Any, where: str, here: str) -> Any:
    return all(_conditions(arg, here))


def _fn_or(t: Template, arg: Any, where: str, here: str) -> Any:
    return any(_conditions(arg, here))


def _fn_base64(t: Template, arg: Any, where: str, here: str) -> Any:
    return base64.b64encode(_to_string(arg).encode()).decode()


def _fn_get_azs(t: Template, arg: Any, where: str, here: str) -> Any:
    return [f"{t.region}{zone}" for zone in "abc"]


def _fn_length(t: Template, arg: Any, where: str, here: str) -> Any:
    if not isinstance(arg, list):
        raise TemplateError(f"{here}: needs a list")
    return len(arg)


def _fn_to_json_string(t: Template, arg: Any, where: str, here: str) -> Any:
    return json.dumps(arg, separators=(",", ":"))


_Intrinsic = Callable[[Template, Any, str, str], Any]

# name (after ``Fn::``) -> (resolve the argument first?, function). The first five see their
# argument unresolved: If picks a branch before resolving it, GetAtt accepts "Id.Attr", Sub
# and Transform resolve their parts themselves.
_INTRINSICS: dict[str, tuple[bool, _Intrinsic]] = {
    "If": (False, _fn_if),
    "GetAtt": (False, _fn_get_att),
    "Sub": (False, _fn_sub),
    "Transform": (False, _fn_transform),
    "ImportValue": (False, _fn_import_value),
    "Join": (True, _fn_join),
    "Select": (True, _fn_select),
    "Split": (True, _fn_split),
    "FindInMap": (True, _fn_find_in_map),
    "Equals": (True, _fn_equals),
    "Not": (True, _fn_not),
    "And": (True, _fn_and),
    "Or": (True, _fn_or),
    "Base64": (True, _fn_base64),
    "GetAZs": (True, _fn_get_azs),
    "Length": (True, _fn_length),
    "ToJsonString": (True, _fn_to_json_string),
}


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_to_string(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _with_globals(resource: dict[str, Any], globals_section: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals: ``Globals.Function`` applies to every ``AWS::Serverless::Function``
    (likewise ``StateMachine``, ``LayerVersion``, ...). The resource wins; maps merge
    recursively; lists (Layers) are concatenated, globals first."""
    rtype = resource["Type"]
    if not rtype.startswith("AWS::Serverless::"):
        return resource
    section = globals_section.get(rtype.split("::")[2])
    if not section:
        return resource
    merged = dict(resource)
    merged["Properties"] = _merge(copy.deepcopy(section), resource.get("Properties") or {})
    return merged


def _merge(global_value: Any, local_value: Any) -> Any:
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        # An intrinsic (single Fn:: or Ref key) is a value, not a map to merge into.
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        out = dict(global_value)
        for key, value in local_value.items():
            out[key] = _merge(out[key], value) if key in out else value
        return out
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return (len(value) == 1 and next(iter(value)) in ("Ref", "Condition")) or any(
        k.startswith("Fn::") for k in value
    )


def load_template(
    path: str | Path,
    *,
    parameter_overrides: Mapping[str, Any] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    import_values: Mapping[str, Any] | None = None,
) -> Template:
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror}") from None
    try:
        body = parse_template_text(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML/JSON: {exc}") from None
    if not isinstance(body.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation/SAM template (no Resources)")
    return Template(
        path=path,
        body=body,
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        parameter_overrides=dict(parameter_overrides or {}),
        import_values=dict(import_values or {}),
    )


# --------------------------------------------------------------------------------------
# State machines and buckets


@dataclass
class LocalStateMachine:
    """A state machine of the template, its ``DefinitionSubstitutions`` applied."""

    logical_id: str
    name: str
    arn: str
    definition: dict[str, Any]
    definition_uri: Path | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
    workflow_type: str = "STANDARD"  # the template's Type (SAM) / StateMachineType


def substitute_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """``DefinitionSubstitutions``: ``${Key}`` in the definition text becomes the value, as
    Step Functions does it (plain text replacement, so numbers and booleans work outside
    strings too). Unknown ``${...}`` stay for the interpreter's validation to name."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return _to_string(substitutions[key]) if key in substitutions else match.group(0)

    return re.sub(r"\$\{([^}]*)\}", replace, text)


def parse_definition_text(text: str, where: str) -> dict[str, Any]:
    """A state machine definition from its text: JSON, or YAML as SAM and the console accept
    it. A ``TemplateError`` starting with ``where`` says why it is neither."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        try:
            parsed = yaml.load(text, Loader=_DefinitionLoader)
        except yaml.YAMLError as exc:
            problem = " ".join(str(exc).split())
            raise TemplateError(
                f"{where}: the definition is not valid JSON/YAML: {problem}"
            ) from None
    if not isinstance(parsed, dict):
        raise TemplateError(f"{where}: the definition is not a JSON object")
    return parsed


def resolve_state_machine(template: Template, logical_id: str) -> LocalStateMachine:
    resource = template.resource(logical_id)
    if resource["Type"] not in STATE_MACHINE_TYPES:
        raise TemplateError(f"{logical_id} is a {resource['Type']}, not a state machine")
    props = resource.get("Properties") or {}
    where = f"{logical_id}.Properties"
    substitutions = template.resolve(
        props.get("DefinitionSubstitutions") or {}, f"{where}.DefinitionSubstitutions"
    )
    if not isinstance(substitutions, dict):
        raise TemplateError(f"{where}.DefinitionSubstitutions: must be a mapping")
    definition_uri: Path | None = None
    if "Definition" in props:
        definition = template.resolve(props["Definition"], f"{where}.Definition")
        text = json.dumps(definition)
    elif "DefinitionString" in props:
        text = template.resolve(props["DefinitionString"], f"{where}.DefinitionString")
        if not isinstance(text, str):
            raise TemplateError(f"{where}.DefinitionString: must resolve to a string")
    elif "DefinitionUri" in props:
        uri = template.resolve(props["DefinitionUri"], f"{where}.DefinitionUri")
        if not isinstance(uri, str) or uri.startswith("s3://"):
            raise TemplateError(
                f"{where}.DefinitionUri: {uri!r} is an S3 location; locally it must be a file path"
            )
        definition_uri = (template.base_dir / uri).resolve()
        try:
            text = definition_uri.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(
                f"{where}.DefinitionUri: cannot read {definition_uri}: {exc.strerror}"
            ) from None
    else:
        raise TemplateError(f"{where}: no Definition, DefinitionString or DefinitionUri")
    parsed = parse_definition_text(substitute_definition(text, substitutions), where)
    workflow_type = template.resolve(
        props.get("Type") or props.get("StateMachineType") or "STANDARD", f"{where}.Type"
    )
    if workflow_type not in ("STANDARD", "EXPRESS"):
        raise TemplateError(f"{where}.Type: {workflow_type!r} is not STANDARD or EXPRESS")
    return LocalStateMachine(
        logical_id=logical_id,
        name=template.state_machine_name(logical_id),
        arn=template.state_machine_arn(logical_id),
        definition=parsed,
        definition_uri=definition_uri,
        substitutions={k: _to_string(v) for k, v in substitutions.items()},
        workflow_type=workflow_type,
    )


def resolve_state_machines(template: Template) -> dict[str, LocalStateMachine]:
    return {
        logical_id: resolve_state_machine(template, logical_id)
        for logical_id, resource in template.resources.items()
        if resource["Type"] in STATE_MACHINE_TYPES
    }


def resolve_buckets(template: Template) -> dict[str, str]:
    return {
        logical_id: template.bucket_name(logical_id)
        for logical_id, resource in template.resources.items()
        if resource["Type"] == BUCKET_TYPE
    }
