"""Exploration (ours, engine/policies.py): a variant the selector does not know here is
tried now and then, at bounded cost, until its latency here is known."""
from __future__ import annotations

import collections
import dataclasses

import pytest

from faasml.selector.engine.policies import TradeoffPolicy
from faasml.selector.engine.request import SelectionRequest

from .conftest import TASK, Stage, make_variant

FAST = make_variant("fast", 0.70, 10.0)
# Truly as fast as `fast` and more accurate, but its profile (from another machine) says
# ten times slower: without exploration it is never chosen at tradeoff 0.
WRONG = make_variant("wrong", 0.80, 100.0)


def serve(stage: Stage, request: SelectionRequest, true_ms: dict[str, float], seconds: float,
          every_s: float = 0.05) -> list[str]:
    """Requests every `every_s`, each answered at once at its variant's true speed."""
    chosen = []
    for _ in range(int(seconds / every_s)):
        decision = stage.decide([FAST, WRONG], request)
        key = decision.ranked[0].key
        stage.release(decision.ticket)
        stage.observe(key, true_ms[key] + 1.0, true_ms[key])
        chosen.append(key)
        stage.clock.advance(every_s)
    return chosen


@pytest.fixture
def every_due_request_explores(monkeypatch):
    """Exploration spends one due request in ten at most; these tests follow each one."""
    monkeypatch.setattr(TradeoffPolicy, "EXPLORE_SHARE", 1.0)


def test_a_variant_known_only_by_a_wrong_profile_is_tried_until_its_latency_is_known():
    stage = Stage(explore_s=0.5)
    chosen = serve(stage, SelectionRequest(task=TASK, tradeoff=0.0), {"fast": 10.0, "wrong": 10.0}, 30.0)
    explored = [i for i, key in enumerate(chosen) if key == "wrong"]
    # Tried at most once per 0.5 s (every tenth request here), and not every time it may
    # be, while unknown ...
    early = [i for i in explored if i < 100]
    assert early and all(b - a >= 10 for a, b in zip(early, early[1:])) and len(early) < 10
    # ... and, once a dozen answers have replaced the profile, chosen on its merits: as
    # fast and more accurate, it takes near-ties half the time.
    late = collections.Counter(chosen[-200:])
    assert late["wrong"] >= 60, late


def test_without_exploration_the_wrong_profile_is_never_corrected():
    stage = Stage(explore_s=0.0)
    chosen = serve(stage, SelectionRequest(task=TASK, tradeoff=0.0), {"fast": 10.0, "wrong": 10.0}, 10.0)
    assert set(chosen) == {"fast"}


def test_a_request_with_a_latency_limit_is_never_used_to_explore():
    # (sure_share 0: within 30% of this limit `wrong` would be chosen on its accuracy)
    stage = Stage(explore_s=0.5, sure_share=0.0)
    chosen = serve(stage, SelectionRequest(task=TASK, tradeoff=0.0, max_latency_ms=500.0),
                   {"fast": 10.0, "wrong": 10.0}, 5.0)
    assert set(chosen) == {"fast"}


@pytest.mark.usefixtures("every_due_request_explores")
def test_one_exploring_request_at_a_time_and_none_from_an_explain():
    stage = Stage(explore_s=0.5)
    request = SelectionRequest(task=TASK, tradeoff=0.0)
    assert stage.evaluate([FAST, WRONG], request).ranked[0].key == "wrong"    # an explain shows it ...
    first = stage.decide([FAST, WRONG], request)                               # ... and spends nothing
    assert first.ranked[0].key == "wrong" and first.exploring
    stage.clock.advance(1.0)
    assert stage.decide([FAST, WRONG], request).ranked[0].key == "fast"       # `wrong` is busy with the first
    stage.release(first.ticket)
    stage.clock.advance(1.0)
    assert stage.decide([FAST, WRONG], request).ranked[0].key == "wrong"


@pytest.mark.usefixtures("every_due_request_explores")
def test_a_profile_measured_on_this_kind_of_machine_is_explored_only_slowly():
    stage = Stage(explore_s=0.5, explore_aged_s=10.0)
    here = dataclasses.replace(WRONG, profile_here=True)
    chosen = []
    for _ in range(200):   # 20 s
        decision = stage.decide([FAST, here], SelectionRequest(task=TASK, tradeoff=0.0))
        stage.release(decision.ticket)
        chosen.append(decision.ranked[0].key)
        stage.clock.advance(0.1)
    assert 1 <= chosen.count("wrong") <= 3
