"""Distributed Map parts: ItemReader (S3 objects and listings), ItemBatcher, ResultWriter."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import (
    ITEM_READER_FAILED,
    RESULT_WRITER_FAILED,
    DefinitionError,
    RuntimeFailure,
    StateFailure,
)
from .jsonvalue import is_number, to_json_string
from .references import compile_reference

if TYPE_CHECKING:
    from .context import Execution, Frame
    from .language import StateFields

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT = "arn:aws:states:::s3:putObject"
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


def _s3(ex: Execution, what: str, error: str) -> Any:
    client = ex.services.s3_client
    if client is None:
        raise StateFailure(
            error, f"{what} needs S3, but no s3_client is configured (Services.s3_client)"
        )
    return client


def resolve_number(ref: Any, field: str, data: Any, frame: Frame, *, kind: str = "integer") -> Any:
    """A ``*Path`` field that must find a number (``kind`` integer or float), or a string
    that reads as one."""
    value = ref.resolve(data, frame)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value) if kind == "float" else int(value)
    valid = is_number(value) and (kind == "float" or float(value).is_integer())
    if not valid:
        raise RuntimeFailure(
            f'The {field} field refers to value "{to_json_string(value) if not isinstance(value, str) else value}" '
            f"which is not a valid {kind}: {ref.source}"
        )
    return value


def _arguments(spec: dict[str, Any], fields: StateFields, field: str) -> Any:
    """A reader's or writer's ``Parameters`` (JSONPath) or ``Arguments`` (JSONata),
    evaluated against the Map state's input."""
    return fields.template(spec.get(fields.ARGUMENTS, {}), f"{field}.{fields.ARGUMENTS}")


