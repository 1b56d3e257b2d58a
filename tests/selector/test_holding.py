"""The hold queue: requests that find no room wait in the selector, newest first."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from faasml.selector import holding
from faasml.selector.holding import HoldQueue

from .conftest import TASK, body, make_service, post
from .toygateway import executor_status


class Room:
    """A scripted resource: `free` slots; every attempt is counted per waiter."""

    def __init__(self) -> None:
        self.free = 0
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()

    def attempt(self, name: str):
        def call():
            with self.lock:
                self.attempts[name] = self.attempts.get(name, 0) + 1
                if self.free > 0:
                    self.free -= 1
                    return "admitted"
                return "held"
        return call


def start_waiters(queue: HoldQueue, room: Room, names, results, hold_s=5.0):
    threads = []
    for name in names:
        thread = threading.Thread(target=lambda n=name: results.__setitem__(
            n, queue.hold(room.attempt(n), lambda r: r == "held", time.monotonic() + hold_s)))
        thread.start()
        threads.append(thread)
        while queue.waiting < len(threads):   # keep arrival order deterministic
            time.sleep(0.001)
    return threads


def test_room_freed_goes_to_the_newest_waiter(monkeypatch):
    monkeypatch.setattr(holding, "RECHECK_S", 10.0)   # only notify wakes anyone
    monkeypatch.setattr(holding, "WAKE_NEWEST", 1)
    queue, room, results = HoldQueue(), Room(), {}
    threads = start_waiters(queue, room, ["old", "middle", "new"], results)
    room.free = 1
    queue.notify()
    deadline = time.monotonic() + 5
    while "new" not in results and time.monotonic() < deadline:
        time.sleep(0.005)
    assert results == {"new": "admitted"}
    assert "old" not in room.attempts       # the oldest was not even woken
    room.free = 2
    while queue.waiting and time.monotonic() < deadline:   # one release after another
        queue.notify()
        time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=5)
    assert results == {"new": "admitted", "middle": "admitted", "old": "admitted"}
    assert room.attempts == {"new": 1, "middle": 1, "old": 1}   # no waiter woken in vain


def test_a_hold_ends_with_the_last_verdict_when_its_time_is_up():
    queue, room = HoldQueue(), Room()
    started = time.monotonic()
    assert queue.hold(room.attempt("a"), lambda r: r == "held", started + 0.1) == "held"
    assert 0.09 <= time.monotonic() - started < 1.0 and queue.waiting == 0


def test_beyond_the_cap_the_oldest_waiter_is_sent_away(monkeypatch):
    monkeypatch.setattr(holding, "MAX_WAITERS", 2)
    monkeypatch.setattr(holding, "RECHECK_S", 10.0)
    queue, room, results = HoldQueue(), Room(), {}
    threads = start_waiters(queue, room, ["first", "second"], results)
    late = start_waiters(queue, room, ["third"], results)
    threads[0].join(timeout=5)
    assert results == {"first": "held"} and queue.waiting == 2
    room.free = 2
    deadline = time.monotonic() + 5
    while queue.waiting and time.monotonic() < deadline:
        queue.notify()
        time.sleep(0.01)
    for thread in threads[1:] + late:
        thread.join(timeout=5)
    assert results["second"] == results["third"] == "admitted"


def test_waiters_on_an_event_loop_are_woken_newest_first_from_any_thread(monkeypatch):
    """hold_async: coroutines wait without blocking their loop; a release counted on
    another thread (notify) wakes the newest."""
    monkeypatch.setattr(holding, "RECHECK_S", 10.0)
    monkeypatch.setattr(holding, "WAKE_NEWEST", 1)
    queue, room = HoldQueue(), Room()

    async def scenario():
        waiters = {}
        for name in ("old", "new"):
            waiters[name] = asyncio.ensure_future(
                queue.hold_async(room.attempt(name), lambda r: r == "held", time.monotonic() + 5))
            while queue.waiting < len(waiters):
                await asyncio.sleep(0.001)
        ticks = 0
        room.free = 1
        releaser = threading.Thread(target=queue.notify)
        releaser.start()
        while not waiters["new"].done():   # the loop keeps running meanwhile
            ticks += 1
            await asyncio.sleep(0.001)
        releaser.join()
        assert waiters["new"].result() == "admitted" and not waiters["old"].done() and ticks > 0
        room.free = 1
        queue.notify()
        assert await asyncio.wait_for(waiters["old"], 5) == "admitted"

    asyncio.run(scenario())
    assert room.attempts == {"new": 1, "old": 1} and queue.waiting == 0


@pytest.mark.usefixtures("both_drivers")  # blocking, and on one event loop (conftest)
def test_the_service_holds_requests_that_find_no_room_then_serves_them(gateway):
    # Two variants at 100 ms each; a queue cap of 50 ms lets one request wait per
    # variant, so of 8 concurrent requests the last 4 wait in the selector, not in an
    # executor, and go out as answers come back.
    gateway.functions = [executor_status(f"twin{i}", TASK, 0.75, 100.0) for i in range(2)]
    gateway.behaviours = {f"twin{i}": "busy:0.1" for i in range(2)}
    selector = make_service(gateway, max_queue_ms=150.0, hold_s=2.0)
    try:
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: post(selector, task=TASK), range(8)))
        assert [r.status for r in responses] == [200] * 8
        held = [float(r.headers["X-Faasml-Held-Ms"]) for r in responses if "X-Faasml-Held-Ms" in r.headers]
        assert len(held) >= 2 and min(held) > 0     # the response says it waited, and how long
        assert selector.metrics.value("faasml_selector_held_total", task=TASK, outcome="admitted") == len(held)
        shed = make_service(gateway, max_queue_ms=150.0, hold_s=0.0)
        try:
            with ThreadPoolExecutor(8) as pool:
                statuses = [r.status for r in pool.map(lambda _: post(shed, task=TASK), range(8))]
            assert statuses.count(429) >= 2           # without holding, no room is a 429
            assert body(post(shed, task=TASK, explain=1))["verdict"] is None
        finally:
            shed.stop()
    finally:
        selector.stop()
