"""Cooperative concurrency on one thread: every execution runs its states, Map iterations
and Parallel branches as greenlets of a hub on the execution's thread, and they switch to
the hub while they wait (for a Lambda worker's reply, a timer, a signal from another
thread), instead of each being a thread blocked on its own pipe.

Why: with one thread per in-flight invocation, every reply from a worker process wakes a
thread that must then win the GIL from the threads running the interpreter, and on a small
machine those hand-offs cost more than the interpreter itself (benchmarks/lambda_bench.py;
docs/architecture.md, "Local runtime speed"). One thread polling all worker pipes runs the
next ready iteration as soon as its reply is there, with no hand-off.

Only code that asks the hub waits cooperatively: ``current_hub()`` is ``None`` outside a
hub's greenlets, and code that blocks without asking (a boto3 call, a plain
``time.sleep``) just holds the whole thread for that long. The Lambda pool and the
interpreter's waits ask; an in-process invoker that should let the others run while it
waits uses ``sleep`` below.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")

_local = threading.local()
# With replies awaited, the hub polls without blocking this long before it sleeps in
# poll(): a reply that comes within it costs its worker no cross-CPU wake-up of this
# thread (see IDLE_SPIN_SECONDS in sfnstack.lambdas.worker).
SPIN_SECONDS = 0.0002


def current_hub() -> Hub | None:
    """The hub of this thread if the caller runs in one of its greenlets (and so may wait
    cooperatively), else ``None``."""
    hub: Hub | None = getattr(_local, "hub", None)
    if hub is not None and greenlet.getcurrent() is not hub.loop:
        return hub
    return None


def sleep(seconds: float) -> None:
    """Sleep, letting the hub's other greenlets run when called from one."""
    hub = current_hub()
    if hub is None:
        time.sleep(seconds)
    else:
        hub.sleep(seconds)


def run_on_hub(function: Callable[[], T]) -> T:
    """``function()`` in a greenlet of a hub: the caller's, when called from a hub's
    greenlet, else a hub of this thread's own for the duration. Greenlets it leaves
    waiting (an abandoned call) are ended when that hub closes."""
    if current_hub() is not None:
        return function()
    box: list[T] = []
    with Hub.running() as hub:
        main = hub.spawn(lambda: box.append(function()))
        hub.run_until(lambda: main.dead)
    return box[0]


class _Waiter:
    """One wait of one greenlet; whatever ends the wait first (fd ready, timer, signal)
    resumes it, the others find it disarmed."""

    __slots__ = ("armed", "glet", "value")

    def __init__(self, glet: greenlet.greenlet) -> None:
        self.glet = glet
        self.armed = True
        self.value: Any = None


class Signal:
    """A flag one greenlet waits for and any thread may set (thread-safe; set before the
    wait begins counts)."""

    __slots__ = ("_hub", "_waiter", "is_set")

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._waiter: _Waiter | None = None
        self.is_set = False

    def set(self) -> None:
        self.is_set = True
        waiter = self._waiter
        if waiter is not None:
            self._hub.resume_threadsafe(waiter, True)

    def wait(self, timeout: float | None = None) -> bool:
        """Until set (True) or ``timeout`` seconds pass (False). Call from the hub's
        greenlets only."""
        if self.is_set:
            return True
        hub = self._hub
        waiter = _Waiter(greenlet.getcurrent())
        self._waiter = waiter
        if self.is_set:  # set by another thread between the check and registering
            waiter.armed = False  # a resume it may have queued must not fire later
            self._waiter = None
            return True
        hub.signal_waits += 1
        try:
            if timeout is not None:
                hub.add_timer(timeout, waiter)
            hub.loop.switch()
        finally:
            hub.signal_waits -= 1
            waiter.armed = False
            self._waiter = None
        return self.is_set


