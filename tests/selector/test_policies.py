"""Policies under scripted load: the engine with a scripted clock and random source."""
from __future__ import annotations

import collections

import pytest

from faasml.errors import NotReady, TooManyRequests, Unprocessable
from faasml.selector.engine.policies import POLICIES
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.signals import GatewayLoad

from .conftest import TASK, Stage, make_variant

# Shaped like the reference set: more accurate is slower.
LADDER = [make_variant("lite0", 0.75, 20.0), make_variant("lite1", 0.77, 35.0),
          make_variant("lite2", 0.80, 60.0)]


def ask(**kwargs) -> SelectionRequest:
    return SelectionRequest(task=TASK, **kwargs)


def chosen(stage, variants, request, policy="tradeoff", acquire=False) -> str:
    return stage.decide(variants, request, policy, acquire=acquire).ranked[0].key


@pytest.fixture
def stage() -> Stage:
    # these tests let queues grow to watch the policies react: with the default 30 ms queue cap the cap, not what is under test,
    # would keep a variant out.
    return Stage(max_queue_ms=100.0)


def test_idle_tradeoff_one_picks_most_accurate_and_zero_fastest(stage):
    assert chosen(stage, LADDER, ask(tradeoff=1.0)) == "lite2"
    assert chosen(stage, LADDER, ask(tradeoff=0.0)) == "lite0"


def test_fastest_counts_the_round_trip():
    # A quick model on a far node loses to a slower model next door when speed is all.
    far = make_variant("edge-fast", 0.75, 5.0, rtt_ms=40.0, node_class="edge")
    near = make_variant("cloud-slow", 0.75, 15.0)
    stage = Stage()
    assert chosen(stage, [far, near], ask(tradeoff=0.0)) == "cloud-slow"
    assert chosen(stage, [far, near], ask(tradeoff=0.0), policy="fastest") == "cloud-slow"


def test_min_accuracy_is_honoured(stage):
    decision = stage.decide(LADDER, ask(tradeoff=0.0, min_accuracy=0.76), acquire=False)
    assert decision.ranked[0].key == "lite1"
    assert {c.key for c in decision.ranked} == {"lite1", "lite2"}
    excluded = {c.key: c.excluded for c in decision.candidates if c.excluded}
    assert "min_accuracy" in excluded["lite0"]


def test_max_latency_is_honoured(stage):
    assert chosen(stage, LADDER, ask(tradeoff=1.0, max_latency_ms=40.0)) == "lite1"


def test_unmeetable_accuracy_gives_422_naming_limit_and_best_offer(stage):
    with pytest.raises(Unprocessable) as info:
        stage.decide(LADDER, ask(min_accuracy=0.9))
    error = info.value
    assert error.status == 422 and error.details["limit"] == "min_accuracy"
    assert error.details["best_on_offer"]["variant"] == "lite2"


def test_unmeetable_latency_gives_422_naming_limit_and_best_offer(stage):
    with pytest.raises(Unprocessable) as info:
        stage.decide(LADDER, ask(max_latency_ms=10.0))
    assert info.value.details["limit"] == "max_latency_ms"
    assert info.value.details["best_on_offer"]["variant"] == "lite0"


def test_jointly_unmeetable_limits_give_422(stage):
    with pytest.raises(Unprocessable) as info:
        stage.decide(LADDER, ask(min_accuracy=0.79, max_latency_ms=40.0))
    assert info.value.details["limit"] == "min_accuracy+max_latency_ms"
    assert info.value.details["best_on_offer"]["variant"] == "lite1"


def test_rising_inflight_raises_prediction_and_moves_the_choice(stage):
    request = ask(tradeoff=0.5)
    first = chosen(stage, LADDER, request)
    variant = next(v for v in LADDER if v.id == first)
    idle = stage.predict(variant)
    for _ in range(3):
        stage.acquire(first)
    loaded = stage.predict(variant)
    assert loaded.total_ms > idle.total_ms
    assert loaded.queue_ms == pytest.approx(3 * idle.service_ms)
    assert chosen(stage, LADDER, request) != first


def test_observed_latency_replaces_a_stale_profile_and_outlives_its_window(stage):
    lite0 = LADDER[0]
    stage.use(LADDER)
    stage.observe("lite0", wall_ms=95.0, compute_ms=90.0)
    # One observation is blended with the profile (worth 3): a single big input must not
    # redefine the variant ...
    assert stage.predict(lite0).service_ms == pytest.approx((90 + 3 * 20) / 4)
    for _ in range(11):
        stage.observe("lite0", wall_ms=95.0, compute_ms=90.0)
    prediction = stage.predict(lite0)
    # ... but a window of them does.
    assert (prediction.service_ms, prediction.rtt_ms) == (90.0, 5.0)
    assert prediction.service_source == "observed"
    # Aged out, the last estimate still beats a profile from another machine.
    stage.clock.advance(stage.config.observed_max_age_s + 1)
    prediction = stage.predict(lite0)
    assert prediction.service_ms == 90.0 and prediction.service_source == "last observed"


