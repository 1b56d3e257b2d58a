"""Shared helpers for the selector tests: the engine under a scripted clock and random
source (no server, no thread), and the shell on an event loop against a toy gateway."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import threading
from typing import Sequence

import pytest

from faasml.http import Headers, Request
from faasml.selector.config import SelectorConfig
from faasml.selector.engine import Decision, Engine
from faasml.selector.engine.registry import snapshot_of
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.variant import Variant
from faasml.selector.gateway_client import GatewayEndpoint
from faasml.selector.service import SelectorService

from .toygateway import PASSWORD, ToyGateway, executor_status

TASK = "image-classification"


class ScriptedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_variant(name: str, accuracy: float, latency_ms: float, *, task: str = TASK,
                 rtt_ms: float = 0.0, replicas: int = 1, node_class: str = "cloud") -> Variant:
    return Variant(name=name, namespace="openfaas-fn", gateway="http://gw", task=task,
                   accuracy=accuracy, profile_latency_ms=latency_ms, rtt_ms=rtt_ms,
                   replicas=replicas, available_replicas=replicas, node_class=node_class, key=name)


def on(node: str, variant: Variant, cpus: int = 1) -> Variant:
    return dataclasses.replace(variant, node=node, node_cpus=cpus)


class Stage:
    """The engine over scripted time and randomness; `decide` puts the variants it is
    given in the registry first (a new snapshot only when they change)."""

    def __init__(self, seed: int = 7, **settings):
        self.clock = ScriptedClock()
        self.rng = random.Random(seed)
        # These tests state rankings over variants known by their profiles only, which ours
        # would explore (test_exploration.py tests that): off unless a test turns it on.
        settings = {"explore_s": 0.0, "explore_aged_s": 0.0, **settings}
        self.config = SelectorConfig(**settings)
        self.engine = Engine(self.config.engine(), self.rng)
        self._variants: tuple[Variant, ...] = ()

    def use(self, variants: Sequence[Variant]) -> None:
        if tuple(variants) != self._variants:
            self._variants = tuple(variants)
            self.engine.use_snapshot(snapshot_of(variants, self.clock()))

    def evaluate(self, variants: Sequence[Variant], request: SelectionRequest, policy: str = "tradeoff",
                 acquire: bool = False) -> Decision:
        """The decision, with a 422/429/503 verdict in `error`."""
        self.use(variants)
        if not request.variant:
            request = dataclasses.replace(request, policy=policy)
        return self.engine.decide(request, self.clock(), acquire=acquire)

    def decide(self, variants: Sequence[Variant], request: SelectionRequest, policy: str = "tradeoff",
               acquire: bool = True) -> Decision:
        """The decision; a 422/429/503 verdict raised."""
        decision = self.evaluate(variants, request, policy, acquire)
        if decision.error is not None:
            raise decision.error
        return decision

    def acquire(self, key: str, node: str | None = None, work_ms: float = 0.0, weight: float = 1000.0):
        """A request in flight to `key`, putting `work_ms` on `node` (as a dispatch would)."""
        return self.engine.state.acquire(key, node, weight, work_ms)

    def release(self, ticket, busy_for_ms: float = 0.0) -> None:
        self.engine.release(ticket, self.clock(), busy_for_ms)

    def observe(self, key: str, wall_ms: float, compute_ms: float | None) -> None:
        self.engine.observe(key, self.clock(), wall_ms, compute_ms)

    def predict(self, variant: Variant):
        """The engine's prediction for `variant` now (it joins the registry if need be)."""
        if variant.id not in self.engine.snapshot.by_key:
            self.use(self._variants + (variant,))
        return self.engine.prediction(variant.id, self.clock())


@pytest.fixture
def stage() -> Stage:
    return Stage()


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


class LoopDriver:
    """The selector's event loop on a thread of the test's own, as the template's asyncio
    server runs it: requests from any test thread become coroutines on it (concurrent
    ones run concurrently)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-selector-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout_s: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class LiveSelector:
    """A `SelectorService` started on its own loop; `handle` serves one request from the
    test's thread."""

    def __init__(self, config: SelectorConfig, **kwargs):
        self.driver = LoopDriver()
        self.service = SelectorService(config, **kwargs)
        self.driver.run(self.service.start())

    def handle(self, request: Request):
        return self.driver.run(self.service.handle(request))

    def run(self, coroutine):
        return self.driver.run(coroutine)

    def __getattr__(self, name):
        return getattr(self.service, name)

    def stop(self) -> None:
        try:
            self.driver.run(self.service.stop())
        finally:
            self.driver.close()


def make_service(*gateways: ToyGateway, clock=None, **overrides) -> LiveSelector:
    """A started selector over the toy gateways; `clock` scripts its time (the engine's,
    and the deadlines')."""
    # Exploration off unless asked for, as in `Stage`: these tests state which variant a
    # request gets over toy variants known by their annotations only.
    settings = {"metrics_poll_s": 60.0, "registry_refresh_s": 60.0, "gateway_password": PASSWORD,
                "explore_s": 0.0, "explore_aged_s": 0.0, **overrides}
    config = SelectorConfig(gateways=tuple(GatewayEndpoint.parse(g.url) for g in gateways), **settings)
    return LiveSelector(config, **({"clock": clock} if clock is not None else {}))


@pytest.fixture
def service(gateway):
    selector = make_service(gateway)
    yield selector
    selector.stop()


def post(service: LiveSelector, body: bytes = b"img", path: str = "/", headers=None, **query):
    request = Request("POST", path, {k: str(v) for k, v in query.items()}, Headers(headers or {}), body)
    return service.handle(request)


def get(service: LiveSelector, path: str, **query):
    return service.handle(Request("GET", path, {k: str(v) for k, v in query.items()}, Headers(), b""))


def body(response) -> dict:
    return json.loads(response.body)
