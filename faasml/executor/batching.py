"""Dynamic micro-batching: concurrent requests for one variant share one `session.run`.

Each request thread decodes and preprocesses its own input, then `submit`s it here. The
first thread to find no batch running becomes the batch's leader: it takes up to
`max_batch` waiting inputs (after waiting up to `max_wait_s` for more to arrive, as
Triton's dynamic batcher does), runs them as one call and hands every waiter its own
result. Inputs that arrive while a batch runs form the next one, so under load batches
fill by themselves, and a request that finds the variant idle runs at once when
`max_wait_s` is 0 (no added latency at low load).

No thread of its own: the leader is a request thread, so there is no hand-off when the
variant is idle and nothing to stop at shutdown.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("item", "arrived", "done", "result", "error", "batch_size", "run_ms")

    def __init__(self, item: Item):
        self.item = item
        self.arrived = time.monotonic()
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.batch_size = 0
        self.run_ms = 0.0


class BatchOutcome(Generic[Result]):
    """One request's result and the batch it rode in (its size and run time)."""

    __slots__ = ("result", "batch_size", "run_ms")

    def __init__(self, result: Result, batch_size: int, run_ms: float):
        self.result, self.batch_size, self.run_ms = result, batch_size, run_ms


class MicroBatcher(Generic[Item, Result]):
    def __init__(self, run_batch: Callable[[list[Item]], Sequence[Result]], max_batch: int,
                 max_wait_s: float = 0.0):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self._cond = threading.Condition()
        self._pending: list[_Slot] = []
        self._running = False
        self.batches = 0        # counters for /health and the benchmark
        self.items = 0

    def submit(self, item: Item) -> BatchOutcome[Result]:
        """Run `item` in a batch; blocks until its result is there. An exception raised
        by the batch is raised in every request of that batch."""
        slot: _Slot = _Slot(item)
        with self._cond:
            self._pending.append(slot)
            self._cond.notify_all()  # a leader waiting for its batch to fill counts arrivals
            while not slot.done and (self._running or self._pending[0] is not slot):
                self._cond.wait()
            if not slot.done:
                self._running = True
                batch = self._take_batch(slot)
        if not slot.done:
            self._run(batch)
        if slot.error is not None:
            raise slot.error
        return BatchOutcome(slot.result, slot.batch_size, slot.run_ms)

    def _take_batch(self, leader: _Slot) -> list[_Slot]:
        """Called holding the lock, as the leader: wait for the batch to fill (bounded), take it."""
        deadline = leader.arrived + self.max_wait_s
        while len(self._pending) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        batch = self._pending[:self.max_batch]
        del self._pending[:self.max_batch]
        return batch

    def _run(self, batch: list[_Slot]) -> None:
        results: Sequence = ()
        error: BaseException | None = None
        started = time.perf_counter()
        try:
            results = self._run_batch([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except BaseException as exc:  # every waiter must wake, whatever went wrong
            error = exc
        run_ms = (time.perf_counter() - started) * 1e3
        with self._cond:
            for index, slot in enumerate(batch):
                slot.error = error
                slot.result = None if error is not None else results[index]
                slot.batch_size, slot.run_ms, slot.done = len(batch), run_ms, True
            self.batches += 1
            self.items += len(batch)
            self._running = False
            self._cond.notify_all()
