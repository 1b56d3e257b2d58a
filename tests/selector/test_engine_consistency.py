"""The engine keeps each task's predictions between decisions and recomputes only the rows
whose signals moved (engine/predict.py). Two identical worlds step through the same
random registry, events, clock and requests: one keeps its tables, the other rebuilds
them from scratch before every decision; they must agree on every verdict, ranking,
score, reason and prediction. Each decision's masks must also agree with the reasons the
verdict functions word, and ours' scores with the formula written out plainly
(hypothesis; `make fuzz` runs thousands of examples)."""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings, strategies as st

from faasml.selector.config import SelectorConfig
from faasml.selector.engine import Engine, predict as predict_module
from faasml.selector.engine.policies import POLICIES
from faasml.selector.engine.registry import snapshot_of
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.signals import GatewayLoad
from faasml.selector.engine.variant import Variant

from .conftest import Stage, make_variant, on

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
    return [Variant(name=f"v{i:02d}", namespace="openfaas-fn", gateway="http://gw", task="t",
                    accuracy=draw(accuracy), profile_latency_ms=draw(latency),
                    rtt_ms=draw(st.sampled_from([0.0, 0.0, 5.0, 40.0])),
                    available_replicas=draw(st.sampled_from([0, 1, 1, 1, 2])),
                    schedulable=draw(st.booleans()), node=draw(st.sampled_from(NODES)),
                    node_cpus=draw(st.sampled_from([1, 2])),
                    cpu_millis=draw(st.sampled_from([250.0, 1000.0])), key=f"v{i:02d}")
            for i in range(count)]


REQUESTS = st.builds(
    SelectionRequest, task=st.just("t"),
    tradeoff=st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)),
    max_latency_ms=st.one_of(st.none(), st.none(), st.sampled_from([10.0, 50.0, 100.0]), st.floats(1.0, 500.0)),
    min_accuracy=st.one_of(st.none(), st.none(), st.sampled_from([0.7, 0.8]), st.floats(0.5, 1.0)),
    variant=st.one_of(st.none(), st.none(), st.none(), st.just("v00")))
# What happens between two decisions: (what, which variant, a number).
EVENTS = st.lists(st.tuples(st.sampled_from(["release", "observe", "gateway", "down", "up", "wait", "acquire"]),
                            st.integers(0, 29), st.floats(0.0, 400.0)), max_size=6)
# Ours most of the time.
POLICY_NAMES = st.one_of(st.just("tradeoff"), st.just("tradeoff"), st.sampled_from(sorted(POLICIES)))
STEPS = st.lists(st.tuples(EVENTS, REQUESTS, POLICY_NAMES, st.booleans()), min_size=1, max_size=12)


class World:
    """An engine with its own clock, randomness and tickets; `scratch` rebuilds its tables
    before every decision."""

    def __init__(self, registry: list[Variant], seed: int, scratch: bool):
        self.now = 1000.0
        self.engine = Engine(SelectorConfig().engine(), random.Random(seed))
        self.engine.use_snapshot(snapshot_of(registry))
        self.registry = registry
        self.scratch = scratch
        self.tickets = []

    def apply(self, event: tuple[str, int, float]) -> None:
        what, index, number = event
        key = self.registry[index % len(self.registry)].id
        engine = self.engine
        if what == "release":
            if self.tickets:
                engine.release(self.tickets.pop(index % len(self.tickets)), self.now,
                               busy_for_ms=number if number > 300 else 0.0)
        elif what == "acquire":
            self.tickets.append(engine.acquire(key, self.now))
        elif what == "observe":
            # (some with the prediction they were made on: calibration moves too)
            engine.observe(key, self.now, number + 1.0, number * 0.8 if number < 200 else None,
                           predicted_ms=number / 2 + 1.0 if index % 2 else None)
        elif what == "gateway":
            engine.update_gateway([(key, GatewayLoad(inflight=number % 20, replicas=int(number) % 3 or None,
                                                     observed_at=self.now))])
        elif what == "down":
            engine.mark_down(key, self.now)
        elif what == "up":
            engine.mark_up(key)
        else:
            self.now += number / 10.0  # up to 40 s: windows, gateway figures, budgets age

    def decide(self, request: SelectionRequest, acquire: bool):
        if self.scratch:
            self.engine.use_snapshot(self.engine.snapshot)
        decision = self.engine.decide(request, self.now, acquire=acquire)
        if decision.ticket is not None:
            self.tickets.append(decision.ticket)
        return decision


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


def plain_tradeoff_scores(decision, weight: float, limit_ms: float | None = None,
                          sure_share: float = 0.0) -> dict[str, float]:
    """Ours' scores written out with floats, over the admitted candidates."""
    admitted = list(decision.ranked)
    acc = [c.variant.accuracy for c in admitted]
    idle = [math.log(max(c.prediction.rtt_ms + c.prediction.service_ms, 1e-3)) for c in admitted]
    acc_span = max(max(acc) - min(acc), 0.01)
    idle_span = max(max(idle) - min(idle), math.log(2.0))
    if limit_ms is not None and sure_share > 0:
        # headroom against the limit, full within sure_share of it; accuracy at least 0.1
        return {c.key: (1 - weight) * min(1.0, max(0.0, (limit_ms - c.prediction.total_ms) / (limit_ms * (1 - sure_share))))
                + max(weight, 0.1) / acc_span * (c.variant.accuracy - min(acc)) for c in admitted}
    return {c.key: weight / acc_span * (c.variant.accuracy - min(acc))
            + (1 - weight) / idle_span * (max(idle) - math.log(max(c.prediction.total_ms, 1e-3)))
            for c in admitted}


