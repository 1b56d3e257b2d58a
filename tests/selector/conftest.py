"""Shared helpers for the selector tests: scripted clocks and variants built in code."""
from __future__ import annotations

import asyncio
import json
import random
import threading

import pytest

from faasml.http import Headers, Request
from faasml.selector.config import SelectorConfig
from faasml.selector.decision import Decider
from faasml.selector.gateway_client import GatewayEndpoint
from faasml.selector.service import SelectorService
from faasml.selector.load import LoadTracker
from faasml.selector.predictor import LatencyPredictor
from faasml.selector.variant import Variant

from .toygateway import PASSWORD, ToyGateway, executor_status


class ScriptedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_variant(name: str, accuracy: float, latency_ms: float, *, task: str = "image-classification",
                 rtt_ms: float = 0.0, replicas: int = 1, node_class: str = "cloud") -> Variant:
    return Variant(name=name, namespace="openfaas-fn", gateway="http://gw", task=task,
                   accuracy=accuracy, profile_latency_ms=latency_ms, rtt_ms=rtt_ms,
                   replicas=replicas, available_replicas=replicas, node_class=node_class, key=name)


class Stage:
    """A decider over scripted load: clock, rng and in-flight counts all under test control."""

    def __init__(self, seed: int = 7):
        self.clock = ScriptedClock()
        self.rng = random.Random(seed)
        self.load = LoadTracker(clock=self.clock)
        self.predictor = LatencyPredictor(self.load)
        self.decider = Decider(self.predictor, self.load, clock=self.clock)


@pytest.fixture
def stage() -> Stage:
    return Stage()


TASK = "image-classification"


@pytest.fixture
def gateway():
    toy = ToyGateway().start()
    toy.functions = [
        executor_status("quick", TASK, 0.70, 5.0),
        executor_status("middle", TASK, 0.75, 20.0),
        executor_status("precise", TASK, 0.80, 60.0),
        executor_status("embed", "sentence-embedding", 0.9, 8.0),
        {"name": "selector", "namespace": "openfaas-fn", "labels": {"faasml.io/role": "selector"},
         "annotations": {}, "replicas": 1, "availableReplicas": 1},
        {"name": "broken", "namespace": "openfaas-fn", "labels": {"faasml.io/role": "executor"},
         "annotations": {"faasml.io/task": TASK, "faasml.io/accuracy": "high"}},
    ]
    toy.behaviours = {name: "echo" for name in ("quick", "middle", "precise", "embed")}
    yield toy
    toy.stop()


def make_service(*gateways: ToyGateway, **overrides) -> SelectorService:
    settings = {"metrics_poll_s": 60.0, "registry_refresh_s": 60.0, "gateway_password": PASSWORD, **overrides}
    config = SelectorConfig(gateways=tuple(GatewayEndpoint.parse(g.url) for g in gateways), **settings)
    return SelectorService(config).start()


@pytest.fixture
def service(gateway):
    selector = make_service(gateway)
    yield selector
    selector.stop()


class LoopDriver:
    """One event loop on its own thread, as the selector's asyncio server has: requests
    from any test thread become coroutines on it (concurrent ones run concurrently)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-selector-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


_loop: LoopDriver | None = None  # set while a test runs under the `both_drivers` event-loop case


@pytest.fixture(params=["blocking", "event-loop"])
def both_drivers(request):
    """Runs a test twice: requests through `SelectorService.handle` (blocking) and through
    `handle_async` on one event loop (how the selector function serves them)."""
    global _loop
    if request.param == "event-loop":
        _loop = LoopDriver()
    try:
        yield request.param
    finally:
        if _loop is not None:
            _loop.close()
            _loop = None


def handle(service: SelectorService, request: Request):
    return service.handle(request) if _loop is None else _loop.run(service.handle_async(request))


def post(service: SelectorService, body: bytes = b"img", path: str = "/", headers=None, **query):
    request = Request("POST", path, {k: str(v) for k, v in query.items()}, Headers(headers or {}), body)
    return handle(service, request)


def get(service: SelectorService, path: str, **query):
    return handle(service, Request("GET", path, {k: str(v) for k, v in query.items()}, Headers(), b""))


def body(response) -> dict:
    return json.loads(response.body)
