"""Execution history: events in the shape of AWS GetExecutionHistory.

Event ids are always allocated (state errors quote "entered at the event id #N"); the event
dicts are only built when someone wants them (recorded history or a listener), so large
Map runs stay cheap when nobody looks.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .jsonvalue import to_json_string

_log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


class Track:
    """One sequential thread of events (the execution, a branch, a Map iteration): knows
    the id of its last event so the next one can name it as ``previousEventId``."""

    __slots__ = ("last_id",)

    def __init__(self, last_id: int = 0) -> None:
        self.last_id = last_id


class History:
    def __init__(self, *, record: bool, listener: Listener | None) -> None:
        self.events: list[dict[str, Any]] = []
        self.record = record
        self.listener = listener
        self.wanted = record or listener is not None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        track: Track,
        event_type: str,
        details_key: str | None = None,
        details: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    ) -> int:
        """Append an event; ``details`` may be a callable so it is built only if wanted
        (and outside the lock, so concurrent branches do not serialize on JSON encoding)."""
        if not self.wanted:
            with self._lock:
                event_id = next(self._ids)
            track.last_id = event_id
            return event_id
        built = details() if callable(details) else details
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
                self.events.append(event)
        track.last_id = event_id
        if self.listener is not None:
            try:
                self.listener(event)
            except Exception:  # a broken progress display must not fail the execution
                _log.exception("history listener failed on %s event", event_type)
        return event_id


def data_details(key: str, value: Any) -> dict[str, Any]:
    """``{"input": "<json>", "inputDetails": {"truncated": false}}`` and the like."""
    return {key: to_json_string(value), f"{key}Details": {"truncated": False}}
