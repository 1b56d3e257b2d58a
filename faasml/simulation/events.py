"""The event loop: a heap of (time, sequence, callback, argument), run in time order.

Ties run in the order they were scheduled (the sequence number), so one seed gives one
history. Callbacks are plain functions of one argument: no closure, no event object per
event. A cancelled event is not removed: its callback finds its token stale and returns
(lazy deletion keeps scheduling O(log n) and cancelling O(1)).
"""
from __future__ import annotations

import heapq
import itertools
import math
from typing import Any, Callable


class EventLoop:
    __slots__ = ("now", "_heap", "_seq", "processed")

    def __init__(self, start: float = 0.0):
        self.now = start
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = itertools.count()
        self.processed = 0

    def at(self, when: float, callback: Callable[[Any], None], argument: Any = None) -> None:
        """Run `callback(argument)` at `when` (never before now: a late one runs now)."""
        if when < self.now:
            when = self.now
        heapq.heappush(self._heap, (when, next(self._seq), callback, argument))

    def after(self, delay: float, callback: Callable[[Any], None], argument: Any = None) -> None:
        self.at(self.now + delay, callback, argument)

    @property
    def pending(self) -> int:
        return len(self._heap)

    def run(self, until: float = math.inf) -> None:
        """Run every event due at or before `until` (the clock stops at the last one run)."""
        heap, pop = self._heap, heapq.heappop
        count = 0
        while heap and heap[0][0] <= until:
            when, _, callback, argument = pop(heap)
            self.now = when
            callback(argument)
            count += 1
        self.processed += count