def test_load_moves_the_choice_between_just_two_variants(stage):
    # With only a fast and an accurate variant, each request's dispatch must still count:
    # the accurate one's growing queue lowers its score until the fast one wins.
    pair = [LADDER[0], LADDER[2]]
    picks = [chosen(stage, pair, ask(tradeoff=0.7), acquire=True) for _ in range(6)]
    assert picks[0] == "lite2" and "lite0" in picks


@pytest.mark.parametrize("policy", ["tradeoff", "slo-greedy"])
def test_concurrent_requests_against_equal_variants_spread(stage, policy):
    equal = [make_variant(f"twin{i}", 0.77, 30.0) for i in range(4)]
    picks = collections.Counter(chosen(stage, equal, ask(tradeoff=0.5, max_latency_ms=200.0),
                                       policy=policy, acquire=True) for _ in range(8))
    # Both see the queue each dispatch adds; neither may pile onto one twin.
    assert sorted(picks.values()) == [2, 2, 2, 2]


def test_weighted_bucket_herds_without_load_signal(stage):
    picks = {chosen(stage, LADDER, ask(tradeoff=0.5), policy="weighted-bucket", acquire=True)
             for _ in range(6)}
    assert len(picks) == 1


def test_round_robin_and_random_cover_all(stage):
    rr = [chosen(stage, LADDER, ask(), policy="round-robin") for _ in range(6)]
    assert rr[:3] == ["lite0", "lite1", "lite2"] and rr[3:] == rr[:3]
    seen = {chosen(stage, LADDER, ask(), policy="random") for _ in range(40)}
    assert seen == {"lite0", "lite1", "lite2"}


def test_slo_greedy_takes_most_accurate_within_limit(stage):
    assert chosen(stage, LADDER, ask(max_latency_ms=50.0), policy="slo-greedy") == "lite1"
    assert chosen(stage, LADDER, ask(), policy="slo-greedy") == "lite2"


def test_all_saturated_gives_429_with_retry_after(stage):
    stage.use(LADDER)
    for variant in LADDER:
        for _ in range(2):
            stage.acquire(variant.id)
    with pytest.raises(TooManyRequests) as info:
        stage.decide(LADDER, ask(max_latency_ms=50.0))
    assert int(info.value.headers["Retry-After"]) >= 1


def test_failed_variants_are_skipped_then_none_healthy_is_503(stage):
    stage.use(LADDER)
    stage.engine.mark_down("lite2", stage.clock())
    assert chosen(stage, LADDER, ask(tradeoff=1.0)) == "lite1"
    for variant in LADDER:
        stage.engine.mark_down(variant.id, stage.clock())
    with pytest.raises(NotReady):
        stage.decide(LADDER, ask())
    stage.clock.advance(stage.config.cooldown_s + 0.1)
    assert chosen(stage, LADDER, ask(tradeoff=1.0)) == "lite2"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_ranks_every_candidate(stage, name):
    decision = stage.decide(LADDER, ask(), name, acquire=False)
    assert sorted(c.key for c in decision.ranked) == ["lite0", "lite1", "lite2"]
    assert decision.policy == name


def test_the_engine_knows_no_policy_by_type():
    # Policies are swapped by name: the decider's module names none of their classes.
    import inspect

    from faasml.selector.engine import core
    source = inspect.getsource(core)
    assert not any(cls.__name__ in source for cls in POLICIES.values())


def test_gateway_load_counts_while_fresh_then_falls_back(stage):
    lite2 = LADDER[2]
    stage.use(LADDER)
    stage.engine.update_gateway([("lite2", GatewayLoad(inflight=4, replicas=2, observed_at=stage.clock()))])
    busy = stage.predict(lite2)
    assert (busy.inflight, busy.slots, busy.load_source) == (4, 2, "gateway")
    assert busy.queue_ms == pytest.approx(60.0 * 3 / 2)
    stage.clock.advance(stage.config.gateway_max_age_s + 0.1)
    stale = stage.predict(lite2)
    assert (stale.inflight, stale.slots, stale.queue_ms, stale.load_source) == (0, 1, 0.0, "selector")
