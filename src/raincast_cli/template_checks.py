"""Checks of template.yaml and the state machine definition that the generic linters
(sam validate --lint, cfn-lint, asl-validator) do not make:

* every ``${...}`` in the ASL definition has a DefinitionSubstitution, and every
  substitution is used;
* IAM statements are least-privilege: no wildcard actions, and ``Resource: "*"`` only for
  actions AWS documents as not supporting resource-level permissions;
* the retried error names in the ASL are real ``raincast.errors`` classes, ``States.*``,
  ``Lambda.*`` or the Lambda runtime's own crash/timeout names;
* every Lambda task retries the Lambda service errors and a crashed or timed-out
  invocation (AWS's recommendation; a SIGKILLed environment must not lose its batch);
* the functions that call online providers have a Timeout no shorter than the worst case
  of a batch's lookups under the retry policy (``raincast.retry``);
* a Distributed Map's Express children fit AWS's 5-minute limit: their first state passes
  the child's start time in (``started_at``), and the batch's lookup budget plus the
  Timeouts of the other Lambda steps on the child's longest path stay under 300 s;
* a function with reserved concurrency is only invoked by Tasks that retry Lambda's
  throttling (a cap must delay a batch, not fail it);
* a topic that alarms publish to is encrypted with a key of the template whose policy lets
  CloudWatch use it (with ``alias/aws/sns`` the alarm's messages are never delivered);
* every checkov check skipped in a resource's Metadata says why.

Used by ``scripts/validate_template.py`` (CI) and the unit tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sfnstack.template import load_template

SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")

# Actions that only accept "*" as their resource (CloudWatch Logs vended delivery, X-Ray).
WILDCARD_RESOURCE_ACTIONS = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
)


def template_body(path: str | Path) -> dict[str, Any]:
    """The template as written, read by sfnstack's one loader: short-form tags (``!Ref X``)
    in their long form (``{"Ref": "X"}``), intrinsics unresolved (the checks look at what is
    written)."""
    return load_template(path).body


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def definition_of(props: dict[str, Any], root: Path) -> Any:
    """A state machine's ASL definition (its ``DefinitionUri`` under ``root``), as written."""
    return json.loads((root / props["DefinitionUri"]).read_text(encoding="utf-8"))


def substituted_functions(props: dict[str, Any]) -> dict[str, str | None]:
    """``"${Key}"`` -> the logical id its DefinitionSubstitution names (``!GetAtt X.Arn``)."""
    return {
        f"${{{key}}}": _logical_id(value)
        for key, value in (props.get("DefinitionSubstitutions") or {}).items()
    }


def check_substitutions(template: dict[str, Any], root: Path) -> list[str]:
    problems = []
    for name, props in state_machines(template).items():
        definition = (root / props["DefinitionUri"]).read_text(encoding="utf-8")
        used = set(SUBSTITUTION.findall(definition))
        given = set(props.get("DefinitionSubstitutions") or {})
        for missing in sorted(used - given):
            problems.append(
                f"{name}: ${{{missing}}} in {props['DefinitionUri']} has no DefinitionSubstitution"
            )
        for unused in sorted(given - used):
            problems.append(
                f"{name}: DefinitionSubstitution {unused} is not used in the definition"
            )
    return problems


def iam_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every Allow/Deny statement in the template, with the resource it belongs to."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(owner: str, node: Any) -> None:
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                found.append((owner, node))
                return
            for value in node.values():
                walk(owner, value)
        elif isinstance(node, list):
            for value in node:
                walk(owner, value)

    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("Policies", "PolicyDocument"):
            if key in props:
                walk(name, props[key])
    return found


def check_least_privilege(template: dict[str, Any]) -> list[str]:
    problems = []
    for owner, statement in iam_statements(template):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if statement["Effect"] == "Deny":
            continue  # a Deny with wildcards narrows access (the TLS-only bucket policies)
        for action in actions:
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                problems.append(f"{owner}: wildcard action {action!r}")
        if "*" in resources:
            broad = sorted(set(actions) - WILDCARD_RESOURCE_ACTIONS)
            if broad:
                problems.append(f"{owner}: Resource '*' for {', '.join(broad)}")
    return problems


# What Lambda reports for an environment that died mid-invocation (SIGKILL, out of memory)
# and for a function past its Timeout; retried like the service errors.
LAMBDA_RUNTIME_ERRORS = frozenset({"Runtime.ExitError", "Sandbox.Timedout"})
LAMBDA_SERVICE_ERRORS = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
    }
)
CRASH_ERRORS = frozenset({"States.Timeout", *LAMBDA_RUNTIME_ERRORS})
# Functions whose batch lookups go to web providers, and the state that invokes each
# (Predict: each place's history, for the recalibration, within the batch's lookup budget).
PROVIDER_FUNCTIONS = {
    "GeocodeFunction": "Geocode",
    "WeatherFunction": "Weather",
    "PredictFunction": "Predict",
}


