"""Predictions are reused across decisions only while nothing they depend on moved
(faasml/selector/predictor.py, the change counters in load.py)."""
from __future__ import annotations

import dataclasses

import pytest

from faasml.selector.load import GatewayLoad

from .conftest import make_variant


def on(node, variant):
    return dataclasses.replace(variant, node=node)


def test_an_unchanged_variant_reuses_its_prediction(stage):
    variant = make_variant("a", 0.7, 10.0)
    first = stage.predictor.predict(variant, stage.clock())
    assert stage.predictor.predict(variant, stage.clock()) is first
    assert stage.predictor.predict_all([variant], stage.clock())[0] is first


@pytest.mark.parametrize("change", ["acquire", "observe", "gateway"])
def test_its_own_load_moving_recomputes_it(stage, change):
    variant = make_variant("a", 0.7, 10.0)
    before = stage.predictor.predict(variant, stage.clock())
    if change == "acquire":
        stage.load.acquire("a")
    elif change == "observe":
        for _ in range(20):
            stage.load.observe("a", 41.0, 40.0)
    else:
        stage.load.update_gateway([("a", GatewayLoad(inflight=5, observed_at=stage.clock()))])
    after = stage.predictor.predict_all([variant], stage.clock())[0]
    assert after is not before and after.total_ms > before.total_ms


def test_a_neighbours_work_on_the_node_recomputes_it(stage):
    mine, neighbour = on("edge", make_variant("a", 0.7, 10.0)), on("edge", make_variant("b", 0.8, 20.0))
    before = stage.predictor.predict_all([mine, neighbour], stage.clock())[0]
    stage.load.acquire("b", "edge", 20.0)
    assert stage.predictor.predict_all([mine, neighbour], stage.clock())[0].total_ms == pytest.approx(30.0)
    stage.load.release("b")
    assert stage.predictor.predict(mine, stage.clock()).total_ms == pytest.approx(before.total_ms)


def test_observations_ageing_out_recompute_it(stage):
    variant = make_variant("a", 0.7, 10.0)
    for _ in range(20):
        stage.load.observe("a", 31.0, 30.0)
    fresh = stage.predictor.predict(variant, stage.clock())
    assert fresh.service_source == "observed"
    stage.clock.advance(stage.load.config.observed_max_age_s + 1)
    aged = stage.predictor.predict(variant, stage.clock())
    assert aged.service_source == "last observed"


def test_a_gateway_figure_ageing_out_recomputes_it(stage):
    variant = make_variant("a", 0.7, 10.0)
    stage.load.update_gateway([("a", GatewayLoad(inflight=5, observed_at=stage.clock()))])
    busy = stage.predictor.predict(variant, stage.clock())
    stage.clock.advance(stage.load.config.gateway_max_age_s + 1)
    assert busy.load_source == "gateway"
    assert stage.predictor.predict(variant, stage.clock()).load_source == "selector"


def test_a_new_node_speed_reaches_never_observed_neighbours(stage):
    observed, unobserved = on("edge", make_variant("a", 0.7, 10.0)), on("edge", make_variant("b", 0.8, 20.0))
    assert stage.predictor.predict(unobserved, stage.clock()).service_ms == pytest.approx(20.0)
    for _ in range(20):
        stage.load.observe("a", 21.0, 20.0)   # this node runs 2x slower than the profiles
    stage.predictor.predict(observed, stage.clock())
    assert stage.predictor.predict(unobserved, stage.clock()).service_ms == pytest.approx(40.0)


def test_a_refreshed_registry_entry_is_predicted_afresh(stage):
    variant = make_variant("a", 0.7, 10.0)
    stage.predictor.predict(variant, stage.clock())
    slower = dataclasses.replace(variant, profile_latency_ms=50.0)
    assert stage.predictor.predict(slower, stage.clock()).service_ms == pytest.approx(50.0)


def test_a_deferred_release_falling_due_recomputes_it(stage):
    variant = on("edge", make_variant("a", 0.7, 10.0))
    stage.load.acquire("a", "edge", 10.0)
    stage.load.release("a", busy_for_ms=500.0)   # abandoned: still counted for 0.5 s
    busy = stage.predictor.predict(variant, stage.clock())
    stage.clock.advance(1.0)
    idle = stage.predictor.predict_all([variant], stage.clock())[0]
    assert busy.inflight == 1 and idle.inflight == 0 and idle.total_ms < busy.total_ms
