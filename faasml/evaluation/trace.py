"""Open-loop arrival traces at a set mean rate, generated once, replayed by every policy
(live, and in the simulator).

A trace is a list of arrivals (time from the start in seconds, client class, input index),
drawn from a seeded generator: the same seed, scenario and rate give the same trace, so
every policy sees identical requests at identical moments. The scenario's `arrivals`
say how they come (`make_trace`): Poisson; bursty, a two-state Markov-modulated Poisson
process whose bursts run at `burst_factor` x the mean for `burst_share` of the time
(exponential sojourns, bursts `burst_s` long on average; the rate between them keeps the
mean); or diurnal, a Poisson process whose rate follows the profile's keyframes (drawn by
thinning). Each arrival's class comes from the mix at its moment, its input uniformly.
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


def make_trace(scenario: Scenario, rate_per_s: float, duration_s: float, n_inputs: int,
               seed: int | str, max_requests: int | None = None) -> list[Arrival]:
    """The scenario's arrival process at mean rate `rate_per_s` (Poisson unless it says otherwise)."""
    process = scenario.arrivals.process
    if process == "poisson":
        return poisson_trace(scenario, rate_per_s, duration_s, n_inputs, seed, max_requests)
    if rate_per_s <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    if n_inputs <= 0:
        raise ValueError("no inputs")
    rng = random.Random(seed)
    names = scenario.class_names
    arrivals: list[Arrival] = []

    def add(t: float) -> bool:
        if max_requests is not None and len(arrivals) >= max_requests:
            return False
        cls = rng.choices(names, weights=scenario.shares_at(t / duration_s))[0]
        arrivals.append(Arrival(len(arrivals), t, cls, rng.randrange(n_inputs)))
        return True

    a = scenario.arrivals
    if process == "bursty":
        high_rate = a.burst_factor * rate_per_s
        low_rate = rate_per_s * (1.0 - a.burst_share * a.burst_factor) / (1.0 - a.burst_share)
        mean_low_s = a.burst_s * (1.0 - a.burst_share) / a.burst_share
        t, bursting = 0.0, rng.random() < a.burst_share
        end = rng.expovariate(1.0 / (a.burst_s if bursting else mean_low_s))
        while t < duration_s:
            rate = high_rate if bursting else low_rate
            gap = rng.expovariate(rate) if rate > 0 else float("inf")
            if t + gap < end:
                t += gap
                if t >= duration_s or not add(t):
                    break
            else:                      # the state changes first: memoryless, start afresh
                t, bursting = end, not bursting
                end = t + rng.expovariate(1.0 / (a.burst_s if bursting else mean_low_s))
        return arrivals
    # diurnal: thinning under the profile's highest rate
    peak = rate_per_s * max(rate for _, rate in a.profile)
    t = rng.expovariate(peak)
    while t < duration_s:
        if rng.random() * peak <= rate_per_s * a.rate_at(t / duration_s) and not add(t):
            break
        t += rng.expovariate(peak)
    return arrivals


def closed_loop_sequence(scenario: Scenario, n: int, n_inputs: int, seed: int | str) -> list[Arrival]:
    """Requests for a closed-loop run (no arrival times): classes by the run-averaged mix."""
    rng = random.Random(seed)
    names, shares = scenario.class_names, scenario.mean_shares()
    return [Arrival(i, 0.0, rng.choices(names, weights=shares)[0], rng.randrange(n_inputs))
            for i in range(n)]
