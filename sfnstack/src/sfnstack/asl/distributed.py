"""Distributed Map parts: ItemReader (S3 objects, listings, S3 Inventory and Athena
manifests), ItemBatcher, ResultWriter (WriterConfig transformations, JSON / JSON Lines).

Reading follows AWS's ItemReader documentation: CSV rows follow the documented parsing
rules (a short row gets empty strings, a long row's extra fields are skipped, backslash
escapes), a gzip-compressed object is read decompressed, JSON Lines one value per line,
an S3 Inventory ``manifest.json`` lists the (gzipped) CSV inventory files whose rows,
keyed by the manifest's ``fileSchema``, are the items. Parquet needs a Parquet reader
(pyarrow, a ~40 MB wheel): not a dependency of this stack, so a Parquet dataset fails with
a clear error at run time, while the definition stays valid. Anything else AWS documents
but this module does not do fails with an error naming the field, never quietly.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
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
from .jsonata_mode import QueryEvaluationFailure, is_expression
from .jsonvalue import is_number, to_json_string
from .references import compile_reference

if TYPE_CHECKING:
    from .context import Execution, Frame
    from .language import StateFields

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT = "arn:aws:states:::s3:putObject"
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
_INPUT_TYPES = ("CSV", "JSON", "JSONL", "PARQUET", "MANIFEST")
_READER_CONFIG_FIELDS = frozenset(
    {
        "InputType",
        "Transformation",
        "ManifestType",
        "CSVDelimiter",
        "CSVHeaderLocation",
        "CSVHeaders",
        "MaxItems",
        "MaxItemsPath",
        "ItemsPointer",
    }
)
_GZIP_MAGIC = b"\x1f\x8b"


def s3_action(resource: Any) -> str | None:
    """``getObject`` for ``arn:<partition>:states:::s3:getObject`` and the like, else None."""
    if not isinstance(resource, str):
        return None
    for partition in _PARTITIONS:
        prefix = f"arn:{partition}:states:::s3:"
        if resource.startswith(prefix):
            return resource[len(prefix) :]
    return None


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


def object_items_unsupported(value: Any, where: str) -> str:
    """The message for a Map whose items are a JSON object: AWS iterates its key-value
    pairs, whose iteration input shape this stack does not reproduce (yet)."""
    return (
        f"{where} is a JSON object ({to_json_string(value)[:200]}); AWS runs one iteration "
        "per key-value pair of an object, which sfnstack does not support: give the Map "
        "an array"
    )


def _arguments(spec: dict[str, Any], fields: StateFields, field: str) -> Any:
    """A reader's or writer's ``Parameters`` (JSONPath) or ``Arguments`` (JSONata),
    evaluated against the Map state's input."""
    return fields.template(spec.get(fields.ARGUMENTS, {}), f"{field}.{fields.ARGUMENTS}")


def _check_payload_field(spec: dict[str, Any], state: str, fields: StateFields, name: str) -> None:
    if ("Parameters" if fields.jsonata else "Arguments") in spec:
        raise DefinitionError(
            "use Parameters in JSONPath states and Arguments in JSONata states",
            state=state,
            field=name,
        )


def _json_pointer(document: Any, pointer: str, where: str) -> Any:
    """RFC 6901: ``""`` is the whole document, ``/a/0`` a member then an index."""
    if pointer == "":
        return document
    value = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise StateFailure(
                ITEM_READER_FAILED, f"{where}: ReaderConfig.ItemsPointer '{pointer}' finds nothing"
            )
    return value


def _check_count_literal(
    spec: dict[str, Any], name: str, fields: StateFields, problem: Any
) -> None:
    """A count given as a literal must be a non-negative integer (a JSONata expression is
    checked when evaluated)."""
    if name not in spec:
        return
    value = spec[name]
    if fields.jsonata and is_expression(value):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise problem(f"must be a non-negative integer, not {to_json_string(value)}", name)


