"""Execution history: events in the shape of AWS GetExecutionHistory.

Event ids are always allocated (state errors quote "entered at the event id #N"); the event
dicts are only built when someone wants them, so large Map runs stay cheap when nobody
looks: at once for a listener, and for a recorded history only when it is read (state data
is never changed in place, so details built later are the details of that moment).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .jsonvalue import to_json_string

_log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]
Details = dict[str, Any] | Callable[[], dict[str, Any]] | None
# details(history, a, b): event details built from arguments, without a closure per event.
Builder = Callable[["History", Any, Any], dict[str, Any]]
_NO_ARGUMENTS: Any = object()
_FIELDS = 8  # values per deferred event in History._pending
_REMEMBERED_TEXTS = 64  # enough for the states in flight across a Map's iterations


class Track:
    """One sequence of events (the execution, a branch, a Map iteration): knows
    the id of its last event so the next one can name it as ``previousEventId``."""

    __slots__ = ("last_id",)

    def __init__(self, last_id: int = 0) -> None:
        self.last_id = last_id


class History:
    def __init__(self, *, record: bool, listener: Listener | None) -> None:
        self._built: list[dict[str, Any]] = []
        # Recorded without a listener: _FIELDS values per event, flat (time, type, id,
        # previous id, details key, details, a, b), built into events when read. Flat, and
        # with builder arguments rather than closures, so a large Map's deferred events are
        # not tens of thousands of objects for the garbage collector to traverse.
        self._pending: list[Any] = []
        self.record = record
        self.listener = listener
        self.wanted = record or listener is not None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._texts: dict[int, tuple[Any, str]] = {}
        self._within_limit: dict[int, Any] = {}

    def json(self, value: Any) -> str:
        """``to_json_string(value)``, remembered for recent objects. State data is never
        changed in place (every step copies what it changes), and a state's input, its
        task's payload and its output are often one object, encoded for several events and
        for the size check: each is encoded once."""
        if type(value) is not dict and type(value) is not list:
            return to_json_string(value)
        key = id(value)
        hit = self._texts.get(key)
        if hit is not None and hit[0] is value:  # the stored reference keeps the id unique
            return hit[1]
        text = to_json_string(value)
        if len(self._texts) >= _REMEMBERED_TEXTS:
            self._texts.clear()
        self._texts[key] = (value, text)
        return text

    def note_within_limit(self, value: Any) -> None:
        """``value`` is known to encode within the state data limit (a task result decoded
        from UTF-8 JSON text that was checked and is never shorter than the compact
        encoding), so the state's size check need not encode it."""
        if len(self._within_limit) >= _REMEMBERED_TEXTS:
            self._within_limit.clear()
        self._within_limit[id(value)] = value  # the reference keeps the id unique

    def within_limit(self, value: Any) -> bool:
        return self._within_limit.get(id(value)) is value

    def data(self, key: str, value: Any) -> dict[str, Any]:
        """``{"input": "<json>", "inputDetails": {"truncated": false}}`` and the like."""
        return {key: self.json(value), f"{key}Details": {"truncated": False}}

    def add(
        self,
        track: Track,
        event_type: str,
        details_key: str | None = None,
        # Details or a Builder; spelled Callable[...] so mypy can type the lambdas passed
        details: dict[str, Any] | Callable[..., dict[str, Any]] | None = None,
        a: Any = _NO_ARGUMENTS,
        b: Any = None,
    ) -> int:
        """Append an event. ``details`` may be a callable so it is built only if wanted:
        called with no arguments, or as ``details(history, a, b)`` when ``a`` is given.
        Events come from the greenlets of the execution's hub, which never switch between
        taking an id and appending, so they are appended in id order; the lock is for
        readers on other threads (``events``)."""
        if not self.wanted:
            event_id = track.last_id = next(self._ids)
            return event_id
        if self.listener is None:
            event_id = next(self._ids)
            self._pending.extend(
                (time.time(), event_type, event_id, track.last_id, details_key, details, a, b)
            )
            track.last_id = event_id
            return event_id
        built = self._build(details, a, b)
        with self._lock:
            event_id = next(self._ids)
            event: dict[str, Any] = {
                "timestamp": datetime.now(UTC),
                "type": event_type,
                "id": event_id,
                "previousEventId": track.last_id,
            }
            if details_key is not None:
                event[details_key] = built if built is not None else {}
            if self.record:
                self._built.append(event)
        track.last_id = event_id
        if self.listener is not None:
            try:
                self.listener(event)
            except Exception:  # a broken progress display must not fail the execution
                _log.exception("history listener failed on %s event", event_type)
        return event_id

    def _build(self, details: Any, a: Any, b: Any) -> dict[str, Any] | None:
        if not callable(details):
            return details
        return details() if a is _NO_ARGUMENTS else details(self, a, b)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The recorded events, in order (built now if they were deferred)."""
        with self._lock:
            pending, self._pending = self._pending, []
        records = [pending[i : i + _FIELDS] for i in range(0, len(pending), _FIELDS)]
        for when, event_type, event_id, previous_id, details_key, details, a, b in records:
            event: dict[str, Any] = {
                "timestamp": datetime.fromtimestamp(when, UTC),
                "type": event_type,
                "id": event_id,
                "previousEventId": previous_id,
            }
            if details_key is not None:
                built = self._build(details, a, b)
                event[details_key] = built if built is not None else {}
            self._built.append(event)
        return self._built
