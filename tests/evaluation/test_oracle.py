"""The oracle LP on cases small enough to solve by hand, and as a bound on real schedules."""
from __future__ import annotations

import random

import pytest

from faasml.evaluation.oracle import OracleRequest, OracleVariant, default_windows, solve


def test_one_request_gets_the_best_variant_that_fits():
    variants = [OracleVariant("fast", "n", 10, 10, 0.7), OracleVariant("slow", "n", 80, 90, 0.9)]
    assert solve([OracleRequest(0, 100)], variants, {"n": 1}).bound == pytest.approx(0.9)
    # a deadline the slow variant misses when idle: only the fast one is allowed
    result = solve([OracleRequest(0, 50)], variants, {"n": 1})
    assert result.bound == pytest.approx(0.7)
    assert result.per_variant == {"fast": pytest.approx(1.0)}


def test_nothing_fits():
    result = solve([OracleRequest(0, 5)], [OracleVariant("v", "n", 10, 10, 0.8)], {"n": 1})
    assert result.bound == 0 and result.servable == 0


def test_capacity_of_one_cpu_is_shared():
    # two requests at t=0 due at 100 ms, 80 ms of work each, one CPU: 100 ms of work fits
    requests = [OracleRequest(0, 100), OracleRequest(0, 100)]
    one = [OracleVariant("a", "A", 80, 80, 0.8)]
    assert solve(requests, one, {"A": 1}).bound == pytest.approx(0.8 * 100 / 80)
    # two CPUs on that node: both fit
    assert solve(requests, one, {"A": 2}).bound == pytest.approx(1.6)
    # a second node with a worse variant takes the rest
    two = one + [OracleVariant("b", "B", 80, 80, 0.5)]
    assert solve(requests, two, {"A": 1, "B": 1}).bound == pytest.approx(0.8 * 1.25 + 0.5 * 0.75)


def test_requests_spread_in_time_do_not_compete():
    requests = [OracleRequest(0, 100), OracleRequest(0.5, 100)]
    variants = [OracleVariant("a", "A", 80, 80, 0.8)]
    assert solve(requests, variants, {"A": 1}).bound == pytest.approx(1.6)


def _edf_schedule_value(requests, variant, cpus=1):
    """A real schedule: one server, requests in arrival order, each served by `variant` if it
    can finish by its deadline, else dropped. Its value is what the LP must be able to beat."""
    free = 0.0
    value = 0.0
    for r in sorted(requests, key=lambda r: r.t_s):
        start = max(free, r.t_s)
        end = start + variant.service_ms / 1000.0
        if end <= r.t_s + r.deadline_ms / 1000.0:
            free = end
            value += variant.value
    return value


def test_bound_is_above_a_feasible_schedule_and_below_the_trivial_bound():
    rng = random.Random(3)
    t, requests = 0.0, []
    while t < 5:
        t += rng.expovariate(40)
        requests.append(OracleRequest(t, rng.choice([50, 200, 1000])))
    variant = OracleVariant("v", "n", 30, 30, 0.8)
    result = solve(requests, [variant], {"n": 1})
    assert result.status == "optimal"
    assert result.bound >= _edf_schedule_value(requests, variant) - 1e-6
    # 40 req/s x 30 ms = 1.2 CPUs asked of one CPU: capacity binds well below "everyone served"
    assert result.bound < 0.8 * len(requests) * 0.9
    # the whole-trace window alone bounds the work by the CPU time available
    assert result.per_variant["v"] * 0.030 <= max(r.t_s + r.deadline_ms / 1000 for r in requests) + 1e-6


def test_windows_cover_every_deadline_scale():
    requests = [OracleRequest(0, 50), OracleRequest(1, 200)]
    windows = default_windows(requests)
    lengths = {round(b - a, 3) for a, b in windows}
    assert {0.05, 0.2} <= lengths
    assert any(a == 0 for a, _ in windows)
