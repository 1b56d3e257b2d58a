"""Stalls and registry listings on the request path: a hung variant costs a request its
stall bound, not its deadline, and requests that find nothing healthy share one listing."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from faasml.selector import refresher
from faasml.selector.engine.attempts import StallBound

from .conftest import TASK, body, get, make_service, post
from .toygateway import executor_status


def test_stall_bound_is_a_multiple_of_the_prediction_within_floor_and_deadline():
    bound = StallBound(factor=4.0, floor_ms=300.0)
    assert bound.seconds(10.0, 25.0) == pytest.approx(0.3)      # floor
    assert bound.seconds(200.0, 25.0) == pytest.approx(0.8)     # 4x the prediction
    assert bound.seconds(200.0, 0.5) == pytest.approx(0.5)      # never past the deadline
    # Never seen answering: a cold start is no stall.
    assert bound.seconds(10.0, 25.0, cold=True) == pytest.approx(2.0)


def test_a_hung_variant_is_abandoned_for_the_next_and_kept_out_until_it_answers(gateway):
    # quick is by far the fastest, so it ranks first at tradeoff=0 even when a contended
    # machine makes its one observed round trip look slow.
    gateway.functions = [executor_status("quick", TASK, 0.70, 5.0),
                         executor_status("middle", TASK, 0.75, 2000.0),
                         executor_status("precise", TASK, 0.80, 6000.0)]
    selector = make_service(gateway, stall_floor_ms=200.0)
    try:
        assert post(selector, task=TASK, tradeoff=0).headers["X-Faasml-Variant"] == "quick"  # seen warm
        gateway.behaviours["quick"] = "hang"
        started = time.monotonic()
        response = post(selector, task=TASK, tradeoff=0)   # the fastest, quick, ranks first
        elapsed = time.monotonic() - started
        assert response.status == 200, body(response)
        assert response.headers["X-Faasml-Variant"] != "quick"
        assert response.headers["X-Faasml-Attempts"] == "2"
        assert 0.2 <= elapsed < 1.5   # its stall bound, not the 25 s deadline
        assert selector.stalls.stalled == ["quick"]
        view = body(get(selector, "/variants"))
        assert view["stalled"] == ["quick"]
        assert next(v for v in view["variants"] if v["variant"] == "quick")["live"]["cooling_down"]
        # Kept out while hung: the next request goes elsewhere at once.
        started = time.monotonic()
        response = post(selector, task=TASK, tradeoff=0)
        assert response.headers["X-Faasml-Variant"] != "quick"
        assert response.headers["X-Faasml-Attempts"] == "1"
        assert time.monotonic() - started < 0.2
        # It answers again (the probe gets through): back in the ranking.
        gateway.behaviours["quick"] = "echo"
        gateway.resume.set()
        deadline = time.monotonic() + 5
        while selector.stalls.stalled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert selector.stalls.stalled == []
        assert post(selector, task=TASK, tradeoff=0).headers["X-Faasml-Variant"] == "quick"
    finally:
        selector.stop()


def test_a_variant_never_seen_answering_gets_time_for_a_cold_start(gateway):
    gateway.behaviours["quick"] = "slow:0.6"   # its first answer, far past 4x its 5 ms profile
    selector = make_service(gateway, stall_floor_ms=200.0)
    try:
        response = post(selector, task=TASK, tradeoff=0)
        assert response.headers["X-Faasml-Variant"] == "quick"
        assert response.headers["X-Faasml-Attempts"] == "1" and selector.stalls.stalled == []
    finally:
        selector.stop()


def test_the_last_try_waits_out_the_deadline_so_a_slow_input_still_answers(gateway):
    gateway.behaviours["quick"] = "slow:0.5"
    selector = make_service(gateway, stall_floor_ms=100.0)
    try:
        response = post(selector, variant="quick")   # one candidate: its only try is the last
        assert response.status == 200
        assert response.headers["X-Faasml-Variant"] == "quick"
        assert selector.stalls.stalled == []
    finally:
        selector.stop()


@pytest.fixture
def slow_relisting(monkeypatch):
    """No quick re-listing while replicas start: only requests ask for listings."""
    monkeypatch.setattr(refresher, "STARTING_REFRESH_S", 60.0)


def test_requests_that_find_nothing_healthy_share_one_listing(gateway, slow_relisting):
    for status in gateway.functions:
        status["availableReplicas"] = 0
    gateway.list_delay_s = 0.3
    selector = make_service(gateway)
    try:
        time.sleep(1.2)   # both start-up listings done, and older than the re-listing threshold
        before = gateway.listings
        go = threading.Barrier(20)

        def one():
            go.wait()
            started = time.monotonic()
            return post(selector, task=TASK).status, time.monotonic() - started

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda _: one(), range(20)))
        assert {status for status, _ in results} == {503}
        # One listing (two when a request asks just as the first begins), not twenty in
        # a row; and no request waited for more than the bounded wait plus a listing.
        assert gateway.listings - before <= 2
        assert max(elapsed for _, elapsed in results) < 1.5
    finally:
        selector.stop()


def test_a_request_that_finds_a_replica_ready_since_is_served_after_one_listing(gateway, slow_relisting):
    gateway.functions = [executor_status("quick", TASK, 0.7, 5.0, replicas=1)]
    gateway.functions[0]["availableReplicas"] = 0
    selector = make_service(gateway)
    try:
        time.sleep(0.6)
        gateway.functions[0]["availableReplicas"] = 1   # became ready since the listing
        response = post(selector, task=TASK)
        assert response.status == 200, body(response)
    finally:
        selector.stop()


def test_a_stall_ends_every_other_bounded_attempt_on_that_variant(gateway):
    """Two favoured variants hung: a request that reached one after another request did is
    given up there as soon as the first one's stall bound passes, not at its own."""
    gateway.functions = [executor_status("quick", TASK, 0.70, 5.0),
                         executor_status("middle", TASK, 0.75, 20.0),
                         executor_status("precise", TASK, 0.80, 60.0)]
    selector = make_service(gateway, stall_floor_ms=1000.0, max_queue_ms=100.0)   # two requests queue on one variant
    try:
        for name in ("precise", "middle"):   # seen answering: no cold-start allowance
            assert post(selector, variant=name).status == 200
        gateway.behaviours["precise"] = gateway.behaviours["middle"] = "hang"
        results = {}

        def ask(name):
            started = time.monotonic()
            response = post(selector, task=TASK, tradeoff=1)
            results[name] = (response.status, response.headers.get("X-Faasml-Variant"), time.monotonic() - started)

        first = threading.Thread(target=ask, args=("first",))
        first.start()
        time.sleep(0.5)
        second = threading.Thread(target=ask, args=("second",))
        second.start()
        first.join(10)
        second.join(10)
        gateway.resume.set()
        assert results["first"][:2] == results["second"][:2] == (200, "quick")
        # first: its own two bounds (1 s each); second: half of the first bound, as the
        # first's stall ended it, then the second bound, shared the same way.
        assert results["first"][2] >= 1.9
        assert results["second"][2] < 1.75, results
    finally:
        selector.stop()
