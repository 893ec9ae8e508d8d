"""Hot reload for ``sfnstack serve``: a function whose code changed (a file under its
CodeUri, or under one of its layers) gets fresh execution environments for its next
invocation, as after a ``sam build`` and deploy; no restart.

Detection is a scan of file sizes and modification times, once a second, by one daemon
thread. That thread only stats files and sets a per-function flag: it runs no execution
work and touches no pool state, so the one concurrency model (the hub of
``sfnstack.cooperative``, on each execution's thread) is undisturbed, and the invocations'
hot path only reads the flag (a set lookup). The next invocation of a flagged function
retires its idle environments (``LambdaPool.retire``) on the invoking thread; environments
busy at that moment finish their invocation and are retired at a later invocation, once
idle. (A filesystem watcher library would save the scan but needs inotify or polling
anyway, and the directories are small; ``__pycache__``, hidden directories and
``node_modules`` are skipped, and a directory of more than ``MAX_FILES`` files is not
watched, said once in the log.)"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("sfnstack.serve")

__all__ = ["CodeWatcher"]

SCAN_SECONDS = 1.0
MAX_FILES = 20_000
_SKIPPED_DIRS = {"__pycache__", "node_modules"}

Fingerprint = tuple[int, int, int]  # files, newest mtime (ns), total size


def fingerprint(root: Path) -> Fingerprint | None:
    """What changes when a file under ``root`` is added, removed or rewritten; None when
    there are more than MAX_FILES files (not watched)."""
    files = newest = size = 0
    for directory, subdirs, names in os.walk(root, followlinks=True):
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        for name in names:
            if name.endswith((".pyc", ".pyo")):
                continue
            try:
                stat = os.stat(os.path.join(directory, name))
            except OSError:  # removed while scanning: the next scan sees it
                continue
            files += 1
            newest = max(newest, stat.st_mtime_ns)
            size += stat.st_size
            if files > MAX_FILES:
                return None
    return files, newest, size


class CodeWatcher:
    """Watches the code directories of ``functions`` (LocalFunction by logical id) and
    retires the changed ones' environments in ``pool`` at their next invocation
    (``before_invoke``)."""

    def __init__(
        self, functions: dict[str, Any], pool: Any, interval: float = SCAN_SECONDS
    ) -> None:
        self.pool = pool
        self.interval = interval
        self._roots: dict[Path, set[str]] = {}  # directory -> logical ids using it
        for logical_id, function in functions.items():
            if getattr(function, "keep_caller_path", False) or function.unsupported:
                continue  # a --function callable's code is the caller's own tree
            for root in (function.code_dir, *function.layers):
                self._roots.setdefault(Path(root), set()).add(logical_id)
        self._seen: dict[Path, Fingerprint | None] = {}
        for root in self._roots:
            self._seen[root] = fingerprint(root)
            if self._seen[root] is None:
                log.warning("hot reload: %s has over %d files, not watched", root, MAX_FILES)
        self._changed: set[str] = set()  # set by the scanning thread
        self._busy: dict[str, list[Any]] = {}  # environments still running the old code
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sfnstack-hot-reload", daemon=True)

    def start(self) -> CodeWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scan()
            except Exception:  # never let a scan end hot reload for the session
                log.exception("hot reload: scanning failed")

    def scan(self) -> set[str]:
        """One scan: flags (and returns) the functions whose code changed since the last."""
        changed: set[str] = set()
        for root, users in self._roots.items():
            before = self._seen.get(root)
            if before is None:
                continue
            now = fingerprint(root)
            if now is not None and now != before:
                self._seen[root] = now
                changed |= users
        if changed:
            log.info("code changed: %s (fresh environments from the next invocation)",
                     ", ".join(sorted(changed)))  # fmt: skip
            with self._lock:
                self._changed |= changed
        return changed

    def before_invoke(self, function: str) -> None:
        """Called before each invocation (the runtime's ``before_invoke``): retire the
        environments of a changed function."""
        if not self._changed and not self._busy:
            return  # the usual case: nothing changed
        try:
            logical_id = self.pool.lookup(function).logical_id
        except Exception:
            return  # an unknown function: the invocation itself says so
        with self._lock:
            changed = logical_id in self._changed
            self._changed.discard(logical_id)
            stale = self._busy.pop(logical_id, None)
        if not changed and stale is None:
            return
        busy = self.pool.retire(logical_id, None if changed else stale)
        if busy:
            with self._lock:
                self._busy[logical_id] = busy

    @property
    def watched(self) -> Iterable[Path]:
        return [root for root, seen in self._seen.items() if seen is not None]