class ItemReader:
    FIELDS = frozenset({"Resource", "Parameters", "ReaderConfig", "Arguments"})

    def __init__(self, spec: Any, state: str, fields: StateFields) -> None:
        if not isinstance(spec, dict):
            raise DefinitionError("ItemReader must be an object", state=state, field="ItemReader")
        if ("Parameters" if fields.jsonata else "Arguments") in spec:
            raise DefinitionError(
                "use Parameters in JSONPath states and Arguments in JSONata states",
                state=state,
                field="ItemReader",
            )
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}", state=state, field="ItemReader"
            )
        self.resource = spec.get("Resource")
        if self.resource not in (GET_OBJECT, LIST_OBJECTS):
            raise DefinitionError(
                f"unsupported ItemReader Resource '{self.resource}' (use {GET_OBJECT} or {LIST_OBJECTS})",
                state=state,
                field="ItemReader.Resource",
            )
        self.parameters = _arguments(spec, fields, "ItemReader")
        config = spec.get("ReaderConfig", {})
        if not isinstance(config, dict):
            raise DefinitionError(
                "ReaderConfig must be an object", state=state, field="ItemReader.ReaderConfig"
            )
        self.input_type = config.get("InputType", "JSON" if self.resource == GET_OBJECT else None)
        if self.resource == GET_OBJECT and self.input_type not in (
            "CSV",
            "JSON",
            "JSONL",
            "MANIFEST",
        ):
            raise DefinitionError(
                "ReaderConfig.InputType must be CSV, JSON, JSONL or MANIFEST",
                state=state,
                field="ItemReader.ReaderConfig",
            )
        self.header_location = config.get("CSVHeaderLocation", "FIRST_ROW")
        self.headers = config.get("CSVHeaders")
        if (
            self.input_type == "CSV"
            and self.header_location == "GIVEN"
            and not isinstance(self.headers, list)
        ):
            raise DefinitionError(
                "CSVHeaderLocation GIVEN needs CSVHeaders",
                state=state,
                field="ItemReader.ReaderConfig",
            )
        self.delimiter = _DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ",")
        self.max_items = fields.value("MaxItems", spec=config)
        self.max_items_path = (
            compile_reference(config["MaxItemsPath"]) if "MaxItemsPath" in config else None
        )

    def read(self, ex: Execution, data: Any, frame: Frame) -> list[Any]:
        params = self.parameters(data, frame)
        max_items = self.max_items(data, frame)
        if self.max_items_path is not None:
            max_items = int(resolve_number(self.max_items_path, "MaxItemsPath", data, frame))
        client = _s3(ex, "ItemReader", ITEM_READER_FAILED)
        try:
            if self.resource == LIST_OBJECTS:
                items = self._list(client, params)
            else:
                items = self._get(client, params)
        except StateFailure:
            raise
        except Exception as exc:
            raise StateFailure(
                ITEM_READER_FAILED, f"ItemReader failed to read from S3: {exc}"
            ) from None
        if max_items:
            items = items[: int(max_items)]
        return items

    def _list(self, client: Any, params: dict[str, Any]) -> list[Any]:
        items: list[Any] = []
        kwargs = {
            k: v for k, v in params.items() if k in ("Bucket", "Prefix", "Delimiter", "StartAfter")
        }
        for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
            for obj in page.get("Contents", []):
                modified = obj.get("LastModified")
                items.append(
                    {
                        "Etag": obj.get("ETag"),
                        "Key": obj["Key"],
                        "LastModified": int(modified.timestamp())
                        if isinstance(modified, datetime)
                        else modified,
                        "Size": obj.get("Size"),
                        "StorageClass": obj.get("StorageClass", "STANDARD"),
                    }
                )
        return items

    def _get(self, client: Any, params: dict[str, Any]) -> list[Any]:
        bucket, key = params.get("Bucket"), params.get("Key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise StateFailure(
                ITEM_READER_FAILED, "ItemReader Parameters need Bucket and Key strings"
            )
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig")
        if self.input_type == "JSON":
            try:
                items = json.loads(body)
            except json.JSONDecodeError as exc:
                raise StateFailure(
                    ITEM_READER_FAILED, f"s3://{bucket}/{key} is not valid JSON: {exc}"
                ) from None
            if not isinstance(items, list):
                raise StateFailure(
                    ITEM_READER_FAILED, f"s3://{bucket}/{key} does not contain a JSON array"
                )
            return items
        if self.input_type == "JSONL":
            out = []
            for number, line in enumerate(body.splitlines(), 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise StateFailure(
                            ITEM_READER_FAILED,
                            f"s3://{bucket}/{key} line {number}: invalid JSON: {exc}",
                        ) from None
            return out
        if self.input_type == "MANIFEST":
            out = []
            for row in csv.reader(io.StringIO(body)):
                if len(row) >= 2:
                    out.append({"Bucket": row[0], "Key": row[1]})
            return out
        rows = list(csv.reader(io.StringIO(body), delimiter=self.delimiter))
        if self.header_location == "GIVEN":
            headers = [str(h) for h in self.headers or []]
        else:
            if not rows:
                return []
            headers, rows = rows[0], rows[1:]
        out = []
        for row in rows:
            if not row:
                continue
            if len(row) > len(headers):
                raise StateFailure(
                    ITEM_READER_FAILED,
                    f"s3://{bucket}/{key}: a CSV row has more fields ({len(row)}) than headers ({len(headers)})",
                )
            out.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)})
        return out


