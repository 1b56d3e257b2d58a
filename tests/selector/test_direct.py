"""Direct calls: the event-loop path reaches the chosen function without its gateway when
an address is offered, counts the call as the gateway would, and falls back to the
gateway when that address refuses the connection."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from faasml.http import Headers, Request
from faasml.runtime.replicas import free_port
from faasml.selector.config import SelectorConfig
from faasml.selector.direct import DirectCallMetrics, DirectRoutes, check_url_template
from faasml.settings import ConfigError, load

from .conftest import TASK, body, make_service, make_variant
from .toygateway import ToyGateway

QUICK = "quick.openfaas-fn"


@pytest.fixture
def replica():
    """A second toy server playing the `quick` function's own replica."""
    toy = ToyGateway().start()
    toy.behaviours = {"quick": "echo"}
    yield toy
    toy.stop()


def offer(gateway: ToyGateway, urls: list[str]) -> None:
    """Make the gateway's listing offer `urls` for quick, as `faasml up` does."""
    for status in gateway.functions:
        if status["name"] == "quick":
            status["faasml"] = {"directUrls": urls}


def ask(service, **query) -> object:
    request = Request("POST", "/", {"task": TASK, "tradeoff": "0", **query},
                      Headers({"Content-Type": "image/jpeg", "X-Start-Time": "1"}), b"img")
    return service.handle(request)


def posts(toy: ToyGateway, name: str) -> list:
    return [call for call in toy.calls if call[0] == name]


def test_auto_calls_the_offered_address_and_counts_it_as_the_gateway_would(gateway, replica):
    offer(gateway, [f"{replica.url}/function/quick"])
    service = make_service(gateway)
    try:
        response = ask(service)
        assert response.status == 200 and body(response)["variant"] == "quick"
        assert len(posts(replica, "quick")) == 1 and posts(gateway, "quick") == []
        sent = posts(replica, "quick")[0][2]
        # The gateway's own stamp is replaced, as the gateway would on its way.
        assert abs(int(sent["X-Start-Time"]) / 1e9 - time.time()) < 5
        text = service.handle(Request("GET", "/metrics")).body.decode()
        assert f'faasml_selector_direct_started_total{{function_name="{QUICK}"}} 1' in text
        assert f'faasml_selector_direct_seconds_count{{code="200",function_name="{QUICK}"}} 1' in text
    finally:
        service.stop()


def test_off_forwards_through_the_gateway(gateway, replica):
    offer(gateway, [f"{replica.url}/function/quick"])
    service = make_service(gateway, direct_functions="off")
    try:
        assert ask(service).status == 200
        assert posts(replica, "quick") == [] and len(posts(gateway, "quick")) == 1
        assert "faasml_selector_direct" not in service.handle(Request("GET", "/metrics")).body.decode()
    finally:
        service.stop()


def test_a_refused_direct_address_sends_the_same_call_through_the_gateway(gateway):
    offer(gateway, [f"http://127.0.0.1:{free_port()}"])   # nothing listens there
    service = make_service(gateway)
    try:
        listed = gateway.listings
        response = ask(service)
        assert response.status == 200 and response.headers["X-Faasml-Attempts"] == "1"
        assert len(posts(gateway, "quick")) == 1
        deadline = time.monotonic() + 3
        while gateway.listings == listed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gateway.listings > listed, "a stale address should make the selector list again"
        text = service.handle(Request("GET", "/metrics")).body.decode()
        assert f'faasml_selector_direct_seconds_count{{code="502",function_name="{QUICK}"}} 1' in text
    finally:
        service.stop()


def test_the_url_template_names_every_function(gateway, replica):
    service = make_service(gateway, direct_url=f"{replica.url}/function/{{name}}")
    try:
        assert ask(service).status == 200
        assert len(posts(replica, "quick")) == 1 and posts(gateway, "quick") == []
    finally:
        service.stop()


def test_round_robin_over_the_offered_replicas():
    routes = DirectRoutes("auto")
    variant = make_variant("v", 0.7, 5.0)
    assert routes.url_for(variant) is None
    two = replace(make_variant("w", 0.7, 5.0), direct_urls=("http://a:1", "http://b:2"))
    assert {routes.url_for(two) for _ in range(4)} == {"http://a:1", "http://b:2"}
    assert DirectRoutes("off").url_for(two) is None
    assert DirectRoutes("auto", "http://{name}.{namespace}.svc:8080").url_for(variant) == \
        "http://v.openfaas-fn.svc:8080"


@pytest.mark.parametrize("template", ["ftp://{name}", "http://fixed:8080", "http://{name}.{zone}:8080"])
def test_bad_url_templates_are_refused(template):
    with pytest.raises(ValueError):
        check_url_template(template)
    with pytest.raises(ConfigError, match="FAASML_DIRECT_URL"):
        load(SelectorConfig, {"FAASML_DIRECT_URL": template})


def test_direct_metrics_render_the_gateway_shapes():
    metrics = DirectCallMetrics()
    assert metrics.render() == ""
    metrics.started("f.ns")
    metrics.finished("f.ns", 200, 0.003)
    text = metrics.render()
    assert 'faasml_selector_direct_seconds_bucket{code="200",function_name="f.ns",le="0.005"} 1' in text
    assert 'faasml_selector_direct_seconds_bucket{code="200",function_name="f.ns",le="+Inf"} 1' in text
