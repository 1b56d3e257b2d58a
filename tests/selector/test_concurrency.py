"""Hundreds of concurrent requests through the selector, without thread starvation (slow:
it starts `faasml up`)."""
from __future__ import annotations

import concurrent.futures
import time
import urllib.request
from pathlib import Path

import pytest

from faasml.selector.localstage import LocalStage, executor_function, selector_function, two_nodes

pytestmark = pytest.mark.slow
TEMPLATE_ENTRYPOINT = Path(__file__).resolve().parents[2] / "templates/faasml-python3-http/index.py"
# waitress stops accepting connections past `connection_limit` (default 100), and idle
# kept-alive connections from the gateway count: past 100 concurrent requests the
# selector starves no matter how many threads it has. The template must raise it.
TEMPLATE_LIMITS_CONNECTIONS = "connection_limit" in TEMPLATE_ENTRYPOINT.read_text()
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
    selector = selector_function({"FAASML_SERVER_THREADS": "512", "FAASML_REPLICA_CONCURRENCY": "1000"})
    local = LocalStage(folder, {"sleepy": sleepy, "selector": selector}, two_nodes()).start()
    yield local
    local.stop()


@pytest.mark.xfail(not TEMPLATE_LIMITS_CONNECTIONS, strict=True, raises=(OSError, AssertionError),
                   reason="templates/faasml-python3-http/index.py keeps waitress's default connection_limit=100")
def test_hundreds_of_concurrent_requests_are_held_not_starved(stage):
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
