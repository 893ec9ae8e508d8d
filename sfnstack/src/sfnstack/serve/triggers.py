"""The two event-driven triggers: the EventBridge bus that S3 "Object Created" events go
to (rules from the template, deduplicated by object), and the schedules."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sfnstack.serve.eventbridge import matches_pattern
from sfnstack.serve.schedule import RateSchedule, Schedule, parse_schedule
from sfnstack.serve.store import DataDir
from sfnstack.serve.template_triggers import RuleTrigger, ScheduleTrigger

log = logging.getLogger("sfnstack.serve")

__all__ = ["EventBus", "Scheduler"]

# start(state_machine_logical_id, input_text, trigger_description)
StartFn = Callable[[str, str, str], Any]


class EventBus:
    """Delivers events to the matching rules' state-machine targets. One S3 change (an
    object's version id in a versioned bucket, else the event's sequencer, which S3 makes
    unique per change of a key) is delivered at most once, across restarts; uploading the
    same content again is a new change and starts a new execution, as on AWS."""

    def __init__(self, rules: list[RuleTrigger], data: DataDir, start: StartFn) -> None:
        self.rules = rules
        self.data = data
        self.start = start
        self._open = True

    def close(self) -> None:
        self._open = False

    def put_event(self, event: dict[str, Any]) -> int:
        """Returns how many executions the event started."""
        if not self._open:
            log.warning("event dropped (shutting down): %s", event.get("detail-type"))
            return 0
        matching = [rule for rule in self.rules if matches_pattern(rule.pattern, event)]
        if not matching:
            return 0
        detail = event.get("detail") or {}
        if event.get("source") == "aws.s3":
            bucket = (detail.get("bucket") or {}).get("name", "")
            obj = detail.get("object") or {}
            key = obj.get("key", "")
            change = (
                f"version {obj['version-id']}"
                if obj.get("version-id")
                else f"sequencer {obj.get('sequencer') or obj.get('etag', '')}"
            )
            if not self.data.claim_delivery(bucket, key, change):
                log.info("s3://%s/%s (%s) already delivered: no new execution", bucket, key, change)
                return 0
            what = f"s3 s3://{bucket}/{key}"
        else:
            what = f"event {event.get('source')} {event.get('detail-type')}"
        started = 0
        for rule in matching:
            try:
                input_text = rule.target_input.render(event)
                self.start(rule.state_machine_id, input_text, f"{what} (rule {rule.rule_id})")
                started += 1
            except Exception as exc:  # a failed delivery is logged; the upload itself stands
                log.error("rule %s could not start an execution: %s", rule.rule_id, exc)
        return started


class Scheduler:
    """Fires each schedule's target at its expression's times, on a background thread."""

    def __init__(
        self,
        schedules: list[ScheduleTrigger],
        start: StartFn,
        expression_override: str | None = None,
    ) -> None:
        self.entries: list[tuple[ScheduleTrigger, Schedule]] = []
        for trigger in schedules:
            expression = expression_override or trigger.expression
            self.entries.append((trigger, parse_schedule(expression, trigger.timezone)))
        self.start_fn = start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.anchor = datetime.now(UTC)

    def next_fire(self, schedule: Schedule, after: datetime) -> datetime | None:
        if isinstance(schedule, RateSchedule):
            return schedule.next_after(after, self.anchor)
        return schedule.next_after(after)

    def start(self) -> None:
        for trigger, schedule in self.entries:
            upcoming = self.next_fire(schedule, self.anchor)
            log.info(
                "schedule %s: %s, next at %s",
                trigger.schedule_id,
                schedule.expression,
                upcoming.strftime("%Y-%m-%d %H:%M:%S UTC") if upcoming else "never",
            )
        if self.entries:
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        last = datetime.now(UTC)
        pending = {id(s): self.next_fire(s, last) for _, s in self.entries}
        while not self._stop.is_set():
            times = [t for t in pending.values() if t is not None]
            if not times:
                return
            wait = (min(times) - datetime.now(UTC)).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60.0)):
                return
            now = datetime.now(UTC)
            for trigger, schedule in self.entries:
                due = pending[id(schedule)]
                if due is None or due > now:
                    continue
                try:
                    self.start_fn(
                        trigger.state_machine_id,
                        trigger.input,
                        f"schedule {trigger.schedule_id} ({schedule.expression})",
                    )
                except Exception as exc:
                    log.error(
                        "schedule %s could not start an execution: %s", trigger.schedule_id, exc
                    )
                # next time after now: a schedule that fell behind skips, it does not burst
                pending[id(schedule)] = self.next_fire(schedule, now)