def check_retry_errors(template: dict[str, Any], root: Path) -> list[str]:
    from raincast import errors

    problems = []
    for name, props in state_machines(template).items():
        definition = definition_of(props, root)
        for state_name, state in iter_states(definition):
            for retrier in state.get("Retry", []):
                for error in retrier["ErrorEquals"]:
                    if error.startswith(("States.", "Lambda.")) or error in LAMBDA_RUNTIME_ERRORS:
                        continue
                    cls = getattr(errors, error, None)
                    if not (
                        isinstance(cls, type) and issubclass(cls, errors.RetryableProviderError)
                    ):
                        problems.append(
                            f"{name}.{state_name}: retries {error!r}, not a retryable raincast error"
                        )
    return problems


def check_crash_retries(template: dict[str, Any], root: Path) -> list[str]:
    problems = []
    for name, props in state_machines(template).items():
        definition = definition_of(props, root)
        for state_name, state in iter_states(definition):
            if state.get("Type") != "Task" or "lambda:invoke" not in str(state.get("Resource")):
                continue
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            for missing in sorted((LAMBDA_SERVICE_ERRORS | CRASH_ERRORS) - retried):
                problems.append(f"{name}.{state_name}: does not retry {missing}")
    return problems


def check_provider_timeouts(template: dict[str, Any]) -> list[str]:
    """Geocode/Weather/Predict Timeout >= the worst case of a batch's lookups plus the reserve."""
    from raincast.http import DEFAULT_TIMEOUT
    from raincast.lambda_adapter import RESERVE_SECONDS
    from raincast.retry import RetryPolicy, batch_worst_case_seconds

    globals_timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    needed = batch_worst_case_seconds(RetryPolicy(), DEFAULT_TIMEOUT) + RESERVE_SECONDS
    problems = []
    for logical_id in PROVIDER_FUNCTIONS:
        props = template["Resources"][logical_id]["Properties"]
        timeout = float(props.get("Timeout", globals_timeout))
        if timeout < needed:
            problems.append(
                f"{logical_id}: Timeout {timeout:g} s is shorter than a batch's worst case "
                f"under the retry policy ({needed:.1f} s)"
            )
    return problems


def check_express_children(template: dict[str, Any], root: Path) -> list[str]:
    """Express children end at 5 minutes: the lookup budget (from the child's start, which
    its first state must pass in) + the reserve + the longest path of the other Lambda steps'
    Timeouts must fit (see ``raincast.pipeline.records.LOOKUP_BUDGET_SECONDS``)."""
    from raincast.lambda_adapter import RESERVE_SECONDS
    from raincast.pipeline.records import EXPRESS_LIMIT_SECONDS, LOOKUP_BUDGET_SECONDS

    resources = template["Resources"]
    globals_timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    problems = []
    for name, props in state_machines(template).items():
        functions = substituted_functions(props)
        definition = definition_of(props, root)
        for map_name, state in iter_states(definition):
            processor = state.get("ItemProcessor") or {}
            if (processor.get("ProcessorConfig") or {}).get("ExecutionType") != "EXPRESS":
                continue
            children = processor.get("States") or {}
            first = children.get(processor.get("StartAt"), {})
            payload = (first.get("Parameters") or {}).get("Payload")
            if not isinstance(payload, dict) or payload.get("started_at.$") != (
                "$$.Execution.StartTime"
            ):
                problems.append(
                    f"{name}.{map_name}: the Express child's first state does not pass "
                    '"started_at.$": "$$.Execution.StartTime" in its Payload'
                )

            step_seconds = {
                child_name: _timeout_outside_budget(child, functions, resources, globals_timeout)
                for child_name, child in children.items()
            }
            start = processor.get("StartAt", "")
            worst = (
                LOOKUP_BUDGET_SECONDS
                + RESERVE_SECONDS
                + _longest_path(children, step_seconds, start)
            )
            if worst >= EXPRESS_LIMIT_SECONDS:
                problems.append(
                    f"{name}.{map_name}: an Express child can run {worst:g} s (lookup budget "
                    f"{LOOKUP_BUDGET_SECONDS:g} s + the other steps' Timeouts), not under "
                    f"AWS's {EXPRESS_LIMIT_SECONDS:g} s limit"
                )
    return problems


