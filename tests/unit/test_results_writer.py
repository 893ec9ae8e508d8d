"""Writing a run's results into --out: names that would land outside refused (symbolic
links included), the writer process writing what the in-process writer writes, errors
reaching the caller, and batches copied during the run not copied again unless changed."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from raincast.pipeline.records import RESULT_FIELDS, batch_document, batch_key, city_document
from raincast_cli.commands import run as run_command
from raincast_cli.report.results import RunFiles, load_run_results
from raincast_cli.results_writer import (
    ResultFolder,
    ResultWriter,
    ResultWriterError,
    ResultWriterProcess,
)

RUN = "r1"


def records(first: int, count: int, probability: float = 0.25) -> list[dict[str, Any]]:
    return [
        {"index": i, "city": f"City {i}", "status": "ok", "probability": probability}
        for i in range(first, first + count)
    ]


@pytest.mark.parametrize(
    "name",
    ["../x.json", "/etc/x.json", "cities/../../x.json", "cities//x.json", "", "a/./b", "a\0b"],
)
def test_a_name_that_could_land_outside_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ResultWriterError, match="refusing to write"):
        ResultFolder(tmp_path / "out").write(name, b"x")
    assert not (tmp_path / "x.json").exists()


def test_a_symbolic_link_in_a_files_place_or_on_its_way_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.json"
    victim.write_text("keep me")
    out = tmp_path / "out"
    (out / "cities").mkdir(parents=True)
    (out / "cities" / "00000-x.json").symlink_to(victim)
    with pytest.raises(ResultWriterError, match="symbolic link"):
        ResultFolder(out).write("cities/00000-x.json", b"overwritten")
    assert victim.read_text() == "keep me"
    other = tmp_path / "other"
    other.mkdir()
    (other / "batches").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ResultWriterError, match="outside"):
        ResultFolder(other).write("batches/victim.json", b"overwritten")
    assert victim.read_text() == "keep me"


def test_the_process_writes_what_the_in_process_writer_writes(tmp_path: Path) -> None:
    body = batch_document(records(0, 25))
    outputs = {}
    for name, make in (("here", ResultWriter), ("process", ResultWriterProcess)):
        out = tmp_path / name
        (out / "cities").mkdir(parents=True)
        (out / "cities" / "99999-stale.json").write_text("{}")  # an earlier run's
        writer = make(out, RUN)
        writer.write_batch(body)
        writer.write("forecast.csv", b"city\nCity 0\n")
        assert writer.finish(remove_stale=True) == 25
        writer.close()
        outputs[name] = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert outputs["here"] == outputs["process"]
    files = outputs["process"]
    assert Path("cities/99999-stale.json") not in files
    assert files[Path("cities/00007-city-7.json")] == city_document(records(7, 1)[0])
    assert len([p for p in files if p.parts[0] == "cities"]) == 25


def test_an_error_in_the_process_reaches_the_caller(tmp_path: Path) -> None:
    writer = ResultWriterProcess(tmp_path / "out", RUN)
    writer.write("../escape.csv", b"x")  # returns at once
    writer.write_batch(batch_document(records(0, 2)))  # skipped after the error
    with pytest.raises(ResultWriterError, match="refusing to write"):
        writer.finish(remove_stale=True)
    writer.close()
    assert not (tmp_path / "escape.csv").exists()
    assert not (tmp_path / "out" / "cities").exists()


def test_a_report_that_cannot_be_made_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    writer = ResultWriterProcess(tmp_path / "out", RUN)
    reason = writer.report()  # no forecast.csv
    writer.close()
    assert reason


def test_the_report_is_drawn_by_a_process_of_its_own_and_close_ends_both(tmp_path: Path) -> None:
    writer = ResultWriterProcess(tmp_path / "out", RUN)
    reports = writer._reports
    assert reports is not None and reports.process.pid != writer.process.pid
    assert writer.report()  # no forecast.csv: a reason, from the report process
    writer.close()
    assert writer.process.poll() is not None and reports.process.poll() is not None


def test_a_report_process_that_died_is_a_reason_not_a_hang(tmp_path: Path) -> None:
    writer = ResultWriterProcess(tmp_path / "out", RUN)
    assert writer._reports is not None
    writer._reports.process.kill()
    writer._reports.process.wait()
    assert "report process ended unexpectedly" in (writer.report() or "")
    writer.close()


@pytest.fixture()
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="results")
        yield client


def put_run(s3: Any, batches: dict[str, list[dict[str, Any]]]) -> None:
    objects = [{"key": batch_key(RUN, b), "kind": "batch"} for b in batches]
    for batch_id, rows in batches.items():
        s3.put_object(Bucket="results", Key=batch_key(RUN, batch_id), Body=batch_document(rows))
    s3.put_object(Bucket="results", Key=f"runs/{RUN}/forecast.csv", Body=b"city\n")
    objects.append({"key": f"runs/{RUN}/forecast.csv", "kind": "csv"})
    manifest = json.dumps({"objects": objects}).encode()
    s3.put_object(Bucket="results", Key=f"runs/{RUN}/manifest.json", Body=manifest)


class CountingWriter(ResultWriter):
    """The real in-process writer, counting the batches it is given."""

    def __init__(self, out_dir: Path, run_id: str) -> None:
        super().__init__(out_dir, run_id)
        self.batches = 0

    def write_batch(self, body: bytes) -> None:
        self.batches += 1
        super().write_batch(body)


@pytest.fixture(params=["client", "in-process"])
def result_objects(request: pytest.FixtureRequest) -> Iterator[run_command.ResultObjects]:
    """The run's result bucket read through a boto3 client (moto), or straight from the
    store of an embedded LocalS3 (as ``raincast run`` reads it)."""
    if request.param == "client":
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket="results")
            yield run_command.ResultObjects(client, "results")
        return
    from sfnstack.embedded_s3 import LocalS3

    with LocalS3() as local:
        local.create_buckets(["results"])
        client = local.client()
        # moto keeps one store per process: what another test left there goes first
        for entry in client.list_objects_v2(Bucket="results").get("Contents", []):
            client.delete_object(Bucket="results", Key=entry["Key"])
        yield run_command.ResultObjects(client, "results", local)


def test_batches_copied_during_the_run_are_copied_again_only_if_they_changed(
    result_objects: run_command.ResultObjects, tmp_path: Path
) -> None:
    s3 = result_objects.s3
    put_run(s3, {"00000-00024": records(0, 25), "00025-00049": records(25, 25)})
    writer = CountingWriter(tmp_path / "out", RUN)
    copier = run_command.BatchCopier(
        result_objects, RUN, writer, ["00000-00024", "00025-00049", "00050-00074"]
    )
    copier.start()
    for index in (0, 1, 2, 7):  # 2: no such object yet; 7: no such iteration
        copier.on_iteration(index)
    copier.stop()
    assert writer.batches == 2 and set(copier.copied) == {
        batch_key(RUN, "00000-00024"),
        batch_key(RUN, "00025-00049"),
    }
    # the second batch was written again after it was copied (a retried Store, say)
    changed = records(25, 25, probability=0.75)
    s3.put_object(Bucket="results", Key=batch_key(RUN, "00025-00049"), Body=batch_document(changed))
    copied = run_command.copy_results(s3, "results", RUN, writer, copier.copied, result_objects)
    assert copied == 50
    assert writer.batches == 3  # only the changed one again
    assert (
        json.loads((tmp_path / "out" / "cities" / "00030-city-30.json").read_text()) == changed[5]
    )
    assert (tmp_path / "out" / "forecast.csv").read_bytes() == b"city\n"
    assert sorted(os.listdir(tmp_path / "out" / "cities"))[0] == "00000-city-0.json"


def test_batch_ids_are_the_ids_the_store_step_gives() -> None:
    from raincast.cities import parse_city_list

    cities = parse_city_list(
        b"city\n" + b"".join(f"Town {i}\n".encode() for i in range(60)), "x.csv"
    )
    assert run_command.batch_ids(cities, 25) == ["00000-00024", "00025-00049", "00050-00059"]


def run_files(version: str = "v-files-1") -> RunFiles:
    """A two-city run's summary.json and forecast.csv, as the Summarize step stores them."""
    rows = [
        {"index": 0, "city": "Perth", "place": "Perth", "country": "AU", "lat": -31.95,
         "lon": 115.86, "date": "2016-01-05", "p_rain_tomorrow": 0.81, "rain_tomorrow": "yes",
         "status": "ok"},
        {"index": 1, "city": "Darwin", "place": "Darwin", "country": "AU", "lat": -12.46,
         "lon": 130.84, "date": "2016-01-05", "p_rain_tomorrow": 0.12, "rain_tomorrow": "no",
         "status": "ok"},
    ]  # fmt: skip
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=RESULT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row.get(k, "") for k in RESULT_FIELDS} for row in rows)
    summary = {"run_id": "files-1", "date": "2016-01-05", "completed": True, "total": 2,
               "by_status": {"ok": 2}, "errors_by_reason": {}}  # fmt: skip
    return RunFiles(json.dumps(summary).encode(), table.getvalue().encode(), [version])


