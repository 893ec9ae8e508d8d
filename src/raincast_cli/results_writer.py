"""Writing a run's results into its ``--out`` folder: the per-city files of each batch
object, the run's other objects (forecast.csv, summary.json, manifest.json) and the report.

``ResultWriter`` does it in this process. ``ResultWriterProcess`` has the same methods and
does it in a process of its own (``python -m raincast_cli.results_writer``): ``raincast
run``'s process is busy running the local AWS stack (the state machine, the S3 endpoint the
handlers write to), one interpreter lock for all of it, so the JSON and the files of
10,000 cities and the report's plotting go to the machine's other core instead. The
batches are sent as they end, during the run; what is sent is written in order.

The report is drawn by a third process (``ReportProcess``: ``python -m
raincast_cli.results_writer --report``), which imports the report's libraries (matplotlib,
0.6 s) as it starts, at a lower priority, and then waits: when the writer imported them at
the first batch, the batches queued behind that import until the forecast was over (36 of
40 at 1,000 cities), and the run ended with the writer catching up, then drawing. It is
given what the report reads (``RunFiles``) as the execution ends, so that it draws while
the writer is still writing the last batches' files, not after them: the writer's catching
up (0.2-0.4 s in some runs) and the report (0.15-0.35 s) came one after the other, at
1,000 cities.

Frames to the process (stdin): 4-byte big-endian length, then a kind byte and the body:
``B`` a batch object, ``F`` a relative path, NUL, the file's bytes, ``Q`` the copy is done
(body ``1``: remove per-city files not written now), ``R`` write the report (when there is
no report process). ``Q`` and ``R`` are answered with one JSON line on stdout; end of input
ends the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from raincast.pipeline.records import city_document, city_key, read_batch_document, run_prefix
from raincast.sanitize import printable

if TYPE_CHECKING:
    from raincast_cli.report.results import RunFiles

__all__ = [
    "ReportProcess",
    "ResultFolder",
    "ResultWriter",
    "ResultWriterError",
    "ResultWriterProcess",
]

_LENGTH = struct.Struct(">I")
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW


class ResultWriterError(Exception):
    """The results could not be written (a name that would land outside the folder, a
    full disk, the writer process gone)."""


class ResultFolder:
    """Writes files under one folder and refuses anything that would land outside it: a
    name that is absolute or has an empty, ``.`` or ``..`` part, a folder on the way that
    resolves elsewhere (checked once per folder), or a symbolic link in the file's place
    (the file is opened with ``O_NOFOLLOW``). Checking each name lexically keeps a 10,000
    file copy from resolving 10,000 paths."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._root_text = str(root)
        self._resolved_root = root.resolve()
        self._checked: set[str] = set()

    def write(self, relative: str, data: bytes) -> str:
        """Writes ``data`` to ``root/relative`` (creating its folders); returns
        ``relative``."""
        parts = relative.split("/")
        if (
            not relative
            or relative.startswith("/")
            or "\0" in relative
            or any(part in ("", ".", "..") for part in parts)
        ):
            raise ResultWriterError(
                f"refusing to write {printable(relative)!r} outside {self.root}"
            )
        parent = "/".join(parts[:-1])
        if parent and parent not in self._checked:
            directory = self.root / parent
            directory.mkdir(parents=True, exist_ok=True)
            if not directory.resolve().is_relative_to(self._resolved_root):
                raise ResultWriterError(
                    f"refusing to write {printable(relative)!r} outside {self.root}"
                )
            self._checked.add(parent)
        path = os.path.join(self._root_text, relative)
        try:
            fd = os.open(path, _WRITE_FLAGS, 0o666)
        except OSError:
            if os.path.islink(path):
                raise ResultWriterError(
                    f"refusing to write {printable(relative)!r}: a symbolic link is in its place"
                ) from None
            raise
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return relative


