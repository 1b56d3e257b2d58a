"""The fallback plan (engine/attempts.py) under a scripted clock: which variant is tried
next, with what bound, and what each outcome does to the engine's state. No server."""
from __future__ import annotations

import pytest

from faasml.selector.engine.attempts import Attempt, Attempts, NoReply, Outcome, Reply
from faasml.selector.engine.request import SelectionRequest

from .conftest import TASK, Stage, make_variant, on

LADDER = [on("edge", make_variant("fast", 0.70, 10.0)), on("edge", make_variant("mid", 0.75, 20.0)),
          on("cloud", make_variant("slow", 0.80, 40.0))]


def plan(stage: Stage, deadline_s: float = 25.0, **ask) -> Attempts:
    decision = stage.decide(LADDER, SelectionRequest(task=TASK, **ask))
    return Attempts(stage.engine, decision, stage.clock() + deadline_s, stage.config.engine().forwarding)


def inflight(stage: Stage) -> dict[str, int]:
    return {v.id: stage.engine.inflight(v.id, stage.clock()) for v in LADDER}


def test_the_ranking_is_tried_in_order_and_every_slot_is_given_back():
    stage = Stage(stall_floor_ms=100.0)
    attempts = plan(stage, tradeoff=0.0)
    first = attempts.next_call(stage.clock())
    assert first.candidate.key == "fast" and inflight(stage)["fast"] == 1
    # All but the last try are bounded by a multiple of the prediction (cold: profile only).
    assert first.stall and first.timeout_s == pytest.approx(2.0)
    effects = attempts.record(first, stage.clock(), NoReply(Outcome.CONNECTION_ERROR, 1.0, "ConnectFailed"))
    assert effects.relist and not effects.done and stage.engine.state.is_down("fast", stage.clock())
    second = attempts.next_call(stage.clock())
    assert second.candidate.key != "fast" and inflight(stage)["fast"] == 0
    effects = attempts.record(second, stage.clock(), Reply(503, 3.0))
    assert not effects.done and stage.engine.state.is_down(second.candidate.key, stage.clock())
    last = attempts.next_call(stage.clock())
    assert not last.stall and last.timeout_s == pytest.approx(25.0)   # the last waits out the deadline
    assert attempts.record(last, stage.clock(), Reply(200, 41.0, compute_ms=40.0)).done
    assert attempts.answer is last.candidate and attempts.next_call(stage.clock()) is None
    assert inflight(stage) == {"fast": 0, "mid": 0, "slow": 0}
    assert [a.reason for a in attempts.failed_over] == ["connection error", "503"]


def test_a_client_error_is_the_answer_and_is_not_retried(stage):
    attempts = plan(stage, tradeoff=1.0)
    call = attempts.next_call(stage.clock())
    assert attempts.record(call, stage.clock(), Reply(415, 1.0)).done
    assert attempts.answer is call.candidate and len(attempts.attempts) == 1


def test_a_stalled_attempt_keeps_its_work_on_the_node_and_its_variant_out():
    stage = Stage(stall_floor_ms=100.0)
    stage.use(LADDER)
    for _ in range(20):   # seen answering: no cold-start allowance
        stage.observe("fast", 11.0, 10.0)
    attempts = plan(stage, tradeoff=0.0)
    call = attempts.next_call(stage.clock())
    assert call.candidate.key == "fast" and call.timeout_s == pytest.approx(0.1)
    stage.clock.advance(0.1)
    effects = attempts.record(call, stage.clock(), NoReply(Outcome.TIMEOUT, 100.0))
    assert effects.stalled is call.candidate and attempts.attempts[-1].outcome is Outcome.STALLED
    assert stage.engine.state.is_down("fast", stage.clock() + 3600)        # until it answers
    # The executor still works on it: its slot is held for about one service time.
    assert stage.engine.inflight("fast", stage.clock()) == 1
    stage.clock.advance(0.011)
    assert stage.engine.inflight("fast", stage.clock()) == 0
    stage.engine.mark_up("fast")
    assert not stage.engine.state.is_down("fast", stage.clock())


def test_with_stall_bounds_off_every_try_gets_the_whole_deadline():
    stage = Stage(stall_factor=0.0)
    attempts = plan(stage, deadline_s=5.0)
    call = attempts.next_call(stage.clock())
    assert not call.stall and call.timeout_s == pytest.approx(5.0)


def test_no_try_starts_after_the_deadline_and_the_unused_slot_is_given_back(stage):
    attempts = plan(stage, deadline_s=0.05)
    stage.clock.advance(0.1)
    assert attempts.next_call(stage.clock()) is None
    assert inflight(stage) == {"fast": 0, "mid": 0, "slow": 0}
    error = attempts.error(stage.clock())
    assert error.status == 504 and "no attempt fitted the deadline" in str(error)


def test_an_attempt_that_timed_out_on_the_deadline_is_a_504_even_if_the_clock_lags(stage):
    """A timer may fire a moment before the clock reaches the deadline: the verdict is
    still 'deadline passed'; a stall bound is not the deadline."""
    attempts = plan(stage, deadline_s=0.002)
    attempts.attempts = [Attempt("stuck", Outcome.TIMEOUT, 399.0)]
    error = attempts.error(stage.clock())
    assert error.status == 504 and error.code == "deadline_exceeded"
    attempts.attempts = [Attempt("stuck", Outcome.STALLED, 300.0)]
    assert attempts.error(stage.clock()).status == 503


def test_every_variant_saturated_upstream_is_a_429_with_its_retry_after(stage):
    attempts = plan(stage)
    while (call := attempts.next_call(stage.clock())) is not None:
        attempts.record(call, stage.clock(), Reply(429, 1.0))
    error = attempts.error(stage.clock(), retry_after="7")
    assert error.status == 429 and error.headers["Retry-After"] == "7" and error.code == "saturated"
