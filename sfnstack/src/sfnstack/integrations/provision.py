"""The template's queues, topics and tables, created in moto when the runtime starts, so a
state's ``sqs:sendMessage`` or ``dynamodb:putItem`` (and a handler's boto3 call to the
embedded endpoint) finds them: ``AWS::SQS::Queue``, ``AWS::SNS::Topic``,
``AWS::DynamoDB::Table`` and ``AWS::Serverless::SimpleTable``.

Named by their ``QueueName`` / ``TopicName`` / ``TableName`` property, else by the name
the template's ``Ref`` gives them. Only what a call needs is created (a table's key
schema, a FIFO queue's attribute); the rest of their properties are not emulated.

Creating them costs moto's imports (0.2 s or so once S3's are done), so it happens only
where it is needed (``Provisioner``): before a state's first AWS call, and, when a
function's properties name one of them (``named_by_functions``: its environment, its
policies), off the caller's thread once the runtime's S3 endpoint has started, waited for
before the first handler runs (which may call them through the embedded endpoint)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import aws

if TYPE_CHECKING:
    from ..template import Template

log = logging.getLogger("sfnstack.integrations")

QUEUE, TOPIC = "AWS::SQS::Queue", "AWS::SNS::Topic"
TABLE, SIMPLE_TABLE = "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"
TYPES = (QUEUE, TOPIC, TABLE, SIMPLE_TABLE)


def template_resources(template: Template) -> list[tuple[str, str]]:
    """(logical id, type) of the resources ``create_resources`` would create."""
    return [(lid, r["Type"]) for lid, r in template.resources.items() if r["Type"] in TYPES]


def named_by_functions(template: Template) -> bool:
    """Whether a function's properties (its environment, policies, events) name one of
    them: only then may a handler call them, and must they exist before it runs."""
    from ..template import FUNCTION_TYPES

    ids = [logical_id for logical_id, _ in template_resources(template)]
    if not ids:
        return False
    pattern = re.compile(
        r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, ids)) + r")(?![A-Za-z0-9])"
    )
    return any(
        pattern.search(json.dumps(resource.get("Properties") or {}, default=str))
        for resource in template.resources.values()
        if resource["Type"] in FUNCTION_TYPES
    )


def create_resources(template: Template) -> list[str]:
    """Create them (idempotent); the names created. A resource whose properties cannot be
    resolved locally is skipped with a warning, not an error: a state using it then fails
    with the service's own error naming it."""
    created = []
    for logical_id, rtype in template_resources(template):
        try:
            properties = template.resolve(
                template.resources[logical_id].get("Properties") or {},
                f"{logical_id}.Properties",
            )
            name = _create(template, logical_id, rtype, properties)
        except Exception as exc:  # a value with no local meaning, a moto refusal
            log.warning("cannot create %s (%s) locally: %s", logical_id, rtype, exc)
            continue
        created.append(name)
    return created


def _ref_name(template: Template, logical_id: str) -> str:
    return str(template.resolve({"Ref": logical_id}, logical_id)).rstrip("/").rsplit("/", 1)[-1]


def _create(template: Template, logical_id: str, rtype: str, properties: dict[str, Any]) -> str:
    region = template.region
    if rtype == QUEUE:
        name = str(properties.get("QueueName") or _ref_name(template, logical_id))
        attributes = {"FifoQueue": "true"} if properties.get("FifoQueue") else {}
        if attributes and not name.endswith(".fifo"):
            name += ".fifo"
        aws.CLIENTS.client("sqs", region).create_queue(QueueName=name, Attributes=attributes)
        return name
    if rtype == TOPIC:
        name = str(properties.get("TopicName") or _ref_name(template, logical_id).split(":")[-1])
        aws.CLIENTS.client("sns", region).create_topic(Name=name)
        return name
    name = str(properties.get("TableName") or _ref_name(template, logical_id))
    dynamodb = aws.CLIENTS.client("dynamodb", region)
    if name in dynamodb.list_tables().get("TableNames", []):
        return name
    if rtype == SIMPLE_TABLE:
        key = properties.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        kind = {"String": "S", "Number": "N", "Binary": "B"}[str(key.get("Type", "String"))]
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key["Name"], "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key["Name"], "AttributeType": kind}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name
    table: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(index_kind):
            table[index_kind] = [
                {k: v for k, v in index.items() if k != "ProvisionedThroughput"}
                for index in properties[index_kind]
            ]
    dynamodb.create_table(**table)
    return name


class Provisioner:
    """Creates a template's resources once, in a background thread: ``start`` begins,
    ``wait`` (begins if need be and) waits until done. Thread-safe."""

    def __init__(self, template: Template) -> None:
        self._template = template
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, after: Callable[[], object] | None = None) -> None:
        """Begin (once); ``after``: what to wait for first (the S3 endpoint starting, whose
        imports of moto would only compete with these)."""

        def run() -> None:
            if after is not None:
                try:
                    after()
                except Exception:  # S3's own failure is reported where S3 is used
                    log.debug("the S3 endpoint did not start", exc_info=True)
            create_resources(self._template)

        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=run, name="sfnstack-provision", daemon=True)
                self._thread.start()

    def wait(self) -> None:
        self.start()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()  # (the thread's own calls must not wait for themselves)
