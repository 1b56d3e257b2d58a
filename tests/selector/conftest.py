"""Shared helpers for the selector tests: scripted clocks and variants built in code."""
from __future__ import annotations

import random

import pytest

from faasml.selector.decision import Decider
from faasml.selector.load import LoadTracker
from faasml.selector.predictor import LatencyPredictor
from faasml.selector.variant import Variant


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