class Hub:
    """Runs greenlets on the thread that created it. ``run_until`` drives them: it resumes
    ready greenlets, then polls the file descriptors they wait on, the next timer and a
    wake-up pipe other threads write to."""

    def __init__(self) -> None:
        self.loop = greenlet.getcurrent()
        self._ready: collections.deque[_Waiter] = collections.deque()
        self._timers: list[tuple[float, int, _Waiter]] = []
        self._sequence = itertools.count()
        self._readers: dict[int, _Waiter] = {}
        self._poll = select.poll()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._poll.register(self._wake_read, select.POLLIN)
        self._incoming: collections.deque[tuple[_Waiter, Any]] = collections.deque()
        self._joiners: dict[greenlet.greenlet, list[_Waiter]] = {}
        self._live: set[greenlet.greenlet] = set()
        self._thread = threading.get_ident()
        self._closed = False
        self._wake_lock = threading.Lock()  # other threads' wake-ups vs close()
        self.signal_waits = 0

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[Hub]:
        """A hub for this thread for the duration (its greenlets see it as current)."""
        if getattr(_local, "hub", None) is not None:
            raise RuntimeError("this thread already runs a hub")
        hub = cls()
        _local.hub = hub
        try:
            yield hub
        finally:
            try:
                hub.end_greenlets()
            finally:
                _local.hub = None
                hub.close()

    def end_greenlets(self) -> None:
        """Raise ``GreenletExit`` in every greenlet still waiting, so each runs its own
        clean-up (an abandoned Lambda call leaves its environment to the pool, which reads
        the reply on a thread of its own)."""
        for glet in list(self._live):
            if not glet.dead:
                # What an abandoned call's clean-up raises has nobody left to report to.
                with contextlib.suppress(Exception):
                    glet.throw(greenlet.GreenletExit)
        self._live.clear()

    def close(self) -> None:
        with self._wake_lock:
            self._closed = True
            for fd in (self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(fd)

    # -- greenlets ------------------------------------------------------------------

    def spawn(self, function: Callable[[], Any]) -> greenlet.greenlet:
        """Start ``function`` in a new greenlet when the hub next runs. Its exceptions
        propagate to the hub's ``run_until``, so callers catch their own."""

        def run(_value: Any = None) -> None:
            try:
                function()
            finally:
                self._live.discard(glet)
                for waiter in self._joiners.pop(glet, ()):
                    self._ready.append(waiter)

        glet = greenlet.greenlet(run, parent=self.loop)
        self._live.add(glet)
        self._ready.append(_Waiter(glet))
        return glet

    def join(self, greenlets: list[greenlet.greenlet]) -> None:
        """Wait (cooperatively) until every one of ``greenlets`` has finished."""
        for glet in greenlets:
            while not glet.dead:
                waiter = _Waiter(greenlet.getcurrent())
                self._joiners.setdefault(glet, []).append(waiter)
                try:
                    self.loop.switch()
                finally:
                    waiter.armed = False

    # -- waiting (from the hub's greenlets) ------------------------------------------

    def wait_readable(self, fd: int) -> None:
        """Until ``fd`` has data (or EOF) to read; or at once when no other greenlet could
        run meanwhile (none ready, no other wait that may end), as then the caller's own
        blocking read is the cheapest wait: no poll, no spin (a Map of one at a time)."""
        if not (
            self._ready or self._readers or self._timers or self.signal_waits or self._incoming
        ):
            return
        waiter = _Waiter(greenlet.getcurrent())
        self._readers[fd] = waiter
        self._poll.register(fd, select.POLLIN)
        try:
            self.loop.switch()
        finally:
            waiter.armed = False
            if self._readers.get(fd) is waiter:
                del self._readers[fd]
                self._poll.unregister(fd)

    def sleep(self, seconds: float) -> None:
        waiter = _Waiter(greenlet.getcurrent())
        self.add_timer(seconds, waiter)
        try:
            self.loop.switch()
        finally:
            waiter.armed = False

    def signal(self) -> Signal:
        return Signal(self)

    def add_timer(self, seconds: float, waiter: _Waiter) -> None:
        heapq.heappush(
            self._timers, (time.monotonic() + max(seconds, 0.0), next(self._sequence), waiter)
        )

    def resume_threadsafe(self, waiter: _Waiter, value: Any) -> None:
        """Resume ``waiter`` with ``value``; callable from any thread."""
        if threading.get_ident() == self._thread:
            if waiter.armed:
                waiter.value = value
                self._ready.append(waiter)
            return
        with self._wake_lock:
            if self._closed:  # the wait it would end is long over
                return
            self._incoming.append((waiter, value))
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_write, b"\0")  # a full pipe already means "wake up"

    # -- the loop ---------------------------------------------------------------------

    def run_until(self, finished: Callable[[], bool]) -> None:
        """Drive the greenlets until ``finished()``; from the thread's own (loop) greenlet."""
        ready, readers, timers = self._ready, self._readers, self._timers
        while True:
            while ready:
                waiter = ready.popleft()
                if waiter.armed:
                    waiter.armed = False
                    waiter.glet.switch(waiter.value)
            if finished():
                return
            timeout_ms: int | None = None
            if timers:
                timeout_ms = max(0, int((timers[0][0] - time.monotonic()) * 1000 + 0.999))
            elif not readers and not self.signal_waits and not self._incoming:
                raise RuntimeError("cooperative hub: every greenlet waits and nothing can wake one")
            events = None
            if readers and (timeout_ms is None or timeout_ms > 0):
                end = time.perf_counter() + SPIN_SECONDS
                events = self._poll.poll(0)
                while not events and time.perf_counter() < end:
                    events = self._poll.poll(0)
            for fd, _events in events or self._poll.poll(timeout_ms):
                if fd == self._wake_read:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_read, 4096)
                    continue
                reader = readers.pop(fd, None)
                if reader is not None:
                    self._poll.unregister(fd)
                    ready.append(reader)
            incoming = self._incoming
            while incoming:
                waiter, value = incoming.popleft()
                if waiter.armed:
                    waiter.value = value
                    ready.append(waiter)
            if timers:
                now = time.monotonic()
                while timers and timers[0][0] <= now:
                    waiter = heapq.heappop(timers)[2]
                    if waiter.armed:
                        ready.append(waiter)