class ItemBatcher:
    FIELDS = frozenset(
        {
            "MaxItemsPerBatch",
            "MaxItemsPerBatchPath",
            "MaxInputBytesPerBatch",
            "MaxInputBytesPerBatchPath",
            "BatchInput",
        }
    )

    def __init__(self, spec: Any, state: str, fields: StateFields) -> None:
        if not isinstance(spec, dict):
            raise DefinitionError("ItemBatcher must be an object", state=state, field="ItemBatcher")
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}", state=state, field="ItemBatcher"
            )
        if not any(k in spec for k in self.FIELDS - {"BatchInput"}):
            raise DefinitionError(
                "ItemBatcher needs MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path)",
                state=state,
                field="ItemBatcher",
            )
        self.max_items = fields.value("MaxItemsPerBatch", spec=spec)
        self.max_bytes = fields.value("MaxInputBytesPerBatch", spec=spec)
        self.max_items_path = (
            compile_reference(spec["MaxItemsPerBatchPath"])
            if "MaxItemsPerBatchPath" in spec
            else None
        )
        self.max_bytes_path = (
            compile_reference(spec["MaxInputBytesPerBatchPath"])
            if "MaxInputBytesPerBatchPath" in spec
            else None
        )
        self.batch_input = (
            fields.template(spec["BatchInput"], f"ItemBatcher.BatchInput.{fields.ARGUMENTS}")
            if "BatchInput" in spec
            else None
        )

    def batch(self, items: list[Any], data: Any, frame: Frame) -> list[dict[str, Any]]:
        max_items = self.max_items(data, frame)
        max_bytes = self.max_bytes(data, frame)
        if self.max_items_path is not None:
            max_items = resolve_number(self.max_items_path, "MaxItemsPerBatchPath", data, frame)
        if self.max_bytes_path is not None:
            max_bytes = resolve_number(
                self.max_bytes_path, "MaxInputBytesPerBatchPath", data, frame
            )
        extra = self.batch_input(data, frame) if self.batch_input is not None else None
        if extra is not None and not isinstance(extra, dict):
            raise RuntimeFailure("ItemBatcher BatchInput must be a JSON object")
        max_items = int(max_items) if max_items else None
        max_bytes = int(max_bytes) if max_bytes else None
        # AWS hands each child {"BatchInput": {...}, "Items": [...]}: BatchInput keeps its own
        # key (it is left out when the ItemBatcher has none).
        shell: dict[str, Any] = {} if extra is None else {"BatchInput": extra}
        base_size = len(to_json_string({**shell, "Items": []}).encode())
        batches: list[list[Any]] = []
        current: list[Any] = []
        size = base_size
        for item in items:
            item_size = len(to_json_string(item).encode()) + (1 if current else 0)
            if max_bytes is not None and base_size + item_size > max_bytes:
                raise RuntimeFailure(
                    f"An item of {item_size} bytes exceeds MaxInputBytesPerBatch ({max_bytes})"
                )
            full = (max_items is not None and len(current) >= max_items) or (
                max_bytes is not None and size + item_size > max_bytes
            )
            if current and full:
                batches.append(current)
                current, size = [], base_size
                item_size -= 1
            current.append(item)
            size += item_size
        if current:
            batches.append(current)
        return [{**shell, "Items": b} for b in batches]


class ResultWriter:
    FIELDS = frozenset({"Resource", "Parameters", "WriterConfig", "Arguments"})

    def __init__(self, spec: Any, state: str, fields: StateFields) -> None:
        if not isinstance(spec, dict):
            raise DefinitionError(
                "ResultWriter must be an object", state=state, field="ResultWriter"
            )
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}", state=state, field="ResultWriter"
            )
        if "WriterConfig" in spec:
            raise DefinitionError(
                "ResultWriter WriterConfig (Transformation/OutputType) is not supported yet",
                state=state,
                field="ResultWriter.WriterConfig",
            )
        if spec.get("Resource") != PUT_OBJECT:
            raise DefinitionError(
                f"ResultWriter Resource must be {PUT_OBJECT}",
                state=state,
                field="ResultWriter.Resource",
            )
        self.parameters = _arguments(spec, fields, "ResultWriter")

    def write(
        self,
        ex: Execution,
        data: Any,
        frame: Frame,
        map_run_arn: str,
        records: dict[str, list[dict[str, Any]]],
    ) -> dict[str, Any]:
        params = self.parameters(data, frame)
        bucket = params.get("Bucket") if isinstance(params, dict) else None
        prefix = params.get("Prefix", "") if isinstance(params, dict) else ""
        if not isinstance(bucket, str):
            raise StateFailure(RESULT_WRITER_FAILED, "ResultWriter Parameters need a Bucket string")
        client = _s3(ex, "ResultWriter", RESULT_WRITER_FAILED)
        run_id = map_run_arn.rsplit(":", 1)[-1]
        base = f"{prefix.rstrip('/')}/{run_id}" if prefix else run_id
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        try:
            for status in ("SUCCEEDED", "FAILED", "PENDING"):
                entries = records.get(status) or []
                if not entries:
                    continue
                key = f"{base}/{status}_0.json"
                body = json.dumps(entries).encode()
                client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
                files[status].append({"Key": key, "Size": len(body)})
            manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
            manifest_key = f"{base}/manifest.json"
            client.put_object(
                Bucket=bucket,
                Key=manifest_key,
                Body=json.dumps(manifest).encode(),
                ContentType="application/json",
            )
        except Exception as exc:
            raise StateFailure(
                RESULT_WRITER_FAILED, f"ResultWriter failed to write to s3://{bucket}/{base}: {exc}"
            ) from None
        return {
            "MapRunArn": map_run_arn,
            "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
        }
