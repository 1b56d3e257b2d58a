"""Async calls that never succeed: a maximum attempt count, then a dead letter that keeps its
body for a replay until the retention drops it (faasml/runtime/async_queue.py, on a real
SQLite queue file)."""
from __future__ import annotations

import asyncio
import time

import aiohttp


from faasml.runtime.async_queue import AsyncQueue, AsyncSettings
from faasml.runtime.async_store import QueuedCall


def call(body: bytes = b"payload") -> QueuedCall:
    return QueuedCall(id=0, call_id="c-1", function="f.openfaas-fn", method="POST", target="/", headers=[],
                      body=body, callback_url=None, accepted_ns=time.time_ns())


async def drain(queue: AsyncQueue, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while queue.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def run_queue(tmp_path, invoke, scenario, **settings):
    async def main():
        logged: list[str] = []
        async with aiohttp.ClientSession() as session:
            queue = AsyncQueue(tmp_path / "q.sqlite", AsyncSettings(**{"retry_wait_s": 0.01, "max_retry_wait_s": 0.02,
                                                                       "max_attempts": 3, **settings}),
                               invoke, session, lambda function, text: logged.append(text))
            await queue.open()
            queue.run()
            try:
                return await scenario(queue), logged
            finally:
                await queue.close()
    return asyncio.run(main())


def test_a_poison_call_is_tried_max_attempts_times_then_dead_lettered_and_can_be_replayed(tmp_path):
    tries = []

    async def poison(queued):
        tries.append(queued.body)
        if len(tries) <= 3:
            raise RuntimeError("the invoker chokes on this call")
        return 200, [], b"fine now", 0.001

    async def scenario(queue):
        await queue.accept(call())
        await drain(queue)
        dead = await queue.dead_letters()
        first_tries = len(tries)
        assert await queue.replay(dead[0]["id"])
        await drain(queue)
        return dead, first_tries, await queue.dead_letters(), queue.faults
    (dead, first_tries, after, faults), logged = run_queue(tmp_path, poison, scenario)
    assert first_tries == 3 and faults == 3
    assert len(dead) == 1 and dead[0]["replayable"] and dead[0]["bodyBytes"] == len(b"payload")
    assert "raised RuntimeError on each of 3 attempts" in dead[0]["reason"]
    assert tries[-1] == b"payload" and after == []   # replayed with its body, and delivered


def test_failed_answers_are_dead_lettered_and_bodies_dropped_past_the_retention(tmp_path):
    async def failing(queued):
        return 503, [], b"no", 0.001

    async def scenario(queue):
        await queue.accept(call(b"x" * 1000))
        await drain(queue)
        kept = await queue.dead_letters()
        await asyncio.sleep(0.3)   # past the retention below
        dropped = await queue.dead_letters()
        try:
            await queue.replay(dropped[0]["id"])
            refused = None
        except LookupError as exc:
            refused = exc
        return kept, dropped, refused, await queue.replay(999)
    (kept, dropped, refused, missing), _ = run_queue(tmp_path, failing, scenario, dead_letter_retention_s=0.2)
    assert kept[0]["status"] == 503 and kept[0]["replayable"] and kept[0]["bodyBytes"] == 1000
    assert not dropped[0]["replayable"] and dropped[0]["bodyBytes"] == 0
    assert isinstance(refused, LookupError) and missing is False


def test_only_the_newest_dead_letters_are_kept(tmp_path):
    async def failing(queued):
        return 500, [], b"", 0.001

    async def scenario(queue):
        for _ in range(5):
            await queue.accept(call())
        await drain(queue, 5)
        return await queue.dead_letters()
    dead, _ = run_queue(tmp_path, failing, scenario, max_dead_letters=2)
    assert len(dead) == 2 and dead[0]["id"] > dead[1]["id"]
