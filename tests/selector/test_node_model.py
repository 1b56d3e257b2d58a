"""Node-aware prediction, intrinsic vs contended service time, and deadline-aware
admission (faasml/selector/engine/: predict.py, signals.py, lanes.py, core.py)."""
from __future__ import annotations

import dataclasses

import pytest

from faasml.errors import TooManyRequests
from faasml.selector.engine import lanes
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.variant import variant_from_status

from .conftest import TASK, Stage, make_variant, on


def ask(**kwargs) -> SelectionRequest:
    return SelectionRequest(task=TASK, **kwargs)


def decide(stage, variants, request, acquire=True):
    return stage.decide(variants, request, acquire=acquire)


def answered_tight(stage, variants, max_latency_ms):
    """A tight request decided and already answered: its budgets stay, its work is gone."""
    decision = decide(stage, variants, ask(tradeoff=0.0, max_latency_ms=max_latency_ms))
    stage.release(decision.ticket)


def record_tight(stage, node, limit_ms, met):
    stage.engine.record_tight(node, limit_ms, met, stage.clock())


@pytest.fixture
def stage() -> Stage:
    # the lanes' tests put up to 45 ms of work on a node: with the default 30 ms queue cap the cap, not what is under test,
    # would keep a variant out.
    return Stage(max_queue_ms=100.0)


def test_work_on_a_node_slows_every_variant_placed_there(stage):
    fast, slow = on("edge", make_variant("fast", 0.70, 5.0)), on("edge", make_variant("slow", 0.80, 20.0))
    elsewhere = on("cloud", make_variant("far", 0.80, 20.0))
    stage.use([fast, slow, elsewhere])
    idle = stage.predict(fast)
    tickets = [stage.acquire("slow", "edge", 20.0) for _ in range(3)]
    busy = stage.predict(fast)
    # The fast variant has nothing of its own in flight, yet waits for the node's 60 ms.
    assert idle.total_ms == pytest.approx(5.0) and busy.total_ms == pytest.approx(65.0)
    assert busy.node_work_ms == pytest.approx(60.0) and busy.inflight == 0
    assert stage.predict(elsewhere).total_ms == pytest.approx(20.0)
    for ticket in tickets:
        stage.release(ticket)
    assert stage.predict(fast).total_ms == pytest.approx(5.0)


def test_a_node_with_more_cpus_absorbs_more_work(stage):
    one, four = on("small", make_variant("a", 0.7, 10.0)), on("big", make_variant("b", 0.7, 10.0), cpus=4)
    stage.use([one, four])
    for _ in range(4):
        stage.acquire("x", "small", 10.0)
        stage.acquire("y", "big", 10.0)
    assert stage.predict(one).total_ms == pytest.approx(50.0)
    assert stage.predict(four).total_ms == pytest.approx(12.5)


def test_a_fallback_counts_its_work_on_the_variants_node(stage):
    variant = on("edge", make_variant("v", 0.7, 8.0))
    stage.use([variant])
    first = stage.decide([variant], ask()).ticket
    retry = stage.engine.acquire("v", stage.clock())     # the forwarder's next try
    assert stage.engine.state.node_work_ms("edge") == pytest.approx(16.0)
    stage.release(first)
    stage.release(retry)
    stage.release(retry)                                   # a ticket is given back once
    assert stage.engine.state.node_work_ms("edge") == 0.0 and stage.engine.inflight("v", stage.clock()) == 0


@pytest.mark.parametrize("profile_ms, wall_ms, compute_ms, limit_ms", [
    # Profiled at 20 ms; under contention every call took 90 ms: a 40 ms limit is met idle.
    (20.0, 91.0, 90.0, 40.0),
    # The hops took 35 ms on every call while the machine was busy; the variant's own 5 ms
    # and its declared round trip (0) meet a 20 ms limit when idle.
    (5.0, 40.0, 5.0, 20.0),
])
def test_contended_observations_do_not_make_a_limit_infeasible(stage, profile_ms, wall_ms, compute_ms, limit_ms):
    # Met when idle: a momentary 429 (retry later), never a 422 (give up).
    variant = on("edge", make_variant("only", 0.7, profile_ms))
    stage.use([variant])
    for _ in range(20):
        stage.observe("only", wall_ms=wall_ms, compute_ms=compute_ms)
    with pytest.raises(TooManyRequests):
        decide(stage, [variant], ask(max_latency_ms=limit_ms))


def test_intrinsic_service_is_a_low_percentile_of_compute_times(stage):
    variant = make_variant("v", 0.7, 10.0)
    stage.use([variant])
    for compute in [10.0] * 5 + [40.0] * 15:      # three in four contended
        stage.observe("v", wall_ms=compute + 1, compute_ms=compute)
    assert stage.predict(variant).service_ms == pytest.approx(10.0)


