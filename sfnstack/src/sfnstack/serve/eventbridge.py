"""The slice of Amazon EventBridge that the upload trigger needs: S3 "Object Created" events
in the shape S3 sends them, rule event-pattern matching, and target input processing
(Input, InputPath, InputTransformer) as EventBridge applies them."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfnstack import arns
from sfnstack.asl.errors import PathNotFound
from sfnstack.asl.jsonpath import compile_path

__all__ = [
    "InputTransformer",
    "TargetInput",
    "jsonpath_get",
    "matches_pattern",
    "s3_object_created_event",
]


def s3_object_created_event(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    sequencer: str,
    reason: str,
    region: str,
    account: str,
    request_id: str,
    source_ip: str = "127.0.0.1",
    version_id: str | None = None,
    when: datetime | None = None,
) -> dict[str, Any]:
    """The event S3 delivers to EventBridge for a new object (``detail-type`` "Object
    Created"). ``etag`` is without quotes, as in the real event."""
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag.strip('"')}
    if version_id:
        obj["version-id"] = version_id
    obj["sequencer"] = sequencer
    moment = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": moment,
        "region": region,
        "resources": [arns.bucket_arn(bucket, arns.partition_of(region))],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": request_id,
            "requester": account,
            "source-ip-address": source_ip,
            "reason": reason,
        },
    }


# ----------------------------------------------------------------------------- patterns


def _match_leaf(rules: list[Any], value: Any, present: bool) -> bool:
    """One pattern array against one event value (or an array of them: any element)."""
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, dict):
            if "exists" in rule:
                if bool(rule["exists"]) == present:
                    return True
                continue
            if not present:
                continue
            if any(_match_operator(rule, v) for v in values):
                return True
        elif present and any(v == rule for v in values):
            return True
    return False


def _match_operator(rule: dict[str, Any], value: Any) -> bool:
    (operator, operand), *_ = rule.items()
    if operator == "prefix":
        if isinstance(operand, dict):  # {"prefix": {"equals-ignore-case": "..."}}
            needle = str(operand.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().startswith(needle.lower())
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        if isinstance(operand, dict):
            needle = str(operand.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().endswith(needle.lower())
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(operand).lower()
    if operator == "wildcard":
        regex = ".*".join(re.escape(part) for part in str(operand).split("*"))
        return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None
    if operator == "anything-but":
        if isinstance(operand, dict):
            return not _match_operator(operand, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return value not in excluded
    if operator == "numeric":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        checks = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
            "=": lambda a, b: a == b,
        }
        pairs = list(zip(operand[::2], operand[1::2], strict=False))
        return all(checks[op](value, bound) for op, bound in pairs)
    raise ValueError(f"unsupported event pattern operator {operator!r}")


def matches_pattern(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge event-pattern matching: every field of the pattern must match; arrays
    are OR; nested objects recurse; ``$or`` holds alternative sub-patterns."""
    for field, rule in pattern.items():
        if field == "$or":
            if not any(matches_pattern(alternative, event) for alternative in rule):
                return False
            continue
        present = isinstance(event, dict) and field in event
        value = event.get(field) if isinstance(event, dict) else None
        if isinstance(rule, dict):
            if not present or not isinstance(value, dict):
                return False
            if not matches_pattern(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_leaf(rule, value, present):
                return False
        else:
            raise ValueError(f"event pattern field {field!r} must be an object or an array")
    return True


# ----------------------------------------------------------------------------- input


def jsonpath_get(document: Any, path: str) -> Any:
    """The value at a JSONPath (``$``, ``$.a.b``, ``$.a['b-c'][0]``), evaluated by the ASL
    interpreter's engine, as EventBridge's InputPath and InputPathsMap (and API Gateway's
    ``$input.path``) use it: a path that matches nothing gives None, not an error. A path
    that is not JSONPath raises ``ValueError``."""
    try:
        return compile_path(path).get(document)
    except PathNotFound:
        return None


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


@dataclass(frozen=True)
class InputTransformer:
    """``InputPathsMap`` + ``InputTemplate``: each ``<name>`` in the template is replaced
    by the value at its path. Inside a JSON string literal a string value goes in raw (its
    characters escaped for JSON); elsewhere a value goes in as JSON (strings quoted)."""

    paths_map: dict[str, str]
    template: str
    rule_name: str = ""

    def apply(self, event: dict[str, Any]) -> str:
        values: dict[str, Any] = {
            name: jsonpath_get(event, path) for name, path in self.paths_map.items()
        }
        reserved = {
            "aws.events.rule-name": self.rule_name,
            "aws.events.event": event,
            "aws.events.event.json": event,
            "aws.events.event.ingestion-time": event.get("time"),
        }
        out: list[str] = []
        in_string = escaped = False
        position = 0
        template = self.template
        while position < len(template):
            char = template[position]
            if char == "<":
                match = _PLACEHOLDER.match(template, position)
                if match and (match.group(1) in values or match.group(1) in reserved):
                    name = match.group(1)
                    value = values[name] if name in values else reserved[name]
                    out.append(_render(value, in_string))
                    position = match.end()
                    continue
            out.append(char)
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            position += 1
        return "".join(out)


def _render(value: Any, in_string: bool) -> str:
    if in_string:
        if value is None:
            return ""
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return json.dumps(text)[1:-1]
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class TargetInput:
    """How a rule target turns the matched event into the target's input: constant
    ``Input``, ``InputPath``, an ``InputTransformer``, or (none of them) the whole event."""

    constant: str | None = None
    input_path: str | None = None
    transformer: InputTransformer | None = None

    def render(self, event: dict[str, Any]) -> str:
        if self.constant is not None:
            return self.constant
        if self.transformer is not None:
            return self.transformer.apply(event)
        if self.input_path is not None:
            return json.dumps(jsonpath_get(event, self.input_path))
        return json.dumps(event)
