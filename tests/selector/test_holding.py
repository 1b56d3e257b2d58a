"""Holding: requests that find no room wait in the selector, newest first (the hold
book, engine/holds.py, and the shell carrying it out)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from faasml.selector.engine import holds
from faasml.selector.engine.holds import HoldBook, asked_now, hold_until
from faasml.selector.engine.request import SelectionRequest

from .conftest import TASK, body, make_service, post
from .toygateway import executor_status


def test_a_release_wakes_the_newest_waiters_first(monkeypatch):
    monkeypatch.setattr(holds, "WAKE_NEWEST", 2)
    book: HoldBook[str] = HoldBook()
    for name in ("old", "middle", "new"):
        assert book.join(name) is None
    assert book.released() == ["new", "middle"]          # the oldest is not even woken
    book.leave("new")
    assert book.released() == ["middle", "old"] and book.waiting == 2


def test_beyond_the_cap_the_oldest_waiter_is_sent_away(monkeypatch):
    monkeypatch.setattr(holds, "MAX_WAITERS", 2)
    book: HoldBook[str] = HoldBook()
    assert book.join("first") is None and book.join("second") is None
    assert book.join("third") == "first"                 # it makes its last attempt at once
    assert book.waiting == 2 and book.released()[0] == "third"


def test_a_hold_lasts_the_hold_time_and_never_past_the_requests_own_limit():
    assert hold_until(10.0, 0.5, None) == pytest.approx(10.5)
    assert hold_until(10.0, 0.5, 200.0) == pytest.approx(10.2)
    request = SelectionRequest(task=TASK, max_latency_ms=200.0)
    assert asked_now(request, 10.0, 10.05).max_latency_ms == pytest.approx(150.0)   # shrinks as it waits
    assert asked_now(SelectionRequest(task=TASK), 10.0, 11.0).max_latency_ms is None


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