def _count_check(field: str) -> Any:
    """A JSONata count's check: a non-negative integer."""

    def check(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not is_number(value) or value != int(value) or value < 0:
            raise QueryEvaluationFailure(
                f"The {field} field must be a non-negative integer, but was {to_json_string(value)}"
            )
        return int(value)

    return check


def _path_field(spec: dict[str, Any], name: str, problem: Any) -> Any:
    """A ``...Path`` field's reference path (None when absent)."""
    if name not in spec:
        return None
    try:
        return compile_reference(spec[name])
    except ValueError as exc:
        raise problem(str(exc), name) from None


def _decompressed(body: bytes) -> bytes:
    return gzip.decompress(body) if body[:2] == _GZIP_MAGIC else body


class ItemReader:
    FIELDS = frozenset({"Resource", "Parameters", "ReaderConfig", "Arguments"})

    def __init__(self, spec: Any, state: str, fields: StateFields) -> None:
        if not isinstance(spec, dict):
            raise DefinitionError("ItemReader must be an object", state=state, field="ItemReader")
        _check_payload_field(spec, state, fields, "ItemReader")
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}", state=state, field="ItemReader"
            )
        self.action = s3_action(spec.get("Resource"))
        if self.action not in ("getObject", "listObjectsV2"):
            raise DefinitionError(
                f"unsupported ItemReader Resource '{spec.get('Resource')}' (use {GET_OBJECT} or {LIST_OBJECTS})",
                state=state,
                field="ItemReader.Resource",
            )
        self.parameters = _arguments(spec, fields, "ItemReader")
        config = spec.get("ReaderConfig", {})
        if not isinstance(config, dict):
            raise DefinitionError(
                "ReaderConfig must be an object", state=state, field="ItemReader.ReaderConfig"
            )

        def problem(message: str, name: str) -> DefinitionError:
            return DefinitionError(message, state=state, field=f"ItemReader.ReaderConfig.{name}")

        unknown = set(config) - _READER_CONFIG_FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}", state=state, field="ItemReader.ReaderConfig"
            )
        listing = self.action == "listObjectsV2"
        self.transformation = config.get("Transformation", "NONE")
        if self.transformation not in ("NONE", "LOAD_AND_FLATTEN"):
            raise problem("must be NONE or LOAD_AND_FLATTEN", "Transformation")
        self.load_and_flatten = self.transformation == "LOAD_AND_FLATTEN"
        if self.load_and_flatten and not listing:
            raise problem(f"LOAD_AND_FLATTEN needs Resource {LIST_OBJECTS}", "Transformation")
        self.manifest_type = config.get("ManifestType")
        input_type = config.get("InputType")
        if input_type is not None and input_type not in _INPUT_TYPES:
            raise problem(f"must be one of {', '.join(_INPUT_TYPES)}", "InputType")
        if self.manifest_type is not None:
            if listing:
                raise problem(f"needs Resource {GET_OBJECT}", "ManifestType")
            if self.manifest_type == "S3_INVENTORY":
                if input_type not in (None, "MANIFEST", "CSV"):
                    raise problem("an S3_INVENTORY manifest lists CSV files", "InputType")
                input_type = "MANIFEST"
            elif self.manifest_type == "ATHENA_DATA":
                if input_type not in ("CSV", "JSONL", "PARQUET"):
                    raise problem("ATHENA_DATA needs InputType CSV, JSONL or PARQUET", "InputType")
            else:
                raise problem("must be S3_INVENTORY or ATHENA_DATA", "ManifestType")
        elif input_type == "MANIFEST":
            self.manifest_type = "S3_INVENTORY"
        if self.load_and_flatten and input_type in (None, "MANIFEST"):
            raise problem(
                "LOAD_AND_FLATTEN needs InputType CSV, JSON, JSONL or PARQUET", "InputType"
            )
        if listing and not self.load_and_flatten:
            input_type = None  # a listing's items are the objects' metadata
        elif input_type is None:
            input_type = "JSON"
        # The format of the data: the object's, or the files an Athena manifest or a
        # LOAD_AND_FLATTEN listing names (None: a listing's metadata; MANIFEST: inventory).
        self.input_type = input_type
        self.pointer = config.get("ItemsPointer")
        if self.pointer is not None:
            if self.input_type != "JSON":
                raise problem("needs InputType JSON", "ItemsPointer")
            if not isinstance(self.pointer, str) or not (
                self.pointer == "" or self.pointer.startswith("/")
            ):
                raise problem("must be a JSON Pointer ('' or '/a/b')", "ItemsPointer")
        self.header_location = config.get("CSVHeaderLocation", "FIRST_ROW")
        if self.header_location not in ("FIRST_ROW", "GIVEN"):
            raise problem("must be FIRST_ROW or GIVEN", "CSVHeaderLocation")
        self.headers = config.get("CSVHeaders")
        headers_given = (
            isinstance(self.headers, list)
            and bool(self.headers)
            and all(isinstance(h, str) for h in self.headers)
        )
        if self.header_location == "GIVEN" and self.input_type == "CSV" and not headers_given:
            raise problem("CSVHeaderLocation GIVEN needs CSVHeaders (strings)", "CSVHeaders")
        delimiter = config.get("CSVDelimiter", "COMMA")
        if not isinstance(delimiter, str) or delimiter not in _DELIMITERS:
            raise problem(f"must be one of {', '.join(_DELIMITERS)}", "CSVDelimiter")
        self.delimiter = _DELIMITERS[delimiter]
        _check_count_literal(config, "MaxItems", fields, problem)
        self.max_items = fields.value("MaxItems", spec=config, check=_count_check("MaxItems"))
        self.max_items_path = _path_field(config, "MaxItemsPath", problem)

    def read(self, ex: Execution, data: Any, frame: Frame) -> list[Any]:
        params = self.parameters(data, frame)
        max_items = self.max_items(data, frame)
        if self.max_items_path is not None:
            max_items = int(resolve_number(self.max_items_path, "MaxItemsPath", data, frame))
        client = _s3(ex, "ItemReader", ITEM_READER_FAILED)
        if not isinstance(params, dict):
            raise StateFailure(ITEM_READER_FAILED, "ItemReader Parameters must be an object")
        try:
            items = self._items(client, params)
        except StateFailure:
            raise
        except Exception as exc:
            raise StateFailure(
                ITEM_READER_FAILED, f"ItemReader failed to read from S3: {exc}"
            ) from None
        if max_items:
            items = items[: int(max_items)]
        return items

    def _items(self, client: Any, params: dict[str, Any]) -> list[Any]:
        if self.action == "listObjectsV2":
            listing = self._list(client, params)
            if not self.load_and_flatten:
                return listing
            bucket = params["Bucket"]
            items: list[Any] = []
            for entry in listing:
                if entry["Key"].endswith("/") and entry["Size"] == 0:
                    continue  # a "folder" marker holds no data
                items.extend(self._data_file(client, bucket, entry["Key"]))
            return items
        bucket, key = params.get("Bucket"), params.get("Key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise StateFailure(
                ITEM_READER_FAILED, "ItemReader Parameters need Bucket and Key strings"
            )
        version = params.get("VersionId")
        if self.manifest_type == "S3_INVENTORY":
            return self._inventory(client, bucket, key, version)
        if self.manifest_type == "ATHENA_DATA":
            return self._athena(client, bucket, key, version)
        return self._data_file(client, bucket, key, version)

    @staticmethod
    def _body(client: Any, bucket: str, key: str, version: Any = None) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if isinstance(version, str) and version:
            kwargs["VersionId"] = version
        return _decompressed(client.get_object(**kwargs)["Body"].read())

    def _text(self, client: Any, bucket: str, key: str, version: Any = None) -> str:
        try:
            return self._body(client, bucket, key, version).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise StateFailure(
                ITEM_READER_FAILED, f"s3://{bucket}/{key} is not UTF-8 text"
            ) from None

    def _data_file(self, client: Any, bucket: str, key: str, version: Any = None) -> list[Any]:
        """The items of one data file, read as ReaderConfig.InputType says."""
        where = f"s3://{bucket}/{key}"
        if self.input_type == "PARQUET":
            raise StateFailure(
                ITEM_READER_FAILED,
                f"{where}: ReaderConfig.InputType PARQUET is not supported by sfnstack "
                "(it has no Parquet reader); use CSV, JSON or JSONL locally",
            )
        text = self._text(client, bucket, key, version)
        if self.input_type == "JSON":
            return self._json(text, where)
        if self.input_type == "JSONL":
            return self._jsonl(text, where)
        headers = [str(h) for h in self.headers or []] if self.header_location == "GIVEN" else None
        return self._csv(text, where, headers)

    def _json(self, text: str, where: str) -> list[Any]:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateFailure(ITEM_READER_FAILED, f"{where} is not valid JSON: {exc}") from None
        if self.pointer is not None:
            document = _json_pointer(document, self.pointer, where)
            where = f"{where} at ItemsPointer '{self.pointer}'"
        if isinstance(document, dict):
            raise StateFailure(ITEM_READER_FAILED, object_items_unsupported(document, where))
        if not isinstance(document, list):
            raise StateFailure(ITEM_READER_FAILED, f"{where} does not contain a JSON array")
        return document

    @staticmethod
    def _jsonl(text: str, where: str) -> list[Any]:
        # Each line is decoded on its own, so each line's object would get its own copies
        # of the key strings: 10,000 objects of 8 keys held 4 MB of repeated keys.
        keys: dict[str, str] = {}
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    item = json.loads(line)
                    if type(item) is dict:
                        item = {keys.setdefault(k, k): v for k, v in item.items()}
                    out.append(item)
                except json.JSONDecodeError as exc:
                    raise StateFailure(
                        ITEM_READER_FAILED, f"{where} line {number}: invalid JSON: {exc}"
                    ) from None
        return out

    def _csv(self, text: str, where: str, headers: list[str] | None) -> list[dict[str, str]]:
        # AWS's rules: quoted fields may hold delimiters and newlines, "" is a quote, a
        # backslash escapes the next character; a short row gets empty strings, a long
        # row's extra fields are skipped.
        rows = csv.reader(
            io.StringIO(text), delimiter=self.delimiter, escapechar="\\", doublequote=True
        )
        return _rows_as_items(rows, headers, where)

    def _inventory(self, client: Any, bucket: str, key: str, version: Any) -> list[Any]:
        """An S3 Inventory manifest.json: its CSV files' rows, keyed by its fileSchema."""
        where = f"s3://{bucket}/{key}"
        try:
            manifest = json.loads(self._text(client, bucket, key, version))
        except json.JSONDecodeError as exc:
            raise StateFailure(
                ITEM_READER_FAILED, f"{where} is not an S3 Inventory manifest.json: {exc}"
            ) from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
            raise StateFailure(
                ITEM_READER_FAILED, f"{where} is not an S3 Inventory manifest.json (no files list)"
            )
        file_format = manifest.get("fileFormat", "CSV")
        if file_format != "CSV":
            raise StateFailure(
                ITEM_READER_FAILED,
                f"{where}: inventory fileFormat {file_format} is not supported (Step Functions "
                "reads CSV inventories)",
            )
        schema = manifest.get("fileSchema")
        if not isinstance(schema, str) or not schema.strip():
            raise StateFailure(ITEM_READER_FAILED, f"{where}: the manifest has no fileSchema")
        headers = [name.strip() for name in schema.split(",")]
        destination = manifest.get("destinationBucket") or bucket
        data_bucket = str(destination).rsplit(":", 1)[-1]  # arn:aws:s3:::name -> name
        items: list[Any] = []
        for entry in manifest["files"]:
            file_key = entry.get("key") if isinstance(entry, dict) else None
            if not isinstance(file_key, str):
                raise StateFailure(ITEM_READER_FAILED, f"{where}: a files entry has no key")
            text = self._text(client, data_bucket, file_key)
            rows = csv.reader(io.StringIO(text))
            items.extend(_rows_as_items(rows, headers, f"s3://{data_bucket}/{file_key}"))
        return items

    def _athena(self, client: Any, bucket: str, key: str, version: Any) -> list[Any]:
        """An Athena UNLOAD manifest: one s3:// URI of a data file per line."""
        where = f"s3://{bucket}/{key}"
        if self.input_type == "CSV" and self.header_location != "GIVEN":
            raise StateFailure(
                ITEM_READER_FAILED,
                f"{where}: ATHENA_DATA with InputType CSV needs CSVHeaderLocation GIVEN in "
                "sfnstack (Athena's UNLOAD writes no header row)",
            )
        items: list[Any] = []
        for number, line in enumerate(self._text(client, bucket, key, version).splitlines(), 1):
            uri = line.strip().strip('"')
            if not uri:
                continue
            if not uri.startswith("s3://") or "/" not in uri[5:]:
                raise StateFailure(
                    ITEM_READER_FAILED, f"{where} line {number}: not an s3:// URI: {uri[:200]}"
                )
            data_bucket, data_key = uri[5:].split("/", 1)
            items.extend(self._data_file(client, data_bucket, data_key))
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