@pytest.mark.parametrize("make", [ResultWriter, ResultWriterProcess])
def test_a_report_started_from_files_reads_nothing_from_the_folder(
    tmp_path: Path, make: type[ResultWriter] | type[ResultWriterProcess]
) -> None:
    out = tmp_path / "out"  # no forecast.csv, no summary.json: a report of the folder fails
    writer = make(out, RUN)
    writer.start_report(run_files())
    assert writer.report() is None
    writer.close()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Perth" in html and "Darwin" in html and "v-files-1" in html
    assert not (out / "forecast.csv").exists()


def test_a_report_from_files_is_the_report_of_the_folder_they_are_copied_to(
    tmp_path: Path,
) -> None:
    files = run_files()
    folder = tmp_path / "run"
    (folder / "cities").mkdir(parents=True)
    (folder / "summary.json").write_bytes(files.summary)
    (folder / "forecast.csv").write_bytes(files.forecast_csv)
    document = {"city": "Perth", "status": "ok", "model": {"version": "v-files-1"}}
    (folder / "cities" / "00000-perth.json").write_text(json.dumps(document))
    assert load_run_results(str(folder), files=files) == load_run_results(str(folder))


def test_the_report_of_a_run_is_started_from_its_objects_in_the_bucket(
    result_objects: run_command.ResultObjects, tmp_path: Path
) -> None:
    s3 = result_objects.s3
    files = run_files()
    s3.put_object(Bucket="results", Key=f"runs/{RUN}/summary.json", Body=files.summary)
    s3.put_object(Bucket="results", Key=f"runs/{RUN}/forecast.csv", Body=files.forecast_csv)
    failed = [{"index": i, "city": f"City {i}", "status": "error"} for i in range(25)]
    forecast = [
        {"index": 25 + i, "city": f"City {25 + i}", "status": "ok", "model": {"version": "v9"}}
        for i in range(25)
    ]
    for batch_id, rows in (("00000-00024", failed), ("00025-00049", forecast)):
        s3.put_object(Bucket="results", Key=batch_key(RUN, batch_id), Body=batch_document(rows))

    started: list[RunFiles] = []

    class Recording(ResultWriter):
        def start_report(self, files: RunFiles) -> None:
            started.append(files)

    writer = Recording(tmp_path / "out", RUN)
    run_command.start_report(writer, result_objects, RUN, ["00000-00024", "00025-00049"])
    assert started == [RunFiles(files.summary, files.forecast_csv, ["v9"])]
    # without its forecast.csv, nothing is started: the report of the folder says why
    s3.delete_object(Bucket="results", Key=f"runs/{RUN}/forecast.csv")
    run_command.start_report(writer, result_objects, RUN, ["00000-00024"])
    assert len(started) == 1
