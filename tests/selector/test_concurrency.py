"""Hundreds of concurrent requests through the selector, without thread starvation (slow:
it starts `faasml up`)."""
from __future__ import annotations

import concurrent.futures
import time
import urllib.request

import pytest

from faasml.launch import LocalPlatform, executor_function, selector_function, two_nodes

from .runtime_stage import REPO

pytestmark = pytest.mark.slow
CONCURRENT = 300
SLEEP_S = 1.0
SLEEPY_HANDLER = f'''import time


def handle(event, context):
    time.sleep({SLEEP_S})
    return {{"statusCode": 200, "body": b"{{}}", "headers": {{"Content-Type": "application/json"}}}}
'''


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("selector-concurrency")
    (folder / "sleepy").mkdir()
    (folder / "sleepy" / "handler.py").write_text(SLEEPY_HANDLER)
    sleepy = executor_function("sleepy", folder / "none.card.json", "nap", "cloud", 0.5, SLEEP_S * 1000,
                               handler=folder / "sleepy")
    sleepy["environment"]["FAASML_SERVER_THREADS"] = "512"   # the toy itself must not be the limit
    # One sleepy replica runs all its requests at once: tell the queue model so.
    # The queue cap off: this is about the server holding hundreds of requests in flight,
    # not about admission (which would hold or shed most of a 300-request burst).
    selector = selector_function({"FAASML_REPLICA_CONCURRENCY": "1000",
                                  "FAASML_MAX_QUEUE_MS": "600000"},
                                 REPO / "functions/selector")
    local = LocalPlatform.generated(folder, {"sleepy": sleepy, "selector": selector}, two_nodes()).up()
    yield local
    local.stop()


def test_hundreds_of_concurrent_requests_are_held_not_starved(stage):
    # The selector serves them as coroutines on one event loop (no thread per request);
    # the sleepy toy needs threads *and* waitress's connection_limit above the
    # concurrency: past waitress's default of 100 open connections it stops accepting.
    def call(_: int) -> int:
        request = urllib.request.Request(f"{stage.url}/function/selector?task=nap", data=b"x", method="POST")
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(call, range(CONCURRENT)))
    elapsed = time.perf_counter() - started
    assert statuses == [200] * CONCURRENT
    # Served in parallel: a starved selector (8 threads) would need CONCURRENT/8 * SLEEP_S = 37 s.
    assert elapsed < 10 * SLEEP_S, elapsed