class ResultWriter:
    """Writes one run's results into ``out_dir``, in this process. ``close`` does nothing
    (it is there for ``ResultWriterProcess``'s sake)."""

    def __init__(self, out_dir: Path, run_id: str) -> None:
        self.out_dir = out_dir
        self.run_id = run_id
        self._folder: ResultFolder | None = None
        self.written: set[str] = set()
        self._report_files: RunFiles | None = None

    @property
    def folder(self) -> ResultFolder:
        if self._folder is None:
            self._folder = ResultFolder(self.out_dir)
        return self._folder

    def write_batch(self, body: bytes) -> None:
        """A batch object's documents as one ``cities/*.json`` file each (as the per-city
        result layout stores them)."""
        prefix = run_prefix(self.run_id)
        for record in read_batch_document(body):
            key = city_key(self.run_id, int(record["index"]), str(record.get("city") or ""))
            self.written.add(self.folder.write(key.removeprefix(prefix), city_document(record)))

    def write(self, relative: str, data: bytes) -> None:
        self.written.add(self.folder.write(relative, data))

    def start_report(self, files: RunFiles) -> None:
        """Draws the report of ``files`` when ``report`` is called (this process has no
        other to draw it in meanwhile)."""
        self._report_files = files

    def report(self) -> str | None:
        """Writes report.html into the folder, from the files of ``start_report``, else
        from forecast.csv and summary.json in the folder; None, or why it could not."""
        from raincast_cli.report import write_run_report

        files = self._report_files
        try:
            if files is not None:
                self.out_dir.mkdir(parents=True, exist_ok=True)  # not yet written to
            write_run_report(self.out_dir, files=files)
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    def finish(self, remove_stale: bool) -> int:
        """The number of per-city files written; with ``remove_stale``, the per-city files
        in the folder that were not written now (an earlier run's) are removed."""
        copied = 0
        for path in (self.out_dir / "cities").glob("*.json"):
            if f"cities/{path.name}" in self.written:
                copied += 1
            elif remove_stale:
                path.unlink()
        return copied if remove_stale else sum(1 for w in self.written if w.startswith("cities/"))

    def close(self) -> None:
        pass


# The report process's niceness: the lowest, so that its import (matplotlib, 0.6 s of CPU)
# takes only the CPU the run leaves; at 5 it still took a share of the start-up, when the
# main process, the zygote and the first environments import at once (ExecutionStarted at
# 0.87-1.11 s against 0.73-1.04 s at 19, six 1,000-city runs each; the whole run, 10
# rounds: 1.97-2.81 s at 19 against 2.12-2.74 s, the same within the noise). It draws the
# report as the execution ends, beside the writer and the environments' exits.
REPORT_NICENESS = 19


