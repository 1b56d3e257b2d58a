"""The table path decides exactly as the candidate path, the plain statement of the rules
(decision.py): two identical worlds, one deciding each way, step through the same random
registry, load, clock and requests, and must agree on every verdict, ranking, score and
reason (hypothesis; `make fuzz` runs thousands of examples)."""
from __future__ import annotations

import math
import random

from hypothesis import given, settings, strategies as st

from faasml.selector.decision import Decider
from faasml.selector.load import GatewayLoad, LoadTracker
from faasml.selector.params import SelectionRequest
from faasml.selector.policies import POLICIES, make_policy
from faasml.selector.predictor import LatencyPredictor
from faasml.selector.variant import Variant

from .conftest import ScriptedClock

NODES = (None, "edge", "cloud")


@st.composite
def variants(draw) -> list[Variant]:
    count = draw(st.integers(1, 30))
    # Few distinct values, so that equal accuracies, latencies and scores (ties) are common,
    # and close ones, so that near-ties (within the tradeoff's margin) are too.
    nudge = st.sampled_from([0.0, 0.001, 0.003])
    accuracy = st.one_of(st.builds(float.__add__, st.sampled_from([0.6, 0.75, 0.8]), nudge), st.floats(0.5, 0.95))
    latency = st.one_of(st.builds(float.__mul__, st.sampled_from([5.0, 20.0, 60.0]), nudge.map(lambda x: 1 + x)),
                        st.floats(1.0, 300.0))
    return [Variant(name=f"v{i}", namespace="openfaas-fn", gateway="http://gw", task="t",
                    accuracy=draw(accuracy), profile_latency_ms=draw(latency),
                    rtt_ms=draw(st.sampled_from([0.0, 0.0, 5.0, 40.0])),
                    available_replicas=draw(st.sampled_from([0, 1, 1, 1, 2])),
                    schedulable=draw(st.booleans()), node=draw(st.sampled_from(NODES)),
                    node_cpus=draw(st.sampled_from([1, 2])),
                    cpu_millis=draw(st.sampled_from([250.0, 1000.0])), key=f"v{i}")
            for i in range(count)]


REQUESTS = st.builds(
    SelectionRequest, task=st.just("t"),
    tradeoff=st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)),
    max_latency_ms=st.one_of(st.none(), st.none(), st.sampled_from([10.0, 50.0, 100.0]), st.floats(1.0, 500.0)),
    min_accuracy=st.one_of(st.none(), st.none(), st.sampled_from([0.7, 0.8]), st.floats(0.5, 1.0)))
# What happens between two decisions: (what, which variant, a number).
EVENTS = st.lists(st.tuples(st.sampled_from(["release", "observe", "gateway", "down", "up", "wait", "acquire"]),
                            st.integers(0, 29), st.floats(0.0, 400.0)), max_size=6)
# Ours most of the time: the one the table path ranks itself.
POLICY_NAMES = st.one_of(st.just("tradeoff"), st.just("tradeoff"), st.sampled_from(sorted(POLICIES)))
STEPS = st.lists(st.tuples(EVENTS, REQUESTS, POLICY_NAMES, st.booleans()),
                 min_size=1, max_size=12)


class World:
    """A decider with its own load, clock and policy randomness."""

    def __init__(self, use_table: bool, seed: int):
        self.clock = ScriptedClock()
        self.load = LoadTracker(clock=self.clock)
        self.decider = Decider(LatencyPredictor(self.load), self.load, clock=self.clock)
        self.decider.table_from = 1 if use_table else math.inf
        self.seed = seed
        self.policies: dict[str, object] = {}

    def policy(self, name: str):
        if name not in self.policies:
            self.policies[name] = make_policy(name, random.Random(self.seed))
        return self.policies[name]

    def apply(self, event: tuple[str, int, float], registry: list[Variant]) -> None:
        what, index, number = event
        key = registry[index % len(registry)].id
        if what == "release":
            self.load.release(key, busy_for_ms=number if number > 300 else 0.0)
        elif what == "acquire":
            self.load.acquire(key)
        elif what == "observe":
            self.load.observe(key, number + 1.0, number * 0.8 if number < 200 else None)
        elif what == "gateway":
            self.load.update_gateway([(key, GatewayLoad(inflight=number % 20, replicas=int(number) % 3 or None,
                                                        observed_at=self.clock()))])
        elif what == "down":
            self.load.mark_down(key)
        elif what == "up":
            self.load.mark_up(key)
        else:
            self.clock.advance(number / 10.0)  # up to 40 s: windows, gateway figures, budgets age


def outcome(decision) -> dict:
    error = decision.error
    return {
        "error": None if error is None else (type(error).__name__, error.status, error.code, str(error),
                                             error.details, dict(getattr(error, "headers", {}) or {})),
        "ranked": [c.key for c in decision.ranked],
        "acquired": decision.acquired,
        "policy": decision.policy,
        "candidates": [(c.key, c.score, c.excluded, c.prediction.as_dict()) for c in decision.candidates],
    }


@settings(max_examples=60, deadline=None)
@given(registry=variants(), steps=STEPS, seed=st.integers(0, 1000))
def test_the_table_path_decides_as_the_candidate_path(registry, steps, seed):
    table, reference = World(True, seed), World(False, seed)
    for events, request, policy, acquire in steps:
        for world in (table, reference):
            for event in events:
                world.apply(event, registry)
        fast = table.decider.evaluate(registry, request, table.policy(policy), acquire=acquire)
        plain = reference.decider.evaluate(registry, request, reference.policy(policy), acquire=acquire)
        assert outcome(fast) == outcome(plain)
        if fast.acquired and random.Random(seed).random() < 0.5:
            for world in (table, reference):
                world.load.release(fast.acquired)


def test_a_decision_rereads_only_the_variants_whose_load_moved():
    """The point of the table: after a dispatch to one variant, the next decision over
    200 predicts that one again, not the other 199."""
    clock = ScriptedClock()
    load = LoadTracker(clock=clock)
    predictor = LatencyPredictor(load)
    decider = Decider(predictor, load, clock=clock)
    registry = [Variant(name=f"v{i}", namespace="openfaas-fn", gateway="http://gw", task="t",
                        accuracy=0.6 + i / 1000, profile_latency_ms=10.0 + i, key=f"v{i}") for i in range(200)]
    policy = make_policy("tradeoff", random.Random(1))
    first = decider.decide(registry, SelectionRequest(task="t"), policy)
    computed = []
    original = predictor._compute
    predictor._compute = lambda variant, now: computed.append(variant.id) or original(variant, now)
    decider.decide(registry, SelectionRequest(task="t"), policy)
    assert computed == [first.acquired]
