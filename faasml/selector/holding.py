"""Holding instead of shedding: loose requests wait in the selector for a node with room.

When every candidate of a request is refused only because its node is kept for tighter
deadlines (admission.py), the request is better off waiting here than in an executor:
here it holds no CPU and jumps no queue, and it goes out the moment some request in
flight finishes and frees room. Waiters are woken newest first (adaptive LIFO): the
clients' own deadlines are unknown, and under overload the newest request is the one
most likely still to be in time, while the oldest run out their hold time and are shed
(429). The clock and the hold time bound every wait; a periodic re-check covers room
that appears without a release (a budget expiring).
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, Generator, TypeVar

from faasml.steps import run_async, run_blocking

T = TypeVar("T")

# Re-check at least this often: budgets expire with time, not with releases. Rare on
# purpose: each re-check is a decision, and hundreds of waiters polling would eat the
# CPU the executors need.
RECHECK_S = 0.25
# At most this many wait at once; a newcomer beyond it sends the oldest away (its hold
# is the most likely to be in vain).
MAX_WAITERS = 64
# Releases wake this many of the newest waiters: one frees room on one node, which the
# newest waiter may not be able to use (another task, another node).
WAKE_NEWEST = 4


class HoldQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._waiters: list["_Waiter | _AsyncWaiter"] = []

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def notify(self) -> None:
        """Some room was freed: let the newest waiters try again."""
        if not self._waiters:
            return
        with self._lock:
            for event in self._waiters[-WAKE_NEWEST:]:
                event.set()

    def hold(self, attempt: Callable[[], T], still_held: Callable[[T], bool], until: float) -> T:
        """Call `attempt` whenever room may have appeared, until it is no longer held,
        `until` (clock seconds) passes or newer waiters push it out; return its last
        result."""
        waiter = _Waiter()
        return run_blocking(self._steps(waiter, attempt, still_held, until), waiter.wait)

    async def hold_async(self, attempt: Callable[[], T], still_held: Callable[[T], bool], until: float) -> T:
        """`hold` for a request on the running event loop: waits without blocking it."""
        waiter = _AsyncWaiter(asyncio.get_running_loop())
        return await run_async(self._steps(waiter, attempt, still_held, until), waiter.wait)

    def _steps(self, waiter: "_Waiter | _AsyncWaiter", attempt: Callable[[], T],
               still_held: Callable[[T], bool], until: float) -> Generator[float, None, T]:
        """The holding loop, once for both waits: yields how long to wait for a wake-up."""
        with self._lock:
            self._waiters.append(waiter)
            if len(self._waiters) > MAX_WAITERS:
                oldest = self._waiters.pop(0)
                oldest.evicted = True
                oldest.set()
        try:
            while True:
                remaining = until - self.clock()
                if remaining <= 0 or waiter.evicted:
                    return attempt()
                yield min(remaining, RECHECK_S)
                waiter.clear()
                result = attempt()
                if not still_held(result):
                    return result
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


class _Waiter(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.evicted = False


class _AsyncWaiter:
    """A waiter on an event loop; `set` may come from any thread (a release is counted
    wherever the request that frees the room finishes)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()
        self.evicted = False

    def set(self) -> None:
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self.event.set()
        else:
            try:
                self.loop.call_soon_threadsafe(self.event.set)
            except RuntimeError:  # its loop has closed: nobody is waiting any more
                pass

    def clear(self) -> None:
        self.event.clear()

    async def wait(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self.event.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