@settings(max_examples=60, deadline=None)
@given(registry=variants(), steps=STEPS, seed=st.integers(0, 1000))
def test_kept_tables_decide_as_tables_rebuilt_from_scratch(registry, steps, seed):
    kept, scratch = World(registry, seed, False), World(registry, seed, True)
    for events, request, policy, acquire in steps:
        request = SelectionRequest(**{**request.__dict__, "policy": policy})
        for world in (kept, scratch):
            for event in events:
                world.apply(event)
        decisions = [world.decide(request, acquire) for world in (kept, scratch)]
        assert outcome(decisions[0]) == outcome(decisions[1])
        decision = decisions[0]
        if decision.error is None:
            admitted = {c.key for c in decision.ranked}
            # The masks and the worded reasons agree: out exactly when a reason is given.
            assert admitted == {c.key for c in decision.candidates if c.excluded is None}
            if decision.policy == "tradeoff":
                plain = plain_tradeoff_scores(decision, request.tradeoff, request.max_latency_ms,
                                              SelectorConfig().sure_share)
                assert all(c.score == pytest.approx(plain[c.key], rel=1e-9, abs=1e-9) for c in decision.ranked)
        else:
            assert not decision.ranked and decision.acquired is None


def test_a_decision_recomputes_only_the_variants_whose_load_moved(monkeypatch):
    """After a dispatch to one variant, the next decision over 200 predicts that one
    again, not the other 199."""
    engine = Engine(SelectorConfig().engine(), random.Random(1))
    registry = [Variant(name=f"v{i:03d}", namespace="openfaas-fn", gateway="http://gw", task="t",
                        accuracy=0.6 + i / 1000, profile_latency_ms=10.0 + i, key=f"v{i:03d}") for i in range(200)]
    engine.use_snapshot(snapshot_of(registry))
    first = engine.decide(SelectionRequest(task="t"), 1.0)
    computed = []
    original = predict_module.predict
    monkeypatch.setattr(predict_module, "predict",
                        lambda variant, *args: computed.append(variant.id) or original(variant, *args))
    engine.decide(SelectionRequest(task="t"), 1.0)
    assert computed == [first.acquired]


def test_an_unchanged_variant_keeps_its_prediction(stage):
    variant = make_variant("a", 0.7, 10.0)
    first = stage.predict(variant)
    assert stage.predict(variant) is first


@pytest.mark.parametrize("change", ["acquire", "observe", "gateway"])
def test_its_own_load_moving_recomputes_it(stage, change):
    variant = make_variant("a", 0.7, 10.0)
    before = stage.predict(variant)
    if change == "acquire":
        stage.acquire("a")
    elif change == "observe":
        for _ in range(20):
            stage.observe("a", 41.0, 40.0)
    else:
        stage.engine.update_gateway([("a", GatewayLoad(inflight=5, observed_at=stage.clock()))])
    after = stage.predict(variant)
    assert after is not before and after.total_ms > before.total_ms


def test_a_neighbours_work_on_the_node_recomputes_it(stage):
    mine, neighbour = on("edge", make_variant("a", 0.7, 10.0)), on("edge", make_variant("b", 0.8, 20.0))
    stage.use([mine, neighbour])
    before = stage.predict(mine)
    ticket = stage.acquire("b", "edge", 20.0)
    assert stage.predict(mine).total_ms == pytest.approx(30.0)
    stage.release(ticket)
    assert stage.predict(mine).total_ms == pytest.approx(before.total_ms)


def test_observations_ageing_out_recompute_it(stage):
    variant = make_variant("a", 0.7, 10.0)
    stage.use([variant])
    for _ in range(20):
        stage.observe("a", 31.0, 30.0)
    assert stage.predict(variant).service_source == "observed"
    stage.clock.advance(stage.config.observed_max_age_s + 1)
    assert stage.predict(variant).service_source == "last observed"


def test_a_gateway_figure_ageing_out_recomputes_it(stage):
    variant = make_variant("a", 0.7, 10.0)
    stage.use([variant])
    stage.engine.update_gateway([("a", GatewayLoad(inflight=5, observed_at=stage.clock()))])
    assert stage.predict(variant).load_source == "gateway"
    stage.clock.advance(stage.config.gateway_max_age_s + 1)
    assert stage.predict(variant).load_source == "selector"


def test_a_new_node_speed_reaches_never_observed_neighbours(stage):
    observed, unobserved = on("edge", make_variant("a", 0.7, 10.0)), on("edge", make_variant("b", 0.8, 20.0))
    stage.use([observed, unobserved])
    assert stage.predict(unobserved).service_ms == pytest.approx(20.0)
    for _ in range(20):
        stage.observe("a", 21.0, 20.0)   # this node runs 2x slower than the profiles
    stage.predict(observed)
    assert stage.predict(unobserved).service_ms == pytest.approx(40.0)


def test_a_refreshed_registry_entry_is_predicted_afresh():
    stage = Stage()
    variant = make_variant("a", 0.7, 10.0)
    stage.use([variant])
    stage.predict(variant)
    slower = Variant(**{**variant.__dict__, "profile_latency_ms": 50.0})
    stage.use([slower])
    assert stage.predict(slower).service_ms == pytest.approx(50.0)


def test_a_deferred_release_falling_due_recomputes_it(stage):
    variant = on("edge", make_variant("a", 0.7, 10.0))
    stage.use([variant])
    ticket = stage.acquire("a", "edge", 10.0)
    stage.release(ticket, busy_for_ms=500.0)   # abandoned: still counted for 0.5 s
    busy = stage.predict(variant)
    stage.clock.advance(1.0)
    idle = stage.predict(variant)
    assert busy.inflight == 1 and idle.inflight == 0 and idle.total_ms < busy.total_ms
