"""Discovery refresh, gateway metrics parsing and upstream saturation, over real HTTP."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from faasml.selector.client import HttpClient
from faasml.selector.gateway_client import Gateway, GatewayEndpoint
from faasml.selector.loadsource import GatewayMetricsLoadSource

from .conftest import TASK, body, get, make_service, post
from .toygateway import executor_status


def test_registry_follows_deploys_and_removals(gateway):
    selector = make_service(gateway, registry_refresh_s=0.1, metrics_poll_s=0.05)
    try:
        gateway.functions.append(executor_status("newcomer", TASK, 0.99, 5.0))
        gateway.behaviours["newcomer"] = "echo"
        deadline = time.monotonic() + 5
        while "newcomer" not in selector.registry.snapshot.by_key and time.monotonic() < deadline:
            time.sleep(0.05)
        assert post(selector, task=TASK, tradeoff=1).headers["X-Faasml-Variant"] == "newcomer"
        gateway.functions = [f for f in gateway.functions if f["name"] != "newcomer"]
        deadline = time.monotonic() + 5
        while "newcomer" in selector.registry.snapshot.by_key and time.monotonic() < deadline:
            time.sleep(0.05)
        assert post(selector, task=TASK, tradeoff=1).headers["X-Faasml-Variant"] == "precise"
    finally:
        selector.stop()


def test_upstream_429_everywhere_is_429_with_retry_after(gateway):
    for name in ("quick", "middle", "precise"):
        gateway.behaviours[name] = "status:429"
    selector = make_service(gateway)
    try:
        response = post(selector, task=TASK)
        assert response.status == 429 and response.headers["Retry-After"]
        assert json.loads(response.body)["error"]["code"] == "saturated"
    finally:
        selector.stop()


def test_gateway_metrics_give_mean_latency_between_polls(gateway):
    series = 'gateway_functions_seconds_{kind}{{code="200",function_name="quick.openfaas-fn"}} {value}\n'
    clock = iter([10.0, 11.0])
    source = GatewayMetricsLoadSource(Gateway(GatewayEndpoint.parse(gateway.url), HttpClient()), lambda: next(clock))
    gateway.metrics_text = series.format(kind="sum", value=1.0) + series.format(kind="count", value=10)
    assert asyncio.run(source.poll())["quick.openfaas-fn"].mean_latency_ms is None   # one poll: no window yet
    gateway.metrics_text = series.format(kind="sum", value=1.6) + series.format(kind="count", value=20)
    load = asyncio.run(source.poll())["quick.openfaas-fn"]
    assert load.mean_latency_ms == pytest.approx(60.0) and load.observed_at == 11.0


def test_a_wake_during_a_listing_gets_a_listing_begun_after_it(gateway):
    """A refused address or a vanished variant wakes the refresher; a listing already
    under way may hold the stale answer, so another one follows it."""
    gateway.list_delay_s = 0.3
    service = make_service(gateway)   # lists once; its refresher begins a second at once
    try:
        deadline = time.monotonic() + 3
        while not (service.registry.started == 2 and service.registry.generation == 1):
            assert time.monotonic() < deadline, (service.registry.started, service.registry.generation)
            time.sleep(0.005)
        service.driver.loop.call_soon_threadsafe(service.refresher.wake)   # stale while the second lists
        while service.registry.generation < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert service.registry.started == service.registry.generation == 3, \
            "the wake was answered by the listing under way"
    finally:
        service.stop()


def test_a_bad_metrics_line_is_skipped_and_counted_and_sampling_goes_on(gateway):
    """One odd line from a gateway's /metrics must not stop load sampling, nor cost the
    answer's other samples: the parser skips it and counts it (faasml/promtext.py)."""
    from faasml import promtext

    before = promtext.skipped_lines()
    gateway.metrics_text = ('gateway_service_count{function_name="quick.openfaas-fn"} NaN-ish\n'
                            'gateway_function_invocation_inflight{function_name="quick.openfaas-fn"}\n'
                            'gateway_service_count{function_name="quick.openfaas-fn"} 2\n')
    selector = make_service(gateway, metrics_poll_s=0.05)
    try:
        record = selector.background.records["load-sampling"]
        deadline = time.monotonic() + 5
        while (record.last_ok_at is None or promtext.skipped_lines() - before < 2) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert record.last_ok_at is not None and record.failures == 0 and record.alive
        assert promtext.skipped_lines() - before >= 2
        assert get(selector, "/health").status == 200
        assert "faasml_selector_metrics_lines_skipped_total" in get(selector, "/metrics").body.decode()
    finally:
        selector.stop()


def test_a_round_that_raises_is_counted_and_the_next_one_runs(gateway):
    """A reading the parser accepts but the load source cannot use (an infinite replica
    count) fails its round: logged, counted, and sampling goes on."""
    gateway.metrics_text = 'gateway_service_count{function_name="quick.openfaas-fn"} +Inf\n'
    selector = make_service(gateway, metrics_poll_s=0.05)
    try:
        record = selector.background.records["load-sampling"]
        deadline = time.monotonic() + 5
        while record.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert record.failures >= 2 and record.alive and "OverflowError" in record.last_error
        assert get(selector, "/health").status == 200
        assert 'faasml_selector_background_failures_total{task="load-sampling"}' in get(selector, "/metrics").body.decode()
        gateway.metrics_text = 'gateway_service_count{function_name="quick.openfaas-fn"} 2\n'
        while record.last_ok_at is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert record.last_ok_at is not None
    finally:
        selector.stop()


def test_a_stopped_background_task_makes_the_selector_unhealthy(gateway):
    selector = make_service(gateway)
    try:
        assert get(selector, "/health").status == 200 and get(selector, "/ready").status == 200
        selector.driver.loop.call_soon_threadsafe(selector.background.records["registry-refresh"].task.cancel)
        deadline = time.monotonic() + 5
        while selector.background.records["registry-refresh"].alive and time.monotonic() < deadline:
            time.sleep(0.01)
        health = get(selector, "/health")
        assert health.status == 503 and body(health)["error"]["code"] == "background_stopped"
        assert "registry-refresh" in body(health)["error"]["message"]
        assert get(selector, "/ready").status == 503
    finally:
        selector.stop()