def _rows_as_items(rows: Any, headers: list[str] | None, where: str) -> list[dict[str, str]]:
    """CSV rows as objects keyed by ``headers`` (None: the first row is the header)."""
    out: list[dict[str, str]] = []
    for row in rows:
        if not row:
            continue  # a blank line
        if headers is None:
            headers = row
            continue
        if not out and len(set(headers)) < len(headers):
            raise StateFailure(
                ITEM_READER_FAILED, f"{where}: CSV headers cannot contain duplicates"
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

        def problem(message: str, name: str) -> DefinitionError:
            return DefinitionError(message, state=state, field=f"ItemBatcher.{name}")

        for name in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            _check_count_literal(spec, name, fields, problem)
        self.max_items = fields.value(
            "MaxItemsPerBatch", spec=spec, check=_count_check("MaxItemsPerBatch")
        )
        self.max_bytes = fields.value(
            "MaxInputBytesPerBatch", spec=spec, check=_count_check("MaxInputBytesPerBatch")
        )
        self.max_items_path = _path_field(spec, "MaxItemsPerBatchPath", problem)
        self.max_bytes_path = _path_field(spec, "MaxInputBytesPerBatchPath", problem)
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


class OutputText(str):
    """A child execution's output, kept as its JSON text (compact, as a record's
    ``Output``) from the moment the child ends until the map run's results are exported:
    decoded, the outputs of a 10,000-item map run held about four times their text's
    size until its end."""

    __slots__ = ()

    def value(self) -> Any:
        return json.loads(self)


def output_value(output: Any) -> Any:
    """The decoded output, whether it was kept as text (``OutputText``) or not."""
    return output.value() if isinstance(output, OutputText) else output


class ResultWriter:
    """Where and how a map run's child results go: ``WriterConfig`` alone transforms the
    state's output; ``Resource`` + ``Parameters`` (``Arguments``) export the results to
    S3 (a manifest and one file per status), transformed when ``WriterConfig`` says so."""

    FIELDS = frozenset({"Resource", "Parameters", "WriterConfig", "Arguments"})
    CONFIG_FIELDS = frozenset({"Transformation", "OutputType"})

    def __init__(self, spec: Any, state: str, fields: StateFields) -> None:
        if not isinstance(spec, dict):
            raise DefinitionError(
                "ResultWriter must be an object", state=state, field="ResultWriter"
            )
        _check_payload_field(spec, state, fields, "ResultWriter")
        unknown = set(spec) - self.FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}", state=state, field="ResultWriter"
            )
        self.exports = "Resource" in spec
        if not self.exports and "WriterConfig" not in spec:
            raise DefinitionError(
                "ResultWriter needs WriterConfig, or Resource and "
                f"{fields.ARGUMENTS}, or all three",
                state=state,
                field="ResultWriter",
            )
        if self.exports and s3_action(spec["Resource"]) != "putObject":
            raise DefinitionError(
                f"ResultWriter Resource must be {PUT_OBJECT}",
                state=state,
                field="ResultWriter.Resource",
            )
        if self.exports != (fields.ARGUMENTS in spec):
            raise DefinitionError(
                f"Resource and {fields.ARGUMENTS} go together",
                state=state,
                field="ResultWriter",
            )
        config = spec.get("WriterConfig", {})
        if not isinstance(config, dict):
            raise DefinitionError(
                "WriterConfig must be an object", state=state, field="ResultWriter.WriterConfig"
            )
        unknown = set(config) - self.CONFIG_FIELDS
        if unknown:
            raise DefinitionError(
                f"unknown field(s) {sorted(unknown)}",
                state=state,
                field="ResultWriter.WriterConfig",
            )
        # NONE (records with metadata) is the default of an export, COMPACT (the outputs)
        # of a Map without ResultWriter.
        self.transformation = config.get("Transformation", "NONE" if self.exports else "COMPACT")
        if self.transformation not in ("NONE", "COMPACT", "FLATTEN"):
            raise DefinitionError(
                "must be NONE, COMPACT or FLATTEN",
                state=state,
                field="ResultWriter.WriterConfig.Transformation",
            )
        self.output_type = config.get("OutputType", "JSON")
        if self.output_type not in ("JSON", "JSONL"):
            raise DefinitionError(
                "must be JSON or JSONL",
                state=state,
                field="ResultWriter.WriterConfig.OutputType",
            )
        self.parameters = _arguments(spec, fields, "ResultWriter")

    def transform(self, records: list[dict[str, Any]], outputs: list[Any]) -> list[Any]:
        """The results as Transformation says. A child that did not succeed keeps its
        record (AWS: "the results would be equivalent to Transformation NONE")."""
        if self.transformation == "NONE":
            return list(records)
        out: list[Any] = []
        for record, kept in zip(records, outputs, strict=True):
            output = output_value(kept)
            if record["Status"] != "SUCCEEDED":
                out.append(record)
            elif self.transformation == "FLATTEN" and isinstance(output, list):
                out.extend(output)
            else:
                out.append(output)
        return out

    def write(
        self,
        ex: Execution,
        data: Any,
        frame: Frame,
        map_run_arn: str,
        records: list[dict[str, Any]],
        outputs: list[Any],
    ) -> Any:
        """The Map's result: the transformed results, or (exported) where they went.
        ``records``: one per item in item order; ``outputs``: the children's outputs
        (an exported run's kept as ``OutputText``)."""
        if not self.exports:
            return self.transform(records, outputs)
        params = self.parameters(data, frame)
        bucket = params.get("Bucket") if isinstance(params, dict) else None
        prefix = params.get("Prefix", "") if isinstance(params, dict) else ""
        if not isinstance(bucket, str):
            raise StateFailure(RESULT_WRITER_FAILED, "ResultWriter Parameters need a Bucket string")
        if not isinstance(prefix, str):
            raise StateFailure(RESULT_WRITER_FAILED, "ResultWriter Prefix must be a string")
        client = _s3(ex, "ResultWriter", RESULT_WRITER_FAILED)
        run_id = map_run_arn.rsplit(":", 1)[-1]
        base = f"{prefix.rstrip('/')}/{run_id}" if prefix else run_id
        by_status: dict[str, tuple[list[dict[str, Any]], list[Any]]] = {
            status: ([], []) for status in ("SUCCEEDED", "FAILED", "PENDING")
        }
        for record, output in zip(records, outputs, strict=True):
            group = by_status[record["Status"]]
            group[0].append(record)
            group[1].append(output)
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        jsonl = self.output_type == "JSONL"
        try:
            for status in ("SUCCEEDED", "FAILED", "PENDING"):
                status_records, status_outputs = by_status[status]
                if not status_records:
                    continue
                entries = self.transform(status_records, status_outputs)
                key = f"{base}/{status}_0.{'jsonl' if jsonl else 'json'}"
                if jsonl:
                    body = "".join(to_json_string(e) + "\n" for e in entries).encode()
                else:
                    body = json.dumps(entries).encode()
                client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/jsonl" if jsonl else "application/json",
                )
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