def test_tight_requests_keep_a_node_free_of_loose_work(stage):
    quick = on("edge", make_variant("quick", 0.70, 5.0))
    heavy = on("edge", make_variant("heavy", 0.80, 15.0))
    cloud = on("cloud", make_variant("cloud", 0.80, 15.0))
    variants = [quick, heavy, cloud]
    answered_tight(stage, variants, 50.0)
    # Budgets aim at 80 % of a 50 ms limit: edge may hold 40 - 5 = 35 ms of work,
    # cloud 40 - 15 = 25 ms.
    for _ in range(2):
        stage.acquire("heavy", "edge", 15.0)
    stage.acquire("cloud", "cloud", 10.0)
    explain = stage.evaluate(variants, ask(tradeoff=1.0))
    reasons = {c.key: c.excluded for c in explain.candidates}
    assert "kept for requests limited to 50 ms" in reasons["heavy"]
    assert reasons["cloud"] is None and explain.ranked[0].key == "cloud"
    # A tight request is judged on its own limit only: heavy (30 + 15 ms) still fits 50 ms,
    # and the fastest now is cloud (10 + 15 ms), not the idle-fastest quick (30 + 5 ms).
    tight = decide(stage, variants, ask(tradeoff=0.0, max_latency_ms=50.0))
    assert all(c.excluded is None for c in tight.candidates) and tight.ranked[0].key == "cloud"


def test_loose_work_is_shed_when_no_node_has_room_then_admitted_once_budgets_expire(stage):
    quick, heavy = on("edge", make_variant("quick", 0.70, 5.0)), on("edge", make_variant("heavy", 0.80, 15.0))
    answered_tight(stage, [quick, heavy], 30.0)
    # Budget 80 % of 30 ms - 5 = 19 ms: with 10 ms in flight only quick fits (degrade
    # before shed); with 20 ms nothing does.
    stage.acquire("heavy", "edge", 10.0)
    assert decide(stage, [quick, heavy], ask(tradeoff=1.0), acquire=False).ranked[0].key == "quick"
    stage.acquire("heavy", "edge", 10.0)
    with pytest.raises(TooManyRequests) as info:
        decide(stage, [quick, heavy], ask(tradeoff=1.0))
    assert info.value.headers["Retry-After"] == "1"
    stage.clock.advance(stage.engine.lanes.hold_s + 0.1)
    assert decide(stage, [quick, heavy], ask(tradeoff=1.0)).ranked[0].key == "heavy"


def kept_out_by_the_lane(stage, variants) -> bool:
    explain = stage.evaluate(variants, ask(tradeoff=1.0))
    return "kept for requests limited to" in (next(c for c in explain.candidates if c.key == "heavy").excluded or "")


def test_a_fast_lane_whose_tight_requests_miss_anyway_holds_nothing_back(stage):
    quick, heavy = on("edge", make_variant("quick", 0.70, 5.0)), on("edge", make_variant("heavy", 0.80, 15.0))
    variants = [quick, heavy]
    answered_tight(stage, variants, 50.0)
    for _ in range(3):
        stage.acquire("heavy", "edge", 15.0)   # 45 ms of work: past edge's 35 ms budget
    assert kept_out_by_the_lane(stage, variants)
    # Looser requests' outcomes say nothing of the lane, nor do too few tight ones.
    for _ in range(20):
        record_tight(stage, "edge", 500.0, False)
    for _ in range(lanes.OUTCOMES_MIN - 1):
        record_tight(stage, "edge", 50.0, False)
    assert kept_out_by_the_lane(stage, variants)
    # Ten tight requests: 4 of 10 met their limit (under half): the lane is suspended.
    record_tight(stage, "edge", 50.0, False)
    for _ in range(4):
        record_tight(stage, "edge", 40.0, True)
    assert not kept_out_by_the_lane(stage, variants)
    lane, = stage.engine.fast_lanes(stage.clock())
    assert lane["node"] == "edge" and lane["suspended"] and lane["deadline_ms"] == 50.0
    assert (lane["recent_tight_requests"], lane["recent_met_share"]) == (14, round(4 / 14, 3))
    # They meet their limits again (10 of 20 now): the budget holds again.
    for _ in range(6):
        record_tight(stage, "edge", 50.0, True)
    assert kept_out_by_the_lane(stage, variants) and not stage.engine.fast_lanes(stage.clock())[0]["suspended"]
    # Outcomes age out: with too few recent ones the budget holds whatever they said.
    for _ in range(14):
        record_tight(stage, "edge", 50.0, False)
    assert not kept_out_by_the_lane(stage, variants)
    stage.clock.advance(lanes.OUTCOMES_MAX_AGE_S + 0.1)
    answered_tight(stage, variants, 50.0)   # (the budget had expired meanwhile: a fresh one)
    assert kept_out_by_the_lane(stage, variants)