class ReportProcess:
    """Draws a run's report.html in a process of its own, started (and importing the
    report's libraries) ahead of the report. ``start_report`` has it drawn from the files
    given, at once; ``report`` waits for that report, or has it drawn from the folder if
    none was started. In: ``P <summary bytes> <forecast.csv bytes>`` then those bytes and a
    JSON line of the model versions, or a line ``R``; out, for ``R``: one JSON line
    (``report_error``)."""

    def __init__(self, out_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "raincast_cli.results_writer", "--report", str(out_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def start_report(self, files: RunFiles) -> None:
        assert self.process.stdin is not None
        head = f"P {len(files.summary)} {len(files.forecast_csv)}\n".encode("ascii")
        versions = json.dumps(files.model_versions).encode("utf-8") + b"\n"
        # a process that is gone says so to report()
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.process.stdin.write(head + files.summary + files.forecast_csv + versions)
            self.process.stdin.flush()

    def report(self) -> str | None:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(b"R\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            return self._gone()
        line = self.process.stdout.readline()
        if not line:
            return self._gone()
        reason: str | None = json.loads(line).get("report_error")
        return reason

    def _gone(self) -> str:
        return f"the report process ended unexpectedly (exit status {self.process.wait()})"

    def close(self) -> None:
        _end(self.process)


def _end(process: subprocess.Popen[bytes]) -> None:
    """Closes a child's stdin and waits for it to exit (killed after 10 s)."""
    if process.poll() is None:
        if process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def serve_reports(out_dir: Path, requests: IO[bytes], replies: IO[bytes]) -> int:
    """The report process's loop (see ``ReportProcess``)."""
    with contextlib.suppress(OSError):
        os.nice(REPORT_NICENESS)
    writer = ResultWriter(out_dir, "")
    # The libraries now, while the run goes on; one that fails to import fails report(),
    # which then says why.
    with contextlib.suppress(Exception):
        import raincast_cli.report.page  # noqa: F401
    drawn: list[str | None] = []  # the outcome of the report drawn from files, if one was
    for line in requests:
        if line.startswith(b"P "):
            files = _read_report_files(line, requests)
            if files is None:
                return 1
            writer.start_report(files)
            drawn = [writer.report()]
        elif line.strip() == b"R":
            reason = drawn.pop() if drawn else writer.report()
            replies.write(json.dumps({"report_error": reason}).encode("utf-8") + b"\n")
            replies.flush()
    return 0


def _read_report_files(head: bytes, requests: IO[bytes]) -> RunFiles | None:
    """The files that follow a ``P`` line; None at end of input or on a malformed head."""
    from raincast_cli.report.results import RunFiles

    try:
        summary_size, csv_size = (int(part) for part in head.split()[1:3])
    except ValueError:
        return None
    summary, forecast_csv = requests.read(summary_size), requests.read(csv_size)
    versions_line = requests.readline()
    if len(summary) < summary_size or len(forecast_csv) < csv_size or not versions_line:
        return None
    versions = json.loads(versions_line)
    return RunFiles(summary, forecast_csv, [str(v) for v in versions])


class ResultWriterProcess:
    """``ResultWriter``'s methods, carried out by ``python -m raincast_cli.results_writer``
    (see the module docstring). ``write_batch`` and ``write`` return at once; an error is
    raised by the next ``finish`` or ``report``. The report is drawn by a ``ReportProcess``
    started with it (by the writer process itself if that one cannot be started). ``close``
    ends both."""

    def __init__(self, out_dir: Path, run_id: str) -> None:
        self.out_dir = out_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "raincast_cli.results_writer", str(out_dir), run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._reports: ReportProcess | None = None
        with contextlib.suppress(OSError):
            self._reports = ReportProcess(out_dir)

    def _send(self, kind: bytes, body: bytes = b"") -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(_LENGTH.pack(len(body) + 1) + kind + body)
        except (BrokenPipeError, ValueError):
            raise ResultWriterError(self._gone()) from None

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ResultWriterError(self._gone()) from None
        line = self.process.stdout.readline()
        if not line:
            raise ResultWriterError(self._gone())
        reply: dict[str, Any] = json.loads(line)
        if reply.get("error"):
            raise ResultWriterError(reply["error"])
        return reply

    def _gone(self) -> str:
        code = self.process.wait()
        return f"the results writer ended unexpectedly (exit status {code})"

    def write_batch(self, body: bytes) -> None:
        self._send(b"B", body)

    def write(self, relative: str, data: bytes) -> None:
        self._send(b"F", relative.encode("utf-8") + b"\0" + data)

    def start_report(self, files: RunFiles) -> None:
        """Has the report process draw the report of ``files`` now (with no report process,
        ``report`` draws it from the folder)."""
        if self._reports is not None:
            self._reports.start_report(files)

    def report(self) -> str | None:
        if self._reports is not None:
            return self._reports.report()
        self._send(b"R")
        reason: str | None = self._reply().get("report_error")
        return reason

    def finish(self, remove_stale: bool) -> int:
        self._send(b"Q", b"1" if remove_stale else b"0")
        return int(self._reply()["copied"])

    def close(self) -> None:
        """Ends the processes (a writer that is not needed any more: the run failed early)."""
        _end(self.process)
        if self._reports is not None:
            self._reports.close()


def _read_frame(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (length,) = _LENGTH.unpack(head)
    frame = stream.read(length)
    if len(frame) < length:
        return None
    return frame[:1], frame[1:]


def serve(out_dir: Path, run_id: str, requests: IO[bytes], replies: IO[bytes]) -> int:
    """The writer process's loop: frames in, the results written, replies out. The first
    error is kept (later writes are skipped) and answered to the next ``R`` or ``Q``."""
    writer = ResultWriter(out_dir, run_id)
    error: str | None = None

    def answer(document: dict[str, Any]) -> None:
        replies.write(json.dumps(document).encode("utf-8") + b"\n")
        replies.flush()

    while (frame := _read_frame(requests)) is not None:
        kind, body = frame
        try:
            if kind == b"B" and error is None:
                writer.write_batch(body)
            elif kind == b"F" and error is None:
                relative, _, data = body.partition(b"\0")
                writer.write(relative.decode("utf-8"), data)
            elif kind == b"R":
                if error is not None:
                    answer({"error": error})
                else:
                    answer({"report_error": writer.report()})
            elif kind == b"Q":
                if error is not None:
                    answer({"error": error})
                else:
                    answer({"copied": writer.finish(remove_stale=body == b"1")})
        except (ResultWriterError, OSError, ValueError, KeyError) as exc:
            error = error or str(exc) or type(exc).__name__
    return 0


if __name__ == "__main__":
    from raincast_cli.cli import exit_without_teardown

    # Without the interpreter's teardown (matplotlib's modules and the report's figures:
    # a tenth of a second the run would wait for).
    if sys.argv[1] == "--report":
        exit_without_teardown(serve_reports(Path(sys.argv[2]), sys.stdin.buffer, sys.stdout.buffer))
    exit_without_teardown(
        serve(Path(sys.argv[1]), sys.argv[2], sys.stdin.buffer, sys.stdout.buffer)
    )
