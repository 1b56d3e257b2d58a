"""Async invocations: a durable queue drained by per-function workers, as OpenFaaS's
gateway + NATS + queue-worker do it, inside `faasml up`.

`accept` commits a call to the store (async_store) before the gateway answers 202, so
nothing accepted is lost to a crash. The dispatcher runs due calls oldest first, at most
`concurrency` per function at once, through the gateway's own invocation path (so
metrics, balancing, limits and scale from zero apply). A function answer whose status is
in `retry_codes` (429 and 5xx by default) is retried with exponential backoff, as the
queue-worker does; the final answer is posted to X-Callback-Url with the queue-worker's
headers (X-Call-Id, X-Function-Status, X-Duration-Seconds, X-Function-Name), and that
post is itself retried until the receiver takes it (any status below 500 but 429) or the
attempts run out: then the call is recorded as failed. After a restart every unfinished
call runs again with its X-Call-Id (at-least-once delivery: receivers drop duplicates).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import aiohttp

from faasml import errors as codes
from faasml.background import Background
from faasml.errors import TooManyRequests
from faasml.http import end_to_end
from faasml.prometheus import family
from faasml.runtime.async_store import CALLBACK, INVOKE, AsyncStore, PendingEntry, QueuedCall
from faasml.settings import number, setting, whole_number

T = TypeVar("T")
# (status, headers, body, seconds) of one invocation of the function
Invoker = Callable[[QueuedCall], Awaitable[tuple[int, list[tuple[str, str]], bytes, float]]]
_DEFAULT_RETRY_CODES = frozenset({408, 429, 500, 502, 503, 504})


def status_codes(raw: str) -> frozenset[int]:
    try:
        codes = frozenset(int(c) for c in raw.split(",") if c.strip())
    except ValueError:
        raise ValueError("not a comma-separated list of HTTP status codes") from None
    if not all(100 <= c <= 599 for c in codes):
        raise ValueError("HTTP status codes are 100..599")
    return codes


@dataclass(frozen=True)
class AsyncSettings:
    """The queue's settings; defaults follow OpenFaaS's queue-worker."""

    max_queued: int = setting("FAASML_ASYNC_MAX_QUEUED", 10000, whole_number(1),
                              "unfinished async calls kept at most (beyond: 429 queue_full)")
    concurrency: int = setting("FAASML_ASYNC_CONCURRENCY", 4, whole_number(1),
                               "async calls of one function run at once")
    max_attempts: int = setting("FAASML_ASYNC_MAX_ATTEMPTS", 10, whole_number(1),
                                "tries per call, and per callback (queue-worker's max_retry_attempts)")
    retry_wait_s: float = setting("FAASML_ASYNC_RETRY_WAIT_S", 10.0, number(positive=True),
                                  "first wait before a retry, doubling (queue-worker's initial_retry_wait)")
    max_retry_wait_s: float = setting("FAASML_ASYNC_MAX_RETRY_WAIT_S", 120.0, number(positive=True),
                                      "longest wait between retries (queue-worker's max_retry_wait)")
    retry_codes: frozenset[int] = setting("FAASML_ASYNC_RETRY_CODES", _DEFAULT_RETRY_CODES, status_codes,
                                          "function answers that are retried (comma-separated)")
    callback_timeout_s: float = setting("FAASML_ASYNC_CALLBACK_TIMEOUT_S", 30.0, number(positive=True),
                                        "seconds a callback receiver may take")
    dead_letter_retention_s: float = setting("FAASML_ASYNC_DEAD_LETTER_RETENTION_S", 86400.0, number(positive=True),
                                             "a dead-lettered call keeps its body (for a replay) this long")
    max_dead_letters: int = setting("FAASML_ASYNC_MAX_DEAD_LETTERS", 1000, whole_number(1),
                                    "dead-lettered calls kept at most (the oldest go first)")

    def backoff_s(self, attempts: int) -> float:
        return min(self.retry_wait_s * 2 ** max(attempts - 1, 0), self.max_retry_wait_s)


@dataclass
class _Counters:
    accepted: int = 0
    delivered: int = 0  # callback taken, or finished without a callback
    failed: int = 0
    retries: int = 0


class AsyncQueue:
    def __init__(self, path: Path, settings: AsyncSettings, invoke: Invoker,
                 http: aiohttp.ClientSession, log: Callable[[str, str], None]):
        self.settings, self.invoke, self.http, self.log = settings, invoke, http, log
        # SQLite's calls block: they run on one thread of their own, one at a time.
        self._db_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="async-store")
        self._path = path
        self.store: AsyncStore | None = None
        self.pending: dict[int, PendingEntry] = {}
        self._running: dict[int, asyncio.Task] = {}
        self._running_per_function: dict[str, int] = {}
        self._counters: dict[str, _Counters] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self.faults = 0   # unexpected exceptions while running a call (faasml_async_faults_total)
        self.background: Background | None = None

    async def _db(self, work: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, work, *args)

    async def open(self) -> int:
        """Open the store, taking up what a previous run left; the number of those calls."""
        self.store = await self._db(AsyncStore, self._path)
        for entry in await self._db(self.store.pending):
            self.pending[entry.id] = entry
        return len(self.pending)

    def run(self, background: Background | None = None) -> None:
        """Start dispatching (once the functions are deployed, so none is a 404)."""
        self.background = background
        self._loop_task = asyncio.get_running_loop().create_task(self._dispatch_loop())
        if background is not None:
            background.watch("async-dispatch", self._loop_task)

    async def close(self) -> None:
        """Stop: calls in flight are cancelled and run again after a restart."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), *(t for t in [self._loop_task] if t),
                             return_exceptions=True)
        if self.store is not None:
            await self._db(self.store.close)
        self._db_thread.shutdown(wait=True)

    def _count(self, function: str) -> _Counters:
        return self._counters.setdefault(function, _Counters())

    async def accept(self, call: QueuedCall) -> None:
        """Persist a call (on disk when this returns) and queue it; 429 when the queue is full."""
        assert self.store is not None
        if len(self.pending) >= self.settings.max_queued:
            raise TooManyRequests(f"the async queue holds {len(self.pending)} unfinished calls, its limit",
                                  code=codes.QUEUE_FULL, headers={"Retry-After": "5"})
        call.id = await self._db(self.store.add, call)
        self.pending[call.id] = PendingEntry(call.id, call.function, call.accepted_ns, INVOKE, 0.0)
        self._count(call.function).accepted += 1
        self._wake.set()

    # --- dispatching -----------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while True:
            try:
                timeout = self._dispatch_due()
            except Exception as exc:  # a bug must not stop the queue: counted, then on
                self.faults += 1
                if self.background is not None:
                    self.background.failed("async-dispatch", exc)
                timeout = 1.0
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _dispatch_due(self) -> float | None:
        """Start every due call that has room; the seconds until the next one is due."""
        now = time.time()
        next_due = None
        # `pending` is in id order (loaded sorted, added with growing ids, updated in place).
        for entry in list(self.pending.values()):
            if entry.id in self._running:
                continue
            if entry.next_at > now:
                next_due = entry.next_at if next_due is None else min(next_due, entry.next_at)
                continue
            if self._running_per_function.get(entry.function, 0) >= self.settings.concurrency:
                continue
            self._start(entry)
        return None if next_due is None else max(next_due - time.time(), 0.01)

    def _start(self, entry: PendingEntry) -> None:
        self._running_per_function[entry.function] = self._running_per_function.get(entry.function, 0) + 1
        task = asyncio.get_running_loop().create_task(self._run(entry))
        self._running[entry.id] = task

        def done(_: asyncio.Task) -> None:
            self._running.pop(entry.id, None)
            self._running_per_function[entry.function] -= 1
            self._wake.set()
        task.add_done_callback(done)

    async def _run(self, entry: PendingEntry) -> None:
        assert self.store is not None
        call: QueuedCall | None = None
        try:
            call = await self._db(self.store.load, entry.id)
            if call is None:
                self.pending.pop(entry.id, None)
                return
            if call.phase == INVOKE and not await self._invoke(call):
                return
            if call.callback_url:
                await self._callback(call)
            else:
                await self._finish(call, failed=self._failure(call.status))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the queue, nor a poison call run forever
            self.faults += 1
            attempts = (call.attempts if call is not None else 0) + 1
            if call is not None and attempts >= self.settings.max_attempts:
                try:
                    await self._finish(call, failed=f"raised {type(exc).__name__} on each of {attempts} attempts")
                    return
                except Exception as again:  # the store itself is failing: retry later
                    exc = again
            self.log(entry.function, f"async call #{entry.id}: {exc!r}; attempt {attempts} of "
                                     f"{self.settings.max_attempts}, retrying")
            next_at = time.time() + self.settings.backoff_s(attempts)
            if call is not None:
                try:
                    await self._db(self.store.retry_later, call.id, attempts, next_at)
                except Exception:  # counted in memory only; the next attempt tries again
                    pass
            self.pending[entry.id] = PendingEntry(entry.id, entry.function, entry.accepted_ns, entry.phase, next_at)

    def _failure(self, status: int | None) -> str | None:
        if status is not None and status in self.settings.retry_codes:
            return f"the function answered {status} on each of {self.settings.max_attempts} attempts"
        return None

    async def _invoke(self, call: QueuedCall) -> bool:
        """Run the function; True when its answer is final (stored for the callback)."""
        assert self.store is not None
        status, headers, body, seconds = await self.invoke(call)
        attempts = call.attempts + 1
        if status in self.settings.retry_codes and attempts < self.settings.max_attempts:
            await self._retry_later(call, attempts, f"function answered {status}")
            return False
        await self._db(self.store.ran, call.id, status, headers, body, seconds)
        call.phase, call.status, call.result_headers, call.result_body = CALLBACK, status, headers, body
        call.duration_s, call.attempts = seconds, 0
        self.pending[call.id] = PendingEntry(call.id, call.function, call.accepted_ns, CALLBACK, 0.0)
        return True

    async def _callback(self, call: QueuedCall) -> None:
        name = call.function
        headers = [(k, v) for k, v in end_to_end(call.result_headers or [])
                   if k.lower() not in ("content-length", "x-call-id", "x-duration-seconds")]
        headers += [("X-Call-Id", call.call_id), ("X-Function-Status", str(call.status)),
                    ("X-Duration-Seconds", f"{call.duration_s or 0.0:f}"), ("X-Function-Name", name),
                    ("X-Start-Time", str(call.accepted_ns))]
        try:
            timeout = aiohttp.ClientTimeout(total=self.settings.callback_timeout_s)
            async with self.http.post(call.callback_url, data=call.result_body or b"", headers=headers,
                                      timeout=timeout, allow_redirects=False) as response:
                await response.read()
                taken, why = response.status < 500 and response.status != 429, f"answered {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            taken, why = False, f"failed: {exc!r}"
        if taken:
            await self._finish(call, failed=None)
            return
        attempts = call.attempts + 1
        if attempts < self.settings.max_attempts:
            await self._retry_later(call, attempts, f"callback {call.callback_url} {why}")
        else:
            await self._finish(call, failed=f"callback {call.callback_url} {why} on each of "
                                            f"{attempts} attempts")

    async def _retry_later(self, call: QueuedCall, attempts: int, why: str) -> None:
        assert self.store is not None
        next_at = time.time() + self.settings.backoff_s(attempts)
        await self._db(self.store.retry_later, call.id, attempts, next_at)
        self.pending[call.id] = PendingEntry(call.id, call.function, call.accepted_ns, call.phase, next_at)
        self._count(call.function).retries += 1
        self.log(call.function, f"async call {call.call_id}: {why}; retry #{attempts} "
                                f"in {self.settings.backoff_s(attempts):g}s")

    async def _finish(self, call: QueuedCall, failed: str | None) -> None:
        assert self.store is not None
        if failed:
            await self._db(self.store.fail, call.id, failed, time.time())
            await self._db(self.store.prune, time.time(), self.settings.dead_letter_retention_s,
                           self.settings.max_dead_letters)
            self._count(call.function).failed += 1
            self.log(call.function, f"async call {call.call_id} FAILED: {failed}")
        else:
            await self._db(self.store.finish, call.id)
            self._count(call.function).delivered += 1
        self.pending.pop(call.id, None)

    # --- dead letters ----------------------------------------------------------------

    async def dead_letters(self, limit: int = 100) -> list[dict[str, object]]:
        assert self.store is not None
        await self._db(self.store.prune, time.time(), self.settings.dead_letter_retention_s,
                       self.settings.max_dead_letters)
        return await self._db(self.store.failed, limit)

    async def replay(self, row_id: int) -> bool:
        """Run a dead call again from its first attempt; False when there is none such.
        Raises LookupError when its body is gone (past the retention)."""
        assert self.store is not None
        entry = await self._db(self.store.replay, row_id)
        if entry is None:
            return False
        self.pending[entry.id] = entry
        self._wake.set()
        return True

    # --- metrics -----------------------------------------------------------------------

    def metric_families(self) -> list[list[str]]:
        now_ns = time.time_ns()
        depth: dict[str, int] = {}
        oldest: dict[str, int] = {}
        for entry in self.pending.values():
            depth[entry.function] = depth.get(entry.function, 0) + 1
            oldest[entry.function] = min(oldest.get(entry.function, now_ns), entry.accepted_ns)
        names = sorted({*depth, *self._counters})
        counters = self._counters
        return [
            family("faasml_async_queue_depth", "gauge", "Accepted async calls not yet finished",
                   [((("function_name", n),), depth.get(n, 0)) for n in names]),
            family("faasml_async_queue_oldest_age_seconds", "gauge",
                   "Age of the oldest unfinished async call (0 when none)",
                   [((("function_name", n),), max(now_ns - oldest[n], 0) / 1e9 if n in oldest else 0)
                    for n in names]),
            family("faasml_async_calls_total", "counter", "Async calls by outcome",
                   [((("function_name", n), ("outcome", outcome)), getattr(counters.get(n, _Counters()), outcome))
                    for n in names for outcome in ("accepted", "delivered", "failed")]),
            family("faasml_async_retries_total", "counter", "Async invocations or callbacks retried",
                   [((("function_name", n),), counters.get(n, _Counters()).retries) for n in names]),
            family("faasml_async_faults_total", "counter",
                   "Unexpected exceptions while running an async call (each retried, then dead-lettered)",
                   [((), self.faults)]),
        ]
