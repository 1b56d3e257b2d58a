"""Open-loop arrival traces: Poisson arrivals at a set rate, generated once, replayed by
every policy.

A trace is a list of arrivals (time from the start in seconds, client class, input index),
drawn from a seeded generator: the same seed, scenario and rate give the same trace, so
every policy sees identical requests at identical moments.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from faasml.evaluation.scenario import Scenario


@dataclass(frozen=True)
class Arrival:
    seq: int
    t_s: float          # scheduled arrival, seconds from the start of the run
    cls: str            # client class name
    input_index: int


def trace_seed(seed: int, scenario: str, level: str) -> str:
    """A stable seed per (run seed, scenario, load level): `random.Random` hashes strings with
    SHA-512, so the trace does not depend on PYTHONHASHSEED."""
    return f"{seed}:{scenario}:{level}"


def poisson_trace(scenario: Scenario, rate_per_s: float, duration_s: float, n_inputs: int,
                  seed: int | str, max_requests: int | None = None) -> list[Arrival]:
    """Arrivals of a Poisson process of `rate_per_s` over `duration_s` (at most `max_requests`).

    Each arrival's class is drawn from the scenario's shares at that moment (a shifting mix
    changes them during the run), its input uniformly from `n_inputs`.
    """
    if rate_per_s <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    if n_inputs <= 0:
        raise ValueError("no inputs")
    rng = random.Random(seed)
    names = scenario.class_names
    arrivals: list[Arrival] = []
    t = rng.expovariate(rate_per_s)
    while t < duration_s and (max_requests is None or len(arrivals) < max_requests):
        shares = scenario.shares_at(t / duration_s)
        cls = rng.choices(names, weights=shares)[0]
        arrivals.append(Arrival(len(arrivals), t, cls, rng.randrange(n_inputs)))
        t += rng.expovariate(rate_per_s)
    return arrivals


def closed_loop_sequence(scenario: Scenario, n: int, n_inputs: int, seed: int | str) -> list[Arrival]:
    """Requests for a closed-loop run (no arrival times): classes by the run-averaged mix."""
    rng = random.Random(seed)
    names, shares = scenario.class_names, scenario.mean_shares()
    return [Arrival(i, 0.0, rng.choices(names, weights=shares)[0], rng.randrange(n_inputs))
            for i in range(n)]
