"""The selector's direct calls are counted in the gateway's metrics (direct_calls.py), and on
a real `faasml up` the selector calls a local replica straight, with the gateway still
seeing every invocation."""
from __future__ import annotations

import re
import time
from pathlib import Path

from faasml.bench.selector import ECHO_HANDLER
from faasml.launch import LocalPlatform, executor_function, selector_function, two_nodes
from faasml.runtime.direct_calls import DirectCallCollector, read_counters
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.selector_access import selector_credentials
from faasml.selector.direct import DirectCallMetrics

REPO = Path(__file__).resolve().parents[2]
FUNCTION = "echo.openfaas-fn"


def scraped(selector: DirectCallMetrics):
    return read_counters(selector.render())


def test_merged_counts_match_what_the_gateway_would_have_counted():
    selector, merged, seen_by_gateway = DirectCallMetrics(), GatewayMetrics(), GatewayMetrics()
    collector = DirectCallCollector(None, merged, None)  # type: ignore[arg-type]
    calls = [(200, 0.003), (200, 0.04), (500, 0.2), (200, 7.0)]
    for status, seconds in calls:
        selector.started(FUNCTION)
        selector.finished(FUNCTION, status, seconds)
        seen_by_gateway.started(FUNCTION)
        seen_by_gateway.finished(FUNCTION, status, seconds)
    selector.started(FUNCTION)                    # one still in flight
    seen_by_gateway.started(FUNCTION)
    collector.merge("selector-1", scraped(selector))
    assert merged.render() == seen_by_gateway.render()
    assert merged.load(FUNCTION) == (5, 1) and merged.invocation_count(FUNCTION) == 4

    selector.finished(FUNCTION, 200, 0.004)      # only the growth is added
    seen_by_gateway.finished(FUNCTION, 200, 0.004)
    collector.merge("selector-1", scraped(selector))
    collector.merge("selector-1", scraped(selector))
    assert merged.render() == seen_by_gateway.render()


def test_a_restarted_or_gone_selector_leaves_nothing_in_flight():
    merged = GatewayMetrics()
    collector = DirectCallCollector(None, merged, None)  # type: ignore[arg-type]
    first = DirectCallMetrics()
    for _ in range(3):
        first.started(FUNCTION)
    collector.merge("selector-1", scraped(first))
    assert merged.load(FUNCTION) == (3, 3)
    restarted = DirectCallMetrics()             # counters back at zero: a new process
    restarted.started(FUNCTION)
    restarted.finished(FUNCTION, 200, 0.01)
    collector.merge("selector-1", scraped(restarted))
    assert merged.load(FUNCTION) == (4, 0)      # the three lost calls left the gauge
    restarted.started(FUNCTION)
    collector.merge("selector-1", scraped(restarted))
    assert merged.load(FUNCTION) == (5, 1)
    collector._forget("selector-1")             # its replica is gone
    assert merged.load(FUNCTION) == (5, 0)


def test_on_faasml_up_the_selector_calls_direct_and_the_gateway_counts_it(tmp_path):
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "handler.py").write_text(ECHO_HANDLER)
    functions = {
        "echo": executor_function("echo", tmp_path / "none.card.json", "echo", "cloud", 0.5, 0.05,
                                  handler=tmp_path / "echo"),
        "selector": selector_function({}, REPO / "functions/selector"),
    }
    stage = LocalPlatform.generated(tmp_path, functions, two_nodes()).up()
    try:
        listed = next(f for f in stage.functions() if f["name"] == "echo")
        port = listed["faasml"]["replicaStates"][0]["port"]
        assert listed["faasml"]["directUrls"] == [f"http://127.0.0.1:{port}"]
        calls = 12
        for _ in range(calls):
            status, headers, _ = stage.call("/function/selector?task=echo", b"hello",
                                            {"Content-Type": "text/plain"})
            assert status == 200 and headers["X-Faasml-Variant"] == "echo"
        _, _, selector_metrics = stage.call("/function/selector/metrics")
        assert f'faasml_selector_direct_started_total{{function_name="{FUNCTION}"}} {calls}' \
            in selector_metrics.decode()
        deadline = time.monotonic() + 10
        counted = 0
        while time.monotonic() < deadline:
            counted = next(f for f in stage.functions() if f["name"] == "echo")["invocationCount"]
            if counted >= calls:
                break
            time.sleep(0.2)
        assert counted == calls
        _, _, gateway_metrics = stage.call("/metrics")
        text = gateway_metrics.decode()
        assert re.search(rf'gateway_function_invocation_total{{function_name="{re.escape(FUNCTION)}",'
                         rf'code="200"}} {calls}\b', text), text
        assert f'gateway_function_invocation_inflight{{function_name="{FUNCTION}"}} 0' in text
    finally:
        stage.stop()


def test_a_selector_with_api_keys_is_scraped_with_its_own_first_key(tmp_path):
    from types import SimpleNamespace

    from faasml.runtime.secret_store import SecretStore

    store = SecretStore(tmp_path, {})
    store.create("openfaas-fn", "selector-keys", b"# rotated monthly\nkey-one\nkey-two\n")
    provider = SimpleNamespace(secrets=store)
    guarded = SimpleNamespace(spec=SimpleNamespace(namespace="openfaas-fn",
                                                   environment={"FAASML_API_KEYS_SECRET": "selector-keys"}))
    open_selector = SimpleNamespace(spec=SimpleNamespace(namespace="openfaas-fn", environment={}))
    assert selector_credentials(provider, guarded) == [("Authorization", "Bearer key-one")]
    assert selector_credentials(provider, open_selector) == []