def _timeout_outside_budget(
    state: dict[str, Any],
    functions: dict[str, str | None],
    resources: dict[str, Any],
    globals_timeout: float,
) -> float:
    """A child state's Lambda Timeout, or 0 for the provider steps (their lookups end by
    the batch's budget) and states that invoke no function of the template."""
    target = functions.get((state.get("Parameters") or {}).get("FunctionName", ""))
    if target is None or target in PROVIDER_FUNCTIONS:
        return 0.0
    return float((resources[target].get("Properties") or {}).get("Timeout", globals_timeout))


def _longest_path(
    states: dict[str, Any], seconds: dict[str, float], name: str, seen: frozenset[str] = frozenset()
) -> float:
    """The most seconds any path from ``name`` (through Next and Catch) can add up."""
    state = states.get(name) or {}
    seen = seen | {name}
    following = [state.get("Next")] + [c.get("Next") for c in state.get("Catch", [])]
    rest = [_longest_path(states, seconds, n, seen) for n in following if n and n not in seen]
    return seconds.get(name, 0.0) + max(rest, default=0.0)


def iter_states(definition: dict[str, Any]):
    for name, state in definition.get("States", {}).items():
        yield name, state
        if state.get("Type") == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            yield from iter_states(processor)
        for branch in state.get("Branches", []):
            yield from iter_states(branch)


THROTTLED = "Lambda.TooManyRequestsException"


def _logical_id(reference: Any) -> str | None:
    """The resource a ``!Ref X`` / ``!GetAtt X.Arn`` names."""
    if isinstance(reference, dict):
        if "Ref" in reference:
            return str(reference["Ref"])
        if "Fn::GetAtt" in reference:
            target = reference["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def check_reserved_concurrency(template: dict[str, Any], root: Path) -> list[str]:
    reserved = {
        name
        for name, resource in template["Resources"].items()
        if "ReservedConcurrentExecutions" in (resource.get("Properties") or {})
    }
    problems = []
    for name, props in state_machines(template).items():
        functions = substituted_functions(props)
        definition = definition_of(props, root)
        for state_name, state in iter_states(definition):
            target = functions.get((state.get("Parameters") or {}).get("FunctionName", ""))
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            if target in reserved and not retried & {THROTTLED, "States.ALL"}:
                problems.append(
                    f"{name}.{state_name}: {target} has reserved concurrency but the Task does "
                    f"not retry {THROTTLED}"
                )
    return problems


def check_alarm_topics(template: dict[str, Any]) -> list[str]:
    resources = template["Resources"]
    topics = {
        topic
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        for action in (resource.get("Properties") or {}).get("AlarmActions", [])
        if (topic := _logical_id(action)) is not None
    }
    problems = []
    for topic in sorted(t for t in topics if t in resources):
        key = _logical_id((resources[topic].get("Properties") or {}).get("KmsMasterKeyId"))
        if key is None or resources.get(key, {}).get("Type") != "AWS::KMS::Key":
            problems.append(f"{topic}: alarms publish here; encrypt it with a key of the template")
            continue
        statements = resources[key]["Properties"]["KeyPolicy"]["Statement"]
        granted: set[str] = set()
        for statement in statements:
            service = (statement.get("Principal") or {}).get("Service")
            services = service if isinstance(service, list) else [service]
            if statement.get("Effect") == "Allow" and "cloudwatch.amazonaws.com" in services:
                actions = statement.get("Action")
                granted.update(actions if isinstance(actions, list) else [actions])
        if not {"kms:Decrypt", "kms:GenerateDataKey*"} <= granted:
            problems.append(f"{key}: its policy must let cloudwatch.amazonaws.com use it ({topic})")
    return problems


def check_checkov_skips(template: dict[str, Any]) -> list[str]:
    problems = []
    for name, resource in template["Resources"].items():
        skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
        for skip in skips:
            if not re.fullmatch(r"CKV2?_AWS_\d+", str(skip.get("id", ""))):
                problems.append(f"{name}: checkov skip {skip!r} has no check id")
            elif len(str(skip.get("comment") or "").split()) < 5:
                problems.append(f"{name}: checkov skip {skip['id']} does not say why")
    return problems


def check_all(root: str | Path) -> list[str]:
    root = Path(root)
    template = template_body(root / "template.yaml")
    return (
        check_substitutions(template, root)
        + check_least_privilege(template)
        + check_retry_errors(template, root)
        + check_crash_retries(template, root)
        + check_provider_timeouts(template)
        + check_express_children(template, root)
        + check_reserved_concurrency(template, root)
        + check_alarm_topics(template)
        + check_checkov_skips(template)
    )
