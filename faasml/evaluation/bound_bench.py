"""`faasml bench bound`: how long the bound takes at the simulator's scale, and how tight
the aggregate is against the exact LP on small traces.

A seeded synthetic cluster (`--nodes` nodes of 2, 4 or 8 CPUs, round trips of 5-80 ms,
three of six image variants on each with 1-3 replicas serving one request at a time),
Poisson traces at `--rate` requests/s of the issue's three classes (50 / 200 / 1000 ms),
each request's correctness per variant drawn with that variant's accuracy, correlated the
way real photos are (an easy, a hard and a mixed share). For every size: the fluid bound's
solve time, its rounds, and the rate per request at `--rate` and at twice what the CPUs
could serve with the cheapest variant everywhere (overload whatever the policy). Then,
on a two-node machine like this one: the exact per-request LP against the fluid one.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np

from faasml.evaluation.bound import Placement, Pool, System, Trace, exact_bound, fluid_bound, patterns

MODELS = ("lite0-int8", "lite0-fp32", "lite1-int8", "lite1-fp32", "lite2-int8", "lite2-fp32")
WORK_MS = (8.0, 12.0, 14.0, 20.0, 22.0, 35.0)       # CPU ms per request, a CPU to itself
ACCURACY = (0.70, 0.74, 0.75, 0.78, 0.78, 0.80)
DEADLINES_MS = (50.0, 200.0, 1000.0)
SHARES = (0.3, 0.5, 0.2)


def cluster(nodes: int, seed: int = 0) -> System:
    rng = np.random.default_rng(seed)
    pools, placements = [], []
    for i in range(nodes):
        cpus = int(rng.choice([2, 4, 8]))
        rtt = float(rng.choice([5, 10, 20, 40, 80]))
        pools.append(Pool(f"node-{i}", cpus))
        for m in rng.choice(len(MODELS), 3, replace=False):
            placements.append(Placement(MODELS[m], f"node-{i}", WORK_MS[m], rtt + WORK_MS[m] + 2.0,
                                        concurrency=int(rng.integers(1, 4))))
    return System(pools, placements)


def capacity_per_s(system: System) -> float:
    """Requests/s the cluster's CPUs could serve were every request given the cheapest
    variant: no schedule answers more, so twice this is overload whatever the policy."""
    work = min(p.work_ms for p in system.placements) / 1000.0
    return sum(p.cpus for p in system.pools) / work


def correctness(n: int, rng: np.random.Generator) -> np.ndarray:
    """Per request and variant, right or wrong: most photos are easy (every variant right)
    or hard (every one wrong); the rest are right with each variant's own accuracy."""
    kind = rng.random(n)
    easy, hard = kind < 0.6, (kind >= 0.6) & (kind < 0.75)
    mixed = rng.random((n, len(MODELS))) < (np.array(ACCURACY) - 0.6) / 0.25
    return np.where(easy[:, None], True, np.where(hard[:, None], False, mixed))


def trace(n: int, rate: float, seed: int = 1) -> Trace:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    cls = rng.choice(len(DEADLINES_MS), n, p=SHARES)
    pattern, values = patterns(correctness(n, rng))
    return Trace(t, cls, DEADLINES_MS, pattern, values, MODELS)


def scale(sizes: Sequence[int], rate: float, nodes: int, say: Callable[[str], None] = print) -> list[dict]:
    system = cluster(nodes)
    capacity = capacity_per_s(system)
    say(f"cluster: {nodes} nodes, {sum(p.cpus for p in system.pools)} CPUs, {len(system.placements)} "
        f"placements, about {capacity:.0f} requests/s of CPU; load average {os.getloadavg()[0]:.1f}")
    rows = []
    for n in sizes:
        for offered in (rate, 2.0 * capacity):
            made = time.perf_counter()
            tr = trace(n, offered)
            made = time.perf_counter() - made
            result = fluid_bound(system, tr)
            row = {"requests": n, "rate_per_s": round(offered), "load": round(offered / capacity, 2),
                   "bound_rate": round(result.rate, 4), "solve_s": round(result.solve_s, 2),
                   "trace_s": round(made, 2), "status": result.status, "rounds": result.settings.get("rounds"),
                   "variables": result.variables, "constraints": result.constraints,
                   "load_average": round(os.getloadavg()[0], 1)}
            rows.append(row)
            say(f"{n:>9,} requests at {offered:>7.0f}/s ({row['load']:.2f} of capacity): bound "
                f"{row['bound_rate']:.4f} per request, solved in {row['solve_s']:.1f} s "
                f"({row['status']}, {row['rounds']} rounds, {row['variables']:,} variables, "
                f"{row['constraints']:,} rows; load average {row['load_average']})")
    return rows


def tightness(say: Callable[[str], None] = print, seconds: float = 4.0) -> list[dict]:
    """The fluid LP against the exact per-request LP on a two-node machine with overhead
    (like this one), on `seconds` of trace at 50-200% of its capacity: how much the
    aggregation loosens the bound. Exact with every window where the trace is small enough."""
    system = System([Pool("edge", 1, ("machine",)), Pool("cloud", 1, ("machine",)), Pool("machine", 2)],
                    [Placement(m, "edge" if i % 2 == 0 else "cloud", WORK_MS[i], WORK_MS[i] + 6.0)
                     for i, m in enumerate(MODELS)], {"machine": 6.0})
    capacity = 2000.0 / (min(WORK_MS) + 6.0)
    rows = []
    for load in (0.5, 1.0, 1.5, 2.0):
        rate = load * capacity
        tr = trace(int(rate * seconds), rate, seed=3)
        exact = exact_bound(system, tr)
        fluid = fluid_bound(system, tr)
        row = {"load": load, "requests": len(tr.arrival_s), "exact": round(exact.rate, 4),
               "fluid": round(fluid.rate, 4), "exact_s": round(exact.solve_s, 2), "fluid_s": round(fluid.solve_s, 2)}
        rows.append(row)
        say(f"{row['requests']} requests at {load:.0%} of a 2-CPU machine: exact {exact.rate:.4f} in "
            f"{exact.solve_s:.2f} s, fluid {fluid.rate:.4f} in {fluid.solve_s:.2f} s "
            f"(fluid / exact {fluid.rate / exact.rate:.3f})")
    return rows
