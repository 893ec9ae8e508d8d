"""``raincast run CITIES``: forecast a city list through the real state machine, locally.

The list is checked first (a bad file stops here with a clear message), then the local
runtime starts on template.yaml: the list goes into the local input bucket, the
ForecastStateMachine runs the real handlers in worker processes, progress shows on stderr,
and the results (forecast.csv, summary.json, manifest.json, one JSON per city) are copied
from the local results bucket into ``--out``. Exit 0 when the run completed, even with
per-city errors; 1 when the run itself failed; 2 for bad arguments or a bad list.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import os
import queue
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from raincast.cities import CityList, CityListError, parse_city_list, read_city_list, slugify
from raincast.pipeline.prepare import check_date_available
from raincast.pipeline.records import (
    AUTO_RECALIBRATE_CITIES,
    GEOCODERS,
    RECALIBRATIONS,
    WEATHER_SOURCES,
    InvalidRequest,
    batch_id_for,
    batch_key,
    csv_key,
    run_prefix,
    summary_key,
    validate_date,
    validate_run_id,
)
from raincast.sanitize import printable
from raincast_cli.results_writer import ResultWriter, ResultWriterError, ResultWriterProcess

if TYPE_CHECKING:
    from sfnstack.lambdas.pool import Zygote

STATE_MACHINE = "ForecastStateMachine"
INPUT_BUCKET = "InputBucket"
RESULTS_BUCKET = "ResultsBucket"
# Environment for the local Lambda workers: no X-Ray daemon here, metrics go to the log.
LOCAL_ENV = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Raincast"}
# The libraries the handlers import (the shared layer's requirements, and boto3): imported
# once by the runtime's zygote, so each Lambda environment of a run starts without
# importing them again (sfnstack.lambdas.pool; the handlers' own modules stay fresh).
PRELOAD = (
    "boto3",
    "numpy",
    "requests",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.utilities.validation",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "cities",
        metavar="CITIES",
        help="city list: CSV with a 'city' column (optional country, lat, lon; separated by "
        "commas, semicolons or tabs), text with one city per line, or a JSON array; - for stdin",
    )
    parser.add_argument(
        "--date",
        help="the day whose observations are used, YYYY-MM-DD (the forecast is for the day "
        "after); default: the last day of the offline data, or today for --weather open-meteo",
    )
    parser.add_argument("--weather", choices=WEATHER_SOURCES, default="replay",
                        help="weather source (default: replay, offline)")  # fmt: skip
    parser.add_argument("--geocoder", choices=GEOCODERS, default="geonames",
                        help="geocoder (default: geonames, offline)")  # fmt: skip
    parser.add_argument(
        "--recalibrate",
        choices=RECALIBRATIONS,
        default="auto",
        help="shift each place's forecasts by the model's error over its past year, from a "
        "weather source that keeps history (open-meteo's archive: about 31 of its API calls "
        "per place); auto (default): for lists of at most "
        f"{AUTO_RECALIBRATE_CITIES} cities",
    )
    parser.add_argument(
        "--out", type=Path, help="where to write the results (default: out/<run id>)"
    )
    parser.add_argument("--workers", type=int, help="Lambda worker processes (default: CPU count)")
    parser.add_argument("--run-id", help="name the run (re-running an id overwrites its results)")
    parser.add_argument("--template", type=Path, help="template.yaml (default: the project's)")


@dataclass(frozen=True)
class RunInput:
    """What ``raincast run`` was asked to do, checked: the execution input, the parsed list
    and the exact bytes that were parsed (uploaded as they are)."""

    request: dict[str, Any]
    cities: CityList
    data: bytes
    filename: str  # the name the list is uploaded under (a safe S3 key part)
    run_id: str


def run(args: argparse.Namespace) -> int:
    from sfnstack.lambdas.pool import start_zygote

    # The zygote imports the handlers' libraries (0.3-0.45 s) while the list and the
    # template are read and checked and the runtime is imported: the environments, which
    # it forks, had been the last thing a run's first batches waited for.
    zygote = start_zygote(PRELOAD)
    prepared = None
    try:
        prepared = _checked(args)
    finally:
        if prepared is None and zygote is not None:  # refused, or raised: no run to give it
            zygote.close()
    if prepared is None:
        return 2
    given, template, out_dir = prepared
    return execute(
        given.request,
        given.cities,
        given.data,
        given.filename,
        template,
        out_dir,
        args.workers,
        zygote=zygote,
    )


def _checked(args: argparse.Namespace) -> tuple[RunInput, Path, Path] | None:
    """The run's input, template and results folder, checked; None (the reason printed)
    when one is refused."""
    try:
        given = _request(args)
        template = Path(args.template) if args.template else find_template()
        check_template(template)
    except (CityListError, InvalidRequest, FileNotFoundError) as exc:
        print(f"raincast run: error: {printable(str(exc))}", file=sys.stderr)
        return None
    out_dir = Path(args.out) if args.out else Path("out") / given.run_id
    try:
        check_writable(out_dir)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        print(
            f"raincast run: error: cannot write the results to {printable(str(out_dir))}: "
            f"{printable(reason)}",
            file=sys.stderr,
        )
        return None
    return given, template, out_dir


def check_writable(out_dir: Path) -> None:
    """Makes ``out_dir`` (and its parents) and writes and removes a file in it, so a folder
    the results cannot go to is refused before the run, not after it (OSError)."""
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".raincast-write-check-"):
        pass


def _request(args: argparse.Namespace) -> RunInput:
    data, name = read_city_list(args.cities)
    cities = parse_city_list(data, name)
    if args.workers is not None and args.workers < 1:
        raise InvalidRequest("--workers must be at least 1")
    if args.geocoder == "locationiq" and not os.environ.get("LOCATIONIQ_API_KEY"):
        raise InvalidRequest(
            "--geocoder locationiq needs your key in the LOCATIONIQ_API_KEY variable"
        )
    run_id = args.run_id or default_run_id(name)
    request: dict[str, Any] = {
        "run_id": validate_run_id(run_id),
        "weather": args.weather,
        "geocoder": args.geocoder,
        "trigger": "cli",
        "recalibrate": args.recalibrate,
    }
    if args.date:
        request["date"] = validate_date(args.date)
        check_date_available(args.weather, request["date"])
    return RunInput(request, cities, data, upload_name(name), run_id)


def upload_name(name: str) -> str:
    """The list's name as an S3 key part: a slug of the stem plus the extension (the
    Prepare step reads the format from it), "stdin" for ``<stdin>``."""
    path = Path(name)
    suffix = path.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", path.suffix.lower()) else ""
    stem = path.stem if suffix else path.name
    return slugify(stem.strip("<>"), max_length=60) + suffix


def default_run_id(path: str | Path) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{slugify(Path(path).stem, max_length=40)}-{stamp}"


def find_template() -> Path:
    """template.yaml of the project: the current directory or a parent, else the one next
    to the installed source tree (an editable install)."""
    here = Path.cwd().resolve()
    candidates = [d / "template.yaml" for d in (here, *here.parents)]
    candidates.append(Path(__file__).resolve().parents[3] / "template.yaml")
    for candidate in candidates:
        if candidate.is_file() and STATE_MACHINE in candidate.read_text(encoding="utf-8"):
            return candidate
    raise FileNotFoundError("no template.yaml with a ForecastStateMachine found: use --template")


# What the run needs from the template, by logical id and resource type.
REQUIRED_RESOURCES = {
    STATE_MACHINE: ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"),
    INPUT_BUCKET: ("AWS::S3::Bucket",),
    RESULTS_BUCKET: ("AWS::S3::Bucket",),
}


def check_template(path: Path) -> None:
    """Refuses (InvalidRequest, one line) a template that cannot be read or lacks what the run
    needs, before anything starts."""
    from sfnstack.template import TemplateError, load_template

    try:
        resources = load_template(path).resources
    except TemplateError as exc:
        # One line: a YAML error spans several (where, what, where again).
        raise InvalidRequest(f"--template: {' '.join(str(exc).split())}") from None
    missing = [
        f"{logical_id} ({kinds[0]})"
        for logical_id, kinds in REQUIRED_RESOURCES.items()
        if resources.get(logical_id, {}).get("Type") not in kinds
    ]
    if missing:
        raise InvalidRequest(
            f"--template {path}: no {', '.join(missing)}: raincast run needs raincast's template"
        )


def execute(
    request: dict[str, Any],
    cities: CityList,
    data: bytes,
    filename: str,
    template: Path,
    out_dir: Path,
    workers: int | None,
    stream: TextIO | None = None,
    runtime: Any = None,
    zygote: Zygote | None = None,
) -> int:
    """Runs the list through the state machine and writes the results to ``out_dir``,
    whatever the outcome. ``runtime``: a ``LocalRuntime`` to use (the caller closes it);
    default: one on ``template``, forking its environments from ``zygote`` if given
    (``start_zygote(PRELOAD)``; closed here in any case)."""
    from sfnstack.local import LocalRuntime

    if runtime is not None and zygote is not None:
        zygote.close()
        zygote = None

    err = stream or sys.stderr
    run_id = request["run_id"]
    print(
        f"raincast: run {run_id}: {len(cities)} cities from {cities.source} "
        f"({len(cities.invalid_rows)} bad rows), weather={request['weather']}, "
        f"geocoder={request['geocoder']}",
        file=err,
    )
    started = time.monotonic()
    owned = runtime is None
    if runtime is None:
        # A batch: a warm environment soon free beats a cold start (see LambdaPool).
        try:
            runtime = LocalRuntime(
                template,
                workers=workers,
                env_overrides={"*": LOCAL_ENV},
                wait_for_warm=True,
                preload=PRELOAD,
                zygote=zygote,
            )
        except BaseException:
            if zygote is not None:
                zygote.close()
            raise
        # Every function of the template is a step of the run, in the template's order
        # (Prepare first): their environments start now, while the list is uploaded and
        # prepared, not as the first batch reaches each step.
        runtime.lambdas.prewarm(list(runtime.functions))
    closing: threading.Thread | None = None
    writer = start_writer(out_dir, run_id)
    copier: BatchCopier | None = None
    try:
        try:
            s3 = runtime.s3_client()
            input_bucket = runtime.buckets[INPUT_BUCKET]
            results_bucket = runtime.buckets[RESULTS_BUCKET]
            key = f"lists/{run_id}/{filename}"
            s3.put_object(Bucket=input_bucket, Key=key, Body=data)
            size = batch_size(runtime)
            objects = ResultObjects(s3, results_bucket, runtime.s3)
            copier = BatchCopier(objects, run_id, writer, batch_ids(cities, size))
            progress = Progress(len(cities), size, err, on_iteration=copier.on_iteration)
            execution = runtime.start_execution(
                STATE_MACHINE,
                {**request, "bucket": input_bucket, "key": key},
                name=f"{run_id[:60]}-{uuid.uuid4().hex[:8]}",
                listener=progress.on_event,
            )
            copier.start()
            result = execution.wait()
            if result.status == "SUCCEEDED":
                # drawn while the last batches' files are written
                start_report(writer, objects, run_id, copier.batch_ids)
            copier.stop()
            progress.finish()
            if owned:  # no more invocations: the environments exit while results are copied
                closing = threading.Thread(target=runtime.lambdas.close, name="raincast-close")
                closing.start()
            try:
                summary, copied = save_results(
                    s3, results_bucket, run_id, out_dir, result, err, writer, copier.copied, objects
                )
            except ResultWriterError as exc:
                print(
                    f"raincast run: error: the results could not be written to "
                    f"{printable(str(out_dir))}: {printable(str(exc))}",
                    file=err,
                )
                return 1
        finally:
            if copier is not None:
                copier.stop()
            if owned:
                if closing is not None:
                    closing.join()
                runtime.close()
        csv_path = out_dir / "forecast.csv"
        report = False
        if csv_path.exists():
            report = _write_report(writer, err)
            with csv_path.open(encoding="utf-8", newline="") as table:
                print(format_table(csv.DictReader(table), rest_in=str(csv_path)))
    finally:
        writer.close()
    names = ("forecast.csv", "summary.json", "manifest.json")
    files = ", ".join(name for name in names if (out_dir / name).exists())
    print(
        f"\n{_outcome_line(summary)} in {time.monotonic() - started:.1f} s.\n"
        f"Results: {out_dir}/ ({files}, {copied} files in cities/"
        f"{', report.html' if report else ''})",
    )
    if result.status != "SUCCEEDED":
        print(f"raincast: run {run_id} {result.status}: {printable(str(result.error))}", file=err)
        if result.cause:
            print(f"  {printable(_cause(result.cause))}", file=err)
        print(f"raincast: what the run had is in {out_dir}/", file=err)
        return 1
    return 0


def start_writer(out_dir: Path, run_id: str) -> ResultWriter | ResultWriterProcess:
    """The results writer of a run: a process of its own, or this process if none can be
    started."""
    try:
        return ResultWriterProcess(out_dir, run_id)
    except OSError:
        return ResultWriter(out_dir, run_id)


VERSION_BATCHES = 8


def start_report(
    writer: ResultWriter | ResultWriterProcess,
    objects: ResultObjects,
    run_id: str,
    batch_ids: list[str],
) -> None:
    """Has the writer's report drawn from the run's summary.json and forecast.csv as they
    are in the results bucket, the model version from the first forecast city of its first
    ``VERSION_BATCHES`` batches (200 cities: the folder's first 200 city files are looked
    at for it). Nothing when either file is missing: the report is then drawn from the
    folder, and says what is missing."""
    from raincast_cli.report.results import RunFiles, batch_model_versions

    summary, table = objects.get(summary_key(run_id)), objects.get(csv_key(run_id))
    if summary is None or table is None:
        return
    versions: list[str] = []
    for batch_id in batch_ids[:VERSION_BATCHES]:
        got = objects.get(batch_key(run_id, batch_id))
        if got is not None and (versions := batch_model_versions(got[0])):
            break
    writer.start_report(RunFiles(summary[0], table[0], versions))


def _write_report(writer: ResultWriter | ResultWriterProcess, err: TextIO) -> bool:
    """report.html next to forecast.csv. The results are already written, so a report that
    cannot be made is a warning, not a failed run."""
    reason = writer.report()
    if reason is not None:
        print(f"raincast run: warning: no report.html: {printable(reason)}", file=err)
        return False
    return True


def save_results(
    s3: Any,
    bucket: str,
    run_id: str,
    out_dir: Path,
    result: Any,
    err: TextIO,
    writer: ResultWriter | ResultWriterProcess,
    copied_early: dict[str, str] | None = None,
    objects: ResultObjects | None = None,
) -> tuple[dict[str, Any], int]:
    """Writes the run's results to ``out_dir`` and returns its summary and the number of
    per-city files. A failed run that could not write its summary (the Summarize step
    failed, say) is summarized here, from the Prepare step's output in the history; if even
    that fails, the per-city results are copied as they are with a summary of the failure."""
    manifest_key = f"{run_prefix(run_id)}manifest.json"
    if result.status != "SUCCEEDED" and not _exists(s3, bucket, manifest_key):
        try:
            _summarize_failed_run(s3, bucket, result)
        except Exception as exc:  # the summary's own bug: keep what there is
            print(f"raincast: could not summarize the failed run: {printable(str(exc))}", file=err)
    if _exists(s3, bucket, manifest_key):
        copied = copy_results(s3, bucket, run_id, writer, copied_early, objects)
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        return summary, copied
    copied = copy_city_objects(s3, bucket, run_id, writer)
    summary = {
        "run_id": run_id,
        "completed": False,
        "total": copied,
        "by_status": {},
        "errors_by_reason": {},
        "error": f"{result.status}: {result.error}: {_cause(result.cause or '')}"[:500],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary, copied


def _summarize_failed_run(s3: Any, bucket: str, result: Any) -> None:
    from raincast.pipeline.summary import summarize_run

    prepared = None
    for event in result.history:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Prepare":
            prepared = json.loads(details.get("output") or "null")
    if not (isinstance(prepared, dict) and prepared.get("ok")):
        raise RuntimeError("the run failed before its city list was ready")
    failure = {"Error": result.error or result.status, "Cause": result.cause}
    summarize_run({**prepared, "map_error": failure}, s3, bucket)


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception:  # botocore ClientError 404
        return False
    return True


def batch_size(runtime: Any) -> int:
    definition = runtime.state_machine(STATE_MACHINE).definition
    batcher = definition["States"]["ForecastCities"].get("ItemBatcher") or {}
    return int(batcher.get("MaxItemsPerBatch", 1))


def copy_results(
    s3: Any,
    bucket: str,
    run_id: str,
    writer: ResultWriter | ResultWriterProcess,
    copied_early: dict[str, str] | None = None,
    objects: ResultObjects | None = None,
) -> int:
    """Copies what the run's manifest lists into the writer's folder, a batch object's
    documents as one ``cities/*.json`` file per city (as the per-city layout stores
    them); removes per-city files there that the manifest does not list (an earlier run
    into the same folder). A batch in ``copied_early`` (``BatchCopier``: key -> ETag)
    whose object has not changed since (by ``objects``, default: through ``s3``) is not
    copied again."""
    prefix = run_prefix(run_id)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")["Body"].read())
    objects = objects or ResultObjects(s3, bucket)
    current = objects.etags(run_id, list(copied_early)) if copied_early else {}
    for entry in manifest["objects"]:
        if entry["kind"] == "input":
            continue
        early = (copied_early or {}).get(entry["key"])
        if entry["kind"] == "batch" and early is not None and current.get(entry["key"]) == early:
            continue
        body = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
        if entry["kind"] == "batch":
            writer.write_batch(body)
        else:
            writer.write(entry["key"].removeprefix(prefix), body)
    return writer.finish(remove_stale=True)


def copy_city_objects(
    s3: Any, bucket: str, run_id: str, writer: ResultWriter | ResultWriterProcess
) -> int:
    """Copies every per-city result of the run into the writer's ``cities/`` (no
    manifest): per-city objects as they are, batch objects as one file per city."""
    prefix = run_prefix(run_id)
    for subfolder in ("cities/", "batches/"):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + subfolder
        )
        for entry in (e for page in pages for e in page.get("Contents", [])):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            if subfolder == "batches/":
                writer.write_batch(body)
                continue
            name = entry["Key"].removeprefix(prefix + subfolder)
            if "/" in name:
                raise ResultWriterError(f"refusing to write {printable(name)!r} outside cities/")
            writer.write(f"cities/{name}", body)
    return writer.finish(remove_stale=False)


class ResultObjects:
    """How ``raincast run`` reads the run's result objects back: through ``s3`` (a boto3
    client), or, when ``local`` (the runtime's ``LocalS3``) is an embedded endpoint, from
    its store in this process (``LocalS3.read_object``), which skips a client's request
    per object: there are hundreds of batch objects in a large run."""

    def __init__(self, s3: Any, bucket: str, local: Any = None) -> None:
        self.s3, self.bucket = s3, bucket
        self._local = local if local is not None and local.embedded else None

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it is not there."""
        if self._local is not None:
            found: tuple[bytes, str] | None = self._local.read_object(self.bucket, key)
            return found
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception:  # botocore ClientError NoSuchKey
            return None
        return got["Body"].read(), got["ETag"]

    def etags(self, run_id: str, keys: list[str]) -> dict[str, str]:
        """The ETags of those of ``keys`` (the run's batch objects) that are there now."""
        if self._local is not None:
            found = ((key, self._local.object_etag(self.bucket, key)) for key in keys)
            return {key: etag for key, etag in found if etag is not None}
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{run_prefix(run_id)}batches/"
        )
        return {entry["Key"]: entry["ETag"] for page in pages for entry in page.get("Contents", [])}


class BatchCopier:
    """Hands the run's batch objects to the results writer as the Map's iterations end, so
    that when the execution ends only the last batches are left to copy. ``on_iteration``
    (a ``Progress`` listener) is told the index of each iteration that ended;
    ``batch_ids`` names the batch each index is (the list's rows cut as the ItemBatcher
    cuts them, named as the Store step names them). What it handed over is in ``copied``
    (key -> ETag), which ``copy_results`` checks against the objects' final ETags; a batch
    it could not fetch (not there, or named otherwise) is left for ``copy_results``."""

    def __init__(
        self,
        objects: ResultObjects,
        run_id: str,
        writer: ResultWriter | ResultWriterProcess,
        batch_ids: list[str],
    ) -> None:
        self.objects, self.run_id = objects, run_id
        self.writer = writer
        self.batch_ids = batch_ids
        self.copied: dict[str, str] = {}
        self._ended: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="raincast-copy", daemon=True)

    def on_iteration(self, index: int) -> None:
        self._ended.put(index)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops once the iterations already told of are handed over (the queue is
        drained first; what ends later is left for ``copy_results``)."""
        self._ended.put(None)
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while (index := self._ended.get()) is not None:
            if not 0 <= index < len(self.batch_ids):
                continue
            key = batch_key(self.run_id, self.batch_ids[index])
            got = self.objects.get(key)
            if got is None:  # not there (named otherwise): copy_results copies it
                continue
            body, etag = got
            try:
                self.writer.write_batch(body)
            except ResultWriterError:  # the writer is gone: finish() says so
                return
            self.copied[key] = etag


def batch_ids(cities: CityList, batch_size: int) -> list[str]:
    """The ids of the batches the Map cuts the list into, by iteration index."""
    items = cities.to_items()
    size = max(1, batch_size)
    return [batch_id_for(items[i : i + size]) for i in range(0, len(items), size)]


class Progress:
    """Cities done / total, from the execution's history events (the Map's iterations are
    batches of ``batch_size`` cities, in order)."""

    def __init__(
        self,
        total: int,
        batch_size: int,
        stream: TextIO,
        on_iteration: Callable[[int], None] | None = None,
    ) -> None:
        self.total = total
        self.on_iteration = on_iteration  # told each ended iteration's index
        self.batch_size = max(1, batch_size)
        self.stream = stream
        self.done = 0
        self.failed_batches = 0
        self.tty = stream.isatty()
        self._lock = threading.Lock()
        self._last_print = 0.0
        self._last_line = ""

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        if kind in ("MapIterationSucceeded", "MapIterationFailed"):
            details = event.get(
                "mapIterationSucceededEventDetails" if kind.endswith("Succeeded") else "mapIterationFailedEventDetails"
            ) or {}  # fmt: skip
            index = int(details.get("index", 0))
            cities = max(0, min(self.batch_size, self.total - index * self.batch_size))
            with self._lock:
                self.done += cities
                self.failed_batches += kind.endswith("Failed")
            if self.on_iteration is not None:
                self.on_iteration(index)
            self._show(f"forecasting: {self.done}/{self.total} cities")
        elif kind == "TaskStateEntered" or kind.endswith("StateEntered"):
            name = (event.get("stateEnteredEventDetails") or {}).get("name")
            label = {"Prepare": "checking the city list", "ForecastCities": "forecasting",
                     "Summarize": "writing the summary"}.get(name or "")  # fmt: skip
            if label:
                self._show(f"{label}: {self.done}/{self.total} cities", force=True)

    def _show(self, line: str, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if line == self._last_line or (
                not force
                and not self.tty
                and now - self._last_print < 1.0
                and self.done < self.total
            ):
                return
            self._last_print, self._last_line = now, line
            if self.tty:
                self.stream.write(f"\r\033[K{line}")
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._last_line:
            self.stream.write("\n")
            self.stream.flush()


# The table printed after a run stops here: a terminal is no place for 10,000 lines, and
# forecast.csv (named under the table) has every row.
TABLE_ROWS = 100


def format_table(
    rows: Iterable[dict[str, str]], rest_in: str | None = None, limit: int = TABLE_ROWS
) -> str:
    """The table printed after a run (cells made ``printable``): the first ``limit`` rows,
    then, when there are more, a line saying how many and that ``rest_in`` has them all.
    The rows past ``limit`` are only counted, so a reader over forecast.csv is never held
    whole."""
    header = ("city", "place found", "date", "P(rain tomorrow)", "rain tomorrow")
    remaining = iter(rows)
    lines = []
    for raw in itertools.islice(remaining, limit):
        # Every cell came from the list or a provider: nothing reaches the terminal raw.
        row = {k: printable(v) if isinstance(v, str) else v for k, v in raw.items()}
        place = ", ".join(p for p in (row.get("place"), row.get("country")) if p) or "-"
        if row.get("status") == "ok":
            probability = f"{float(row['p_rain_tomorrow']):.2f}"
            lines.append((row["city"], place, row["date"], probability, row["rain_tomorrow"]))
        else:
            lines.append(
                (
                    row["city"] or "(empty)",
                    place,
                    row["date"],
                    "-",
                    f"error: {_clip(row['reason'], 120)}",
                )
            )
    widths = [
        max(len(h), *(len(_clip(r[i])) for r in lines)) if lines else len(h)
        for i, h in enumerate(header[:-1])
    ]

    def fmt(cells: tuple[str, ...]) -> str:
        return (
            "  ".join(
                _clip(c).ljust(w) if i != 3 else _clip(c).rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=False))
            )
            + "  "
            + cells[-1]
        )

    table = [fmt(header), *(fmt(line) for line in lines)]
    more = sum(1 for _ in remaining)
    if more:
        where = f": every row is in {printable(rest_in)}" if rest_in else ""
        table.append(f"... and {more:,} more cities{where}")
    return "\n".join(table)


def _clip(text: str, width: int = 32) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _outcome_line(summary: dict[str, Any]) -> str:
    by_status = summary.get("by_status", {})
    reasons = ", ".join(f"{k}: {v}" for k, v in summary.get("errors_by_reason", {}).items())
    errors = sum(v for k, v in by_status.items() if k != "ok")
    line = f"{summary.get('total', 0)} cities: {by_status.get('ok', 0)} forecast, {errors} errors"
    return f"{line} ({reasons})" if reasons else line


def _cause(cause: str) -> str:
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return f"{parsed.get('errorType', 'Error')}: {parsed['errorMessage']}"
    return cause
