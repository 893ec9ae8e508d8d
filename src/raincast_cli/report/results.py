"""Reading a run's results for a report: from a local folder (what ``raincast run`` copies
into ``--out``) or from ``s3://<results bucket>/runs/<run id>/`` through boto3 (on AWS, or
any endpoint in ``AWS_ENDPOINT_URL``, such as ``raincast serve``'s).

Or from those objects in hand (``RunFiles``: ``raincast run`` has them as its execution
ends and draws the report while the per-city files are still being written).

A report needs ``forecast.csv`` and ``summary.json``; the model version comes from one
forecast city's record when the run has them (``cities/`` locally, the manifest's city
or batch objects on S3). Only those few objects are read, so a report of a 10,000-city run on S3
costs three or four GETs.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A bucket name as S3 allows it (3-63 lowercase letters, digits, '.', '-').
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_OBJECT_BYTES = 64 * 1024 * 1024


class ReportInputError(ValueError):
    """The results cannot be read (not a run folder, missing objects, bad S3 URL)."""


@dataclass
class RunResults:
    location: str  # what the user named: a folder or an s3:// URL
    summary: dict[str, Any]
    forecast_csv: str  # forecast.csv's text; ``rows()`` reads it
    model_versions: list[str] = field(default_factory=list)  # as recorded by the run

    def rows(self) -> Iterator[dict[str, str]]:
        """forecast.csv's rows, read as they are asked for: a report of 10,000 cities held
        them all as dicts (9.7 MB) beside what it draws from them."""
        return csv.DictReader(io.StringIO(self.forecast_csv))


@dataclass(frozen=True)
class RunFiles:
    """What a report reads of a run, in hand: ``summary.json`` and ``forecast.csv`` as
    stored, and the model versions its city records name."""

    summary: bytes
    forecast_csv: bytes
    model_versions: list[str] = field(default_factory=list)


def is_s3_url(location: str) -> bool:
    return location.startswith("s3://")


def load_run_results(
    location: str, s3_client: Any = None, files: RunFiles | None = None
) -> RunResults:
    """The results of the run in folder or S3 prefix ``location``; with ``files``, those
    (``location`` then only names the run's folder in the report)."""
    reader: _DirReader | _S3Reader | _FilesReader
    if files is not None:
        reader = _FilesReader(location, files)
    elif is_s3_url(location):
        reader = _S3Reader(location, s3_client)
    else:
        reader = _DirReader(location)
    summary = _json(reader, "summary.json")
    if not isinstance(summary, dict):
        raise ReportInputError(f"{reader.describe('summary.json')} is not a JSON object")
    text = _text(reader, "forecast.csv")
    columns = csv.DictReader(io.StringIO(text)).fieldnames
    if columns is not None and "p_rain_tomorrow" not in columns:
        raise ReportInputError(f"{reader.describe('forecast.csv')} has no p_rain_tomorrow column")
    return RunResults(location, summary, text, reader.model_versions())


def _text(reader: _DirReader | _S3Reader | _FilesReader, name: str) -> str:
    data = reader.read(name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReportInputError(f"{reader.describe(name)} is not UTF-8 text") from None


def _json(reader: _DirReader | _S3Reader | _FilesReader, name: str) -> Any:
    try:
        return json.loads(_text(reader, name))
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{reader.describe(name)} is not JSON ({exc.msg})") from None


def _versions(documents: list[Any]) -> list[str]:
    versions = []
    for doc in documents:
        model = doc.get("model") if isinstance(doc, dict) else None
        version = model.get("version") if isinstance(model, dict) else None
        if version and str(version) not in versions:
            versions.append(str(version))
    return versions


def batch_model_versions(body: bytes) -> list[str]:
    """The model version of a batch object's first forecast city (JSON Lines), if any."""
    try:
        lines = body.decode("utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except ValueError:  # not UTF-8 or not JSON
        return []
    ok = [r for r in records if isinstance(r, dict) and r.get("status") == "ok"]
    return _versions(ok[:1])


class _FilesReader:
    def __init__(self, location: str, files: RunFiles) -> None:
        self.location = location
        self.files = {"summary.json": files.summary, "forecast.csv": files.forecast_csv}
        self.versions = list(files.model_versions)

    def describe(self, name: str) -> str:
        return f"{self.location}/{name}"

    def read(self, name: str) -> bytes:
        return self.files[name]

    def model_versions(self) -> list[str]:
        return self.versions


class _DirReader:
    def __init__(self, location: str) -> None:
        self.root = Path(location)
        if not self.root.is_dir():
            raise ReportInputError(f"{location}: no such folder")
        if not (self.root / "forecast.csv").is_file():
            raise ReportInputError(
                f"{location}: no forecast.csv here (give the folder of a raincast run or backtest)"
            )

    def describe(self, name: str) -> str:
        return str(self.root / name)

    def read(self, name: str) -> bytes:
        path = self.root / name
        try:
            if path.stat().st_size > MAX_OBJECT_BYTES:
                raise ReportInputError(f"{path}: larger than {MAX_OBJECT_BYTES // 2**20} MB")
            return path.read_bytes()
        except FileNotFoundError:
            raise ReportInputError(
                f"{path}: missing (not a complete raincast run folder)"
            ) from None

    def model_versions(self) -> list[str]:
        docs = []
        try:
            names = [n for n in os.listdir(self.root / "cities") if n.endswith(".json")]
        except OSError:
            names = []
        # the first 200 by name, without sorting (or making a Path of) all 10,000
        for name in heapq.nsmallest(200, names):
            path = self.root / "cities" / name
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("status") == "ok":
                docs.append(doc)
                break
        return _versions(docs)


class _S3Reader:
    def __init__(self, url: str, client: Any) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not _BUCKET.match(bucket):
            raise ReportInputError(f"{url}: {bucket!r} is not an S3 bucket name")
        prefix = prefix.strip("/")
        if not prefix:
            raise ReportInputError(f"{url}: give the run's prefix, s3://BUCKET/runs/RUN_ID/")
        self.url, self.bucket, self.prefix = url, bucket, prefix + "/"
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.s3 = client

    def describe(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"

    def read(self, name: str) -> bytes:
        return self._get(self.prefix + name)

    def _get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{key}"
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            if int(response.get("ContentLength") or 0) > MAX_OBJECT_BYTES:
                raise ReportInputError(f"{where}: larger than {MAX_OBJECT_BYTES // 2**20} MB")
            return response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise ReportInputError(
                    f"{where}: no such object (is this a run's prefix?)"
                ) from None
            if code == "NoSuchBucket":
                raise ReportInputError(f"s3://{self.bucket}: no such bucket") from None
            message = exc.response.get("Error", {}).get("Message") or code
            raise ReportInputError(f"{where}: {code}: {message}") from None
        except BotoCoreError as exc:
            raise ReportInputError(f"{where}: {exc}") from None

    def model_versions(self) -> list[str]:
        try:
            manifest = json.loads(self.read("manifest.json"))
        except (ReportInputError, ValueError):
            return []
        objects = manifest.get("objects") if isinstance(manifest, dict) else None
        for entry in objects or []:
            key = entry.get("key") if isinstance(entry, dict) else None
            if not isinstance(key, str) or not key.startswith(self.prefix):
                continue
            if entry.get("kind") == "city" and entry.get("status") == "ok":
                try:
                    return _versions([json.loads(self._get(key))])
                except (ReportInputError, ValueError):
                    return []
            if entry.get("kind") == "batch":  # the default layout: a batch's documents
                try:
                    versions = batch_model_versions(self._get(key))
                except ReportInputError:
                    return []
                if versions:
                    return versions
        return []
