"""Traces: seeded, Poisson at the set rate, classes by the (shifting) mix, bounded."""
from __future__ import annotations

import statistics

import pytest

from faasml.evaluation.scenario import SCENARIOS_DIR, load_scenario, parse_scenario
from faasml.evaluation.trace import closed_loop_sequence, poisson_trace, trace_seed

MIX = load_scenario(SCENARIOS_DIR / "mix.yml")


def test_same_seed_same_trace_other_seed_other_trace():
    a = poisson_trace(MIX, 40, 20, 100, trace_seed(7, "mix", "0.5"))
    b = poisson_trace(MIX, 40, 20, 100, trace_seed(7, "mix", "0.5"))
    c = poisson_trace(MIX, 40, 20, 100, trace_seed(8, "mix", "0.5"))
    assert a == b
    assert a != c
    assert [x.seq for x in a] == list(range(len(a)))


def test_poisson_rate_and_exponential_gaps():
    rate, duration = 50.0, 400.0
    trace = poisson_trace(MIX, rate, duration, 10, seed=1)
    # count ~ Poisson(20000): sd 141
    assert abs(len(trace) - rate * duration) < 4 * (rate * duration) ** 0.5
    gaps = [b.t_s - a.t_s for a, b in zip(trace, trace[1:])]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / rate, rel=0.03)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.05)  # exponential: CV 1
    # counts per second: Poisson, variance = mean
    counts = [0] * int(duration)
    for arrival in trace:
        counts[int(arrival.t_s)] += 1
    assert statistics.pvariance(counts) / statistics.fmean(counts) == pytest.approx(1.0, abs=0.15)
    assert all(0 <= a.t_s < duration for a in trace)
    assert all(0 <= a.input_index < 10 for a in trace)


def test_classes_follow_the_shares():
    trace = poisson_trace(MIX, 100, 100, 5, seed=3)
    shares = {c: sum(a.cls == c for a in trace) / len(trace) for c in MIX.class_names}
    assert shares == pytest.approx({"latency-critical": 0.3, "balanced": 0.5, "accuracy-critical": 0.2}, abs=0.02)


def test_shifting_mix_changes_during_the_run():
    shifting = load_scenario(SCENARIOS_DIR / "shifting.yml")
    trace = poisson_trace(shifting, 100, 90, 5, seed=4)
    def share(lo, hi):
        part = [a for a in trace if lo <= a.t_s < hi]
        return sum(a.cls == "latency-critical" for a in part) / len(part)
    assert share(0, 10) < 0.2 and share(80, 90) < 0.2
    assert share(40, 50) > 0.5


def test_bounded_in_count():
    trace = poisson_trace(MIX, 1000, 60, 5, seed=5, max_requests=123)
    assert len(trace) == 123


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        poisson_trace(MIX, 0, 10, 5, seed=1)
    with pytest.raises(ValueError):
        poisson_trace(MIX, 10, 10, 0, seed=1)


def test_closed_loop_sequence_uses_the_average_mix():
    one = parse_scenario({"name": "one", "task": "t", "inputs": "sentences", "classes": {
        "a": {"share": 1, "tradeoff": 0, "deadline_ms": 1}, "b": {"share": 0, "tradeoff": 1, "deadline_ms": 1}}})
    sequence = closed_loop_sequence(one, 50, 3, seed=1)
    assert {a.cls for a in sequence} == {"a"} and len(sequence) == 50


# ---------------------------------------------------------------- other arrival processes
from faasml.evaluation.trace import make_trace  # noqa: E402


def _with_arrivals(arrivals: dict):
    return parse_scenario({"name": "a", "task": "image-classification", "arrivals": arrivals,
                           "classes": {"x": {"share": 1, "tradeoff": 0.5, "deadline_ms": 100}}})


def test_poisson_by_default_is_the_poisson_trace():
    assert make_trace(MIX, 40, 20, 100, "s") == poisson_trace(MIX, 40, 20, 100, "s")


def test_bursty_keeps_the_mean_rate_and_clusters_arrivals():
    rate, duration = 50.0, 600.0
    bursty = _with_arrivals({"process": "bursty", "burst_factor": 4, "burst_share": 0.15, "burst_s": 1.0})
    trace = make_trace(bursty, rate, duration, 10, seed=1)
    assert len(trace) == pytest.approx(rate * duration, rel=0.08)
    counts = [0] * int(duration)
    for arrival in trace:
        counts[int(arrival.t_s)] += 1
    # a modulated process is over-dispersed: variance far above the mean (Poisson: equal)
    assert statistics.pvariance(counts) / statistics.fmean(counts) > 5
    assert make_trace(bursty, rate, 30, 10, seed=2) == make_trace(bursty, rate, 30, 10, seed=2)
    assert make_trace(bursty, rate, 30, 10, seed=2) != make_trace(bursty, rate, 30, 10, seed=3)


def test_diurnal_follows_its_profile_at_the_mean_rate():
    rate, duration = 100.0, 200.0
    diurnal = _with_arrivals({"process": "diurnal", "profile": [{"at": 0, "rate": 1}, {"at": 0.5, "rate": 3},
                                                                 {"at": 1, "rate": 1}]})
    trace = make_trace(diurnal, rate, duration, 10, seed=4)
    assert len(trace) == pytest.approx(rate * duration, rel=0.05)
    first_tenth = sum(a.t_s < duration / 10 for a in trace)
    middle_tenth = sum(0.45 * duration <= a.t_s < 0.55 * duration for a in trace)
    # the middle tenth runs at about 2.93 of the profile's units, the first at about 1.2
    assert middle_tenth / first_tenth == pytest.approx(2.93 / 1.2, rel=0.15)


def test_bad_arrivals_are_refused_with_the_field():
    from faasml.evaluation.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="arrivals.process"):
        _with_arrivals({"process": "storm"})
    with pytest.raises(ScenarioError, match="negative"):
        _with_arrivals({"process": "bursty", "burst_factor": 10, "burst_share": 0.5})
    with pytest.raises(ScenarioError, match="profile"):
        _with_arrivals({"process": "diurnal"})
