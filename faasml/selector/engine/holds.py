"""Holding instead of shedding: who waits in the selector for room, and whom a release wakes.

When every candidate of a request is refused only for want of room (`no_room`: its queue
is long, or its node is kept for tighter deadlines), the request is better off waiting in
the selector than in an executor: here it holds no CPU and jumps no queue, and it goes
out the moment some request in flight finishes and frees room. Waiters are woken newest
first (adaptive LIFO): under overload the newest request is the one most likely still to
be in time, while the oldest run out their hold time and are shed (429). The shell waits
on asyncio events, the simulator on simulated time; this book decides who, for both.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Generic, TypeVar

from faasml.selector.engine.request import SelectionRequest

W = TypeVar("W")

# Re-decide at least this often: fast-lane budgets expire with time, not with releases.
# Rare on purpose: each re-check is a decision, and hundreds of waiters polling would eat
# the CPU the executors need.
RECHECK_S = 0.25
# At most this many wait at once; a newcomer beyond it sends the oldest away (its hold is
# the most likely to be in vain).
MAX_WAITERS = 64
# A release wakes this many of the newest waiters: one frees room on one node, which the
# newest waiter may not be able to use (another task, another node).
WAKE_NEWEST = 4


class HoldBook(Generic[W]):
    def __init__(self) -> None:
        self._waiters: list[W] = []

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def join(self, waiter: W) -> W | None:
        """Add the newest waiter; returns the oldest, evicted, when there are too many
        (it makes its last attempt at once)."""
        self._waiters.append(waiter)
        if len(self._waiters) > MAX_WAITERS:
            return self._waiters.pop(0)
        return None

    def leave(self, waiter: W) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def released(self) -> list[W]:
        """Room was freed: the waiters to wake, newest first."""
        return self._waiters[-WAKE_NEWEST:][::-1]


def hold_until(arrived: float, hold_s: float, max_latency_ms: float | None) -> float:
    """How long a request may wait for room: the hold time, and never past its own limit."""
    until = arrived + hold_s
    if max_latency_ms is not None:
        until = min(until, arrived + max_latency_ms / 1000.0)
    return until


def asked_now(request: SelectionRequest, arrived: float, now: float) -> SelectionRequest:
    """The request as it stands after waiting: its limit shrinks by the time spent."""
    if request.max_latency_ms is None:
        return request
    waited_ms = (now - arrived) * 1000.0
    return replace(request, max_latency_ms=max(request.max_latency_ms - waited_ms, 1e-3))