def test_suspension_can_be_turned_off(stage):
    stage.engine.lanes.suspend_below = 0.0
    quick, heavy = on("edge", make_variant("quick", 0.70, 5.0)), on("edge", make_variant("heavy", 0.80, 15.0))
    answered_tight(stage, [quick, heavy], 50.0)
    for _ in range(3):
        stage.acquire("heavy", "edge", 15.0)
    for _ in range(20):
        record_tight(stage, "edge", 50.0, False)
    assert kept_out_by_the_lane(stage, [quick, heavy])


def test_pinned_requests_are_never_held_back_by_budgets(stage):
    quick, heavy = on("edge", make_variant("quick", 0.70, 5.0)), on("edge", make_variant("heavy", 0.80, 15.0))
    answered_tight(stage, [quick, heavy], 30.0)
    stage.acquire("heavy", "edge", 15.0)
    assert decide(stage, [heavy], ask(variant="heavy")).ranked[0].key == "heavy"


def test_the_runtime_report_gives_node_and_cpus():
    status = {"name": "v", "annotations": {"faasml.io/task": TASK, "faasml.io/accuracy": "0.7"},
              "replicas": 1, "faasml": {"nodes": ["edge"], "cpus": {"edge": 2}, "rttMs": {"edge": 0}}}
    variant = variant_from_status(status, "http://gw")
    assert (variant.node, variant.node_cpus) == ("edge", 2)
    annotated = {"name": "w", "annotations": {"faasml.io/task": TASK, "faasml.io/accuracy": "0.7",
                                              "faasml.io/node": "jetson-1", "faasml.io/node-cpus": "6"}}
    assert (variant_from_status(annotated, "http://gw").node, variant_from_status(annotated, "http://gw").node_cpus) \
        == ("jetson-1", 6)
    bare = {"name": "x", "annotations": {"faasml.io/task": TASK, "faasml.io/accuracy": "0.7"}}
    assert variant_from_status(bare, "http://gw").node is None


def test_unobserved_variants_are_scaled_by_how_fast_their_node_runs(stage):
    # Profiles came from a faster machine: the observed neighbour runs 3x its profile,
    # so an unobserved variant on the same node is predicted at 3x its profile too.
    seen, unseen = on("edge", make_variant("seen", 0.7, 10.0)), on("edge", make_variant("unseen", 0.8, 20.0))
    elsewhere = on("cloud", make_variant("elsewhere", 0.8, 20.0))
    far = on("cloud", make_variant("far", 0.8, 10.0))
    stage.use([seen, unseen, elsewhere, far])
    for _ in range(20):
        stage.observe("seen", wall_ms=31.0, compute_ms=30.0)
    stage.predict(seen)
    assert stage.predict(unseen).service_ms == pytest.approx(60.0)
    # A node nobody has observed yet is taken to run like the rest of the machine.
    assert stage.predict(elsewhere).service_ms == pytest.approx(60.0)
    for _ in range(20):
        stage.observe("elsewhere", wall_ms=41.0, compute_ms=40.0)
    assert stage.predict(elsewhere).service_ms == pytest.approx(40.0)
    assert stage.predict(far).service_ms == pytest.approx(20.0)


def test_work_abandoned_on_a_timeout_stays_on_its_node_until_done(stage):
    ticket = stage.acquire("v", "edge", 20.0)
    stage.release(ticket, busy_for_ms=20.0)     # the caller gave up; the executor did not
    state = stage.engine.state
    assert state.node_work_ms("edge") == pytest.approx(20.0) and stage.engine.inflight("v", stage.clock()) == 1
    stage.clock.advance(0.021)
    assert stage.engine.inflight("v", stage.clock()) == 0 and state.node_work_ms("edge") == 0.0


def test_a_deadline_runs_from_when_the_gateway_took_the_request():
    from faasml.http import Headers, Request
    from faasml.selector.service import inbound_delay_s

    now = 1.7e9   # a wall clock, scripted

    def stamped(seconds_ago):
        return Request(headers=Headers({"X-Start-Time": str(int((now - seconds_ago) * 1e9))}))
    assert inbound_delay_s(stamped(0.2), now) == pytest.approx(0.2, abs=1e-3)
    assert inbound_delay_s(stamped(30.0), now) == 0.0          # clock skew between hosts, not a delay
    assert inbound_delay_s(stamped(-5.0), now) == 0.0
    assert inbound_delay_s(Request(headers=Headers({"X-Start-Time": "soon"})), now) == 0.0
    assert inbound_delay_s(Request(), now) == 0.0
    queued = stamped(30.0)  # an async call that waited in `faasml up`'s queue
    queued.headers["X-Faasml-Queued"] = "1"
    assert inbound_delay_s(queued, now, deadline_given=True) == pytest.approx(30.0, abs=1e-3)
    assert inbound_delay_s(queued, now) == 0.0  # without a client deadline: the default runs from now


