"""422 means "no variant can ever meet this": never an answer to momentary slowness."""
from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor

from .conftest import TASK, body, make_service, post


def test_no_422_under_load_for_a_limit_met_when_idle(gateway):
    # quick is profiled at 5 ms but, contended, every call takes 60 ms: a 30 ms limit is
    # met when idle, so the verdicts under load may be 200, 429 or 504, never 422.
    gateway.behaviours.update(quick="busy:0.06", middle="busy:0.08", precise="busy:0.1")
    selector = make_service(gateway)
    try:
        for _ in range(15):  # a window of contended observations, without a limit
            assert post(selector, task=TASK, tradeoff=0).status == 200
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: post(selector, task=TASK, tradeoff=0, max_latency_ms=30),
                                      range(160)))
        statuses = collections.Counter(r.status for r in responses)
        assert statuses[422] == 0, statuses
        assert statuses[429] > 0      # the load was real: some were shed
        # A limit no variant meets even when idle is still a 422, under the same load.
        never = post(selector, task=TASK, tradeoff=0, max_latency_ms=2)
        assert never.status == 422 and body(never)["error"]["limit"] == "max_latency_ms"
    finally:
        selector.stop()