def test_lighter_work_delays_a_heavier_variant_only_by_its_share(stage):
    fast = dataclasses.replace(on("edge", make_variant("fast", 0.70, 10.0)), cpu_millis=1000.0)
    light = dataclasses.replace(on("edge", make_variant("light", 0.80, 30.0)), cpu_millis=100.0)
    stage.use([fast, light])
    for _ in range(2):
        stage.acquire("light", "edge", 30.0, weight=100.0)
    # 60 ms of light work costs the heavy variant a tenth of it; the light one all of it.
    assert stage.predict(fast).total_ms == pytest.approx(16.0)
    assert stage.predict(light).total_ms == pytest.approx(90.0)
    stage.acquire("fast", "edge", 10.0, weight=1000.0)
    assert stage.predict(light).total_ms == pytest.approx(100.0)


def test_light_loose_work_may_share_the_fast_lane(stage):
    fast = dataclasses.replace(on("edge", make_variant("fast", 0.70, 10.0)), cpu_millis=1000.0)
    light = dataclasses.replace(on("edge", make_variant("light", 0.80, 30.0)), cpu_millis=100.0)
    heavy = on("edge", make_variant("heavy", 0.80, 30.0))
    answered_tight(stage, [fast, light, heavy], 30.0)       # budget 0.8 * 30 - 10 = 14 ms
    explain = stage.evaluate([light, heavy], ask(tradeoff=1.0))
    reasons = {c.key: c.excluded for c in explain.candidates}
    assert reasons["light"] is None                         # 3 ms of the fast variant's time
    assert "kept for requests limited to 30 ms" in reasons["heavy"]   # 30 ms of it


def test_a_request_abandoned_on_its_deadline_still_counts_while_the_executor_works(gateway):
    from .conftest import ScriptedClock, make_service, post

    gateway.behaviours["quick"] = "slow:0.3"
    clock = ScriptedClock()   # still while the request runs: the deadline passes in real time
    selector = make_service(gateway, clock=clock)
    try:
        # Pinned: its one try waits out the deadline (60 ms, in real time) and is given up.
        assert post(selector, variant="quick", max_latency_ms=60).status == 504
        engine = selector.engine
        assert engine.inflight("quick", clock()) == 1       # gave up; the executor did not
        clock.advance(0.006)                                 # one service time (5 ms) later
        assert engine.inflight("quick", clock()) == 0
    finally:
        selector.stop()


def test_predictions_follow_what_answers_on_a_node_actually_take(stage):
    """Calibration: on a contended node answers take about twice what the model predicts
    (its service time is the intrinsic one, what a variant takes with a CPU to itself;
    contention it cannot see doubles it). Once enough answers have come back, that node's
    predictions follow them; the other node's stay, and the idle floor a 422 is judged
    on does not move."""
    edge, cloud = on("edge", make_variant("e", 0.7, 10.0)), on("cloud", make_variant("c", 0.8, 10.0))
    stage.use([edge, cloud])

    def answer(compute_ms):
        predicted = stage.predict(edge).model_ms
        stage.engine.observe("e", stage.clock(), compute_ms + 1.0, compute_ms, predicted_ms=predicted)

    for compute in [10.0] * 5 + [20.0] * 2:   # five quiet answers, two contended
        answer(compute)
    assert stage.predict(edge).calibration == 1.0              # too few to say yet
    for _ in range(13):
        answer(20.0)
    after = stage.predict(edge)
    assert after.service_ms == pytest.approx(10.0)             # still the intrinsic time
    assert after.calibration == pytest.approx(21.0 / 11.0) and after.total_ms == pytest.approx(21.0)
    assert after.floor_ms == pytest.approx(10.0)                # the declared round trip (0) + intrinsic
    assert stage.predict(cloud).calibration == 1.0
    # A request limited to 15 ms is now told edge cannot make it (429), not that nothing
    # ever could (422): edge's idle floor is still 10 ms.
    with pytest.raises(TooManyRequests):
        stage.decide([edge], ask(max_latency_ms=15.0))
    # Held to a range: a burst of outliers cannot make predictions absurd.
    for _ in range(64):
        stage.engine.observe("e", stage.clock(), 5000.0, 20.0, predicted_ms=11.0)
    assert stage.predict(edge).calibration == 8.0
