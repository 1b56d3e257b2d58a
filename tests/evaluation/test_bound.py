"""The capacity-respecting bound: small cases solved by hand, the bound above every real
schedule of small traces (several scheduling rules, run by an event-driven model written
here), the aggregate above the exact LP, and a bound that falls past capacity."""
from __future__ import annotations

import random

import numpy as np
import pytest

from faasml.evaluation.bound import (Placement, Pool, System, Trace, bound, exact_bound, fluid_bound,
                                     merge_nodes, patterns)

DEADLINES = [50.0, 150.0, 400.0]
MODELS = ["fast", "mid", "slow"]


def one_class(times, deadline_ms, values=(1.0,), models=("v",)):
    return Trace(arrival_s=list(times), cls=[0] * len(times), deadline_ms=[deadline_ms], pattern=0,
                 values=[list(values)], models=list(models))


# ---------------------------------------------------------------- by hand
def test_one_request_gets_the_best_model_that_fits():
    system = System([Pool("n", 1)], [Placement("fast", "n", 10, 10), Placement("slow", "n", 80, 90)])
    trace = Trace([0.0], [0], [100.0], 0, [[0.7, 0.9]], ["fast", "slow"])
    assert exact_bound(system, trace).bound == pytest.approx(0.9)
    tight = Trace([0.0], [0], [50.0], 0, [[0.7, 0.9]], ["fast", "slow"])   # slow misses 50 ms even idle
    result = exact_bound(system, tight)
    assert result.bound == pytest.approx(0.7) and result.per_model == {"fast": pytest.approx(1.0)}
    assert fluid_bound(system, tight).bound == pytest.approx(0.7)


def test_nothing_fits():
    system = System([Pool("n", 1)], [Placement("v", "n", 10, 10)])
    for solve in (exact_bound, fluid_bound):
        result = solve(system, one_class([0.0], 5))
        assert result.bound == 0 and result.servable == 0


def test_a_cpu_is_shared_and_a_machine_pool_binds_unpinned_overhead():
    # two requests at t=0 due at 100 ms, 80 ms of work each, one CPU: 100 ms of work fits
    trace = one_class([0.0, 0.0], 100)
    one = System([Pool("A", 1)], [Placement("v", "A", 80, 80)])
    assert exact_bound(one, trace).bound == pytest.approx(100 / 80)
    two_cpus = System([Pool("A", 2)], [Placement("v", "A", 80, 80)])
    assert exact_bound(two_cpus, trace).bound == pytest.approx(2.0)
    # two one-CPU nodes inside a two-CPU machine; 40 ms of unpinned overhead per answer on
    # the machine: (80 + 40) ms per answer of 200 CPU-ms, not 2 answers
    machine = System([Pool("A", 1, ("m",)), Pool("B", 1, ("m",)), Pool("m", 2)],
                     [Placement("v", "A", 80, 80), Placement("v", "B", 80, 80)], {"m": 40})
    assert exact_bound(machine, trace).bound == pytest.approx(200 / 120)
    assert fluid_bound(machine, trace).bound == pytest.approx(200 / 120)


def test_concurrency_limits_a_placement_below_its_node():
    trace = one_class([0.0, 0.0], 100)
    system = System([Pool("A", 4)], [Placement("v", "A", 80, 80, concurrency=1)])
    assert exact_bound(system, trace).bound == pytest.approx(100 / 80)


def test_requests_spread_in_time_do_not_compete():
    system = System([Pool("A", 1)], [Placement("v", "A", 80, 80)])
    assert exact_bound(system, one_class([0.0, 0.5], 100)).bound == pytest.approx(2.0)
    assert fluid_bound(system, one_class([0.0, 0.5], 100)).bound == pytest.approx(2.0)


def test_per_input_values_pick_the_model_that_is_right():
    # request 0 only `mid` gets right, request 1 only `fast`; one CPU-ms budget for both
    system = System([Pool("n", 2)], [Placement("fast", "n", 10, 12), Placement("mid", "n", 30, 33)])
    pattern, values = patterns(np.array([[0, 1], [1, 0]]))
    trace = Trace([0.0, 0.0], [0, 0], [100.0], pattern, values, ["fast", "mid"])
    assert exact_bound(system, trace).bound == pytest.approx(2.0)
    assert fluid_bound(system, trace).bound == pytest.approx(2.0)


def test_bad_systems_are_refused():
    trace = one_class([0.0], 100)
    with pytest.raises(ValueError, match="unknown node"):
        exact_bound(System([Pool("n", 1)], [Placement("v", "elsewhere", 1, 1)]), trace)
    with pytest.raises(ValueError, match="positive CPU"):
        exact_bound(System([Pool("n", 0)], [Placement("v", "n", 1, 1)]), trace)
    with pytest.raises(ValueError, match="no such model"):
        exact_bound(System([Pool("n", 1)], [Placement("w", "n", 1, 1)]), trace)
    with pytest.raises(ValueError, match="overhead"):
        exact_bound(System([Pool("n", 1)], [Placement("v", "n", 1, 1)], {"x": 1.0}), trace)


# ---------------------------------------------------------------- real schedules
def small_system(kind: str) -> tuple[System, dict]:
    """A system and, for the event model, the servers: placement index -> (rtt ms, whether
    the overhead runs on that placement's server before its work)."""
    if kind == "nodes":   # two nodes, one CPU per placement, a round trip to the far one
        system = System([Pool("edge", 2), Pool("cloud", 1)],
                        [Placement("fast", "edge", 15, 15), Placement("mid", "edge", 35, 35),
                         Placement("slow", "cloud", 70, 70 + 30)])
        return system, {"rtt": [0, 0, 30], "overhead_on_server": 0.0}
    if kind == "offered":   # every request first costs 6 ms of control plane on either CPU
        system = System([Pool("edge", 1, ("machine",)), Pool("cloud", 1, ("machine",)), Pool("machine", 2)],
                        [Placement("fast", "edge", 15, 15 + 6), Placement("mid", "cloud", 35, 35 + 6),
                         Placement("slow", "cloud", 70, 70 + 6)], offered_ms={"machine": 6.0})
        return system, {"rtt": [0, 0, 0], "overhead_on_server": 0.0, "control_ms": 6.0}
    # one machine: two one-CPU nodes inside it; 6 ms of unpinned overhead per answer
    system = System([Pool("edge", 1, ("machine",)), Pool("cloud", 1, ("machine",)), Pool("machine", 2)],
                    [Placement("fast", "edge", 15, 15 + 6), Placement("mid", "cloud", 35, 35 + 6),
                     Placement("slow", "cloud", 70, 70 + 6)], {"machine": 6.0})
    return system, {"rtt": [0, 0, 0], "overhead_on_server": 6.0}


def random_trace(n: int, rate: float, seed: int, accuracy=(0.7, 0.78, 0.82)) -> tuple[Trace, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    cls = rng.choice(3, n, p=[0.3, 0.5, 0.2])
    correct = rng.random((n, 3)) < np.array(accuracy)
    pattern, values = patterns(correct)
    return Trace(t, cls, DEADLINES, pattern, values, MODELS), correct


def schedule(system: System, servers: dict, trace: Trace, correct: np.ndarray, rule: str, seed: int) -> float:
    """A real schedule: each node's CPUs are FIFO servers; each request is sent at arrival
    to the placement the rule picks and runs on the first free CPU of its node, answered at
    rtt + wait + (overhead +) work; it counts when answered by its deadline and right. Its
    work runs inside [arrival, deadline] on its node's CPUs, so the bound must cover it."""
    rng = random.Random(seed)
    cpus = {pool.name: [0.0] * int(pool.cpus) for pool in system.pools if pool.name != "machine"}
    overhead = servers["overhead_on_server"] / 1000.0
    achieved = 0.0
    cycle = 0
    for r in np.argsort(trace.arrival_s, kind="stable"):
        t, deadline = trace.arrival_s[r], DEADLINES[trace.cls[r]] / 1000.0
        arrival = t
        if servers.get("control_ms"):   # the control plane's turn, on the first free CPU of any node
            node, cpu = min(((n, j) for n, free in cpus.items() for j in range(len(free))),
                            key=lambda nj: cpus[nj[0]][nj[1]])
            t = max(cpus[node][cpu], t) + servers["control_ms"] / 1000.0
            cpus[node][cpu] = t
        finish, where = [], []
        for i, p in enumerate(system.placements):
            free = cpus[p.node]
            cpu = min(range(len(free)), key=lambda j: free[j])
            half_rtt = servers["rtt"][i] / 2000.0
            start = max(free[cpu], t + half_rtt)
            finish.append(start + overhead + p.work_ms / 1000.0 + half_rtt)
            where.append((p.node, cpu, finish[-1] - half_rtt))
        in_time = [i for i in range(len(finish)) if finish[i] - arrival <= deadline + 1e-12]
        model = lambda i: MODELS.index(system.placements[i].model)  # noqa: E731
        if rule == "fastest":
            pick = min(range(len(finish)), key=lambda i: finish[i])
        elif rule == "most-accurate-in-time":
            pick = max(in_time, key=lambda i: (correct[r, model(i)], -finish[i]), default=None)
        elif rule == "random":
            pick = rng.randrange(len(finish))
        elif rule == "round-robin":
            pick, cycle = cycle % len(finish), cycle + 1
        elif rule == "greedy-accuracy":   # the declared best model that still fits
            pick = max(in_time, key=lambda i: (model(i), -finish[i]), default=None)
        else:
            raise ValueError(rule)
        if pick is None or finish[pick] - arrival > deadline + 1e-12:
            continue   # refused: it would be late (costs nothing here)
        node, cpu, done = where[pick]
        cpus[node][cpu] = done
        achieved += float(correct[r, model(pick)])
    return achieved


RULES = ["fastest", "most-accurate-in-time", "random", "round-robin", "greedy-accuracy"]


@pytest.mark.parametrize("kind", ["nodes", "machine", "offered"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_bound_is_above_every_schedule_and_the_aggregate_above_the_exact(kind, seed):
    system, servers = small_system(kind)
    for rate in (30.0, 90.0, 250.0):
        trace, correct = random_trace(90, rate, seed)
        complete = exact_bound(system, trace, windows="all")
        family = exact_bound(system, trace)
        fluid = fluid_bound(system, trace)
        fine = fluid_bound(system, trace, slot_fraction=0.25, block_s=0.05)
        assert complete.status == family.status == "optimal"
        assert fluid.status in ("optimal", "stalled")
        # every window of the family is one of the complete set: the family bound is looser
        assert family.bound >= complete.bound - 1e-6
        # the aggregate is a relaxation of the complete per-request LP
        assert fluid.bound >= complete.bound - 1e-6, (rate, fluid.bound, complete.bound)
        assert fine.bound >= complete.bound - 1e-6
        achieved = {rule: schedule(system, servers, trace, correct, rule, seed) for rule in RULES}
        for rule, value in achieved.items():
            assert complete.bound >= value - 1e-6, (rule, rate, value, complete.bound)
        # not vacuous: the best of these simple rules gets a good part of it
        assert max(achieved.values()) >= 0.4 * complete.bound, (rate, achieved, complete.bound)
        # and never above what answering everyone rightly would give
        assert fluid.bound <= correct.any(axis=1).sum() + 1e-6


def test_the_bound_falls_past_capacity():
    """Rate per request against load: flat below capacity, falling clearly past it."""
    system, servers = small_system("machine")
    # capacity: 2 CPUs / (work + 6 ms of overhead) per answer, ~21-41 ms: about 80/s
    rates, values = [20.0, 40.0, 80.0, 120.0, 160.0], []
    for rate in rates:
        trace, correct = random_trace(int(rate * 6), rate, 11)
        result = bound(system, trace)
        best = correct.any(axis=1).mean()    # the no-capacity value: every request, a right model
        values.append(result.rate / best)
        achieved = max(schedule(system, servers, trace, correct, rule, 0) for rule in RULES)
        assert result.bound >= achieved - 1e-6
    assert values[0] > 0.95 and values[1] > 0.95, values
    assert all(later <= earlier + 0.02 for earlier, later in zip(values, values[1:])), values
    assert values[3] < 0.85 and values[4] < 0.7, values


def test_merging_like_nodes_is_a_relaxation():
    rng = np.random.default_rng(5)
    pools, placements = [], []
    for i in range(12):
        pools.append(Pool(f"n{i}", int(rng.choice([1, 2]))))
        for model in (["fast", "mid"] if i % 2 else ["mid", "slow"]):
            work = {"fast": 8, "mid": 22, "slow": 45}[model]
            placements.append(Placement(model, f"n{i}", work, work + float(rng.choice([2, 40])),
                                        concurrency=1))
    system = System(pools, placements)
    merged = merge_nodes(system, DEADLINES)
    assert len(merged.pools) == 2 and sum(p.cpus for p in merged.pools) == sum(p.cpus for p in pools)
    trace, _ = random_trace(400, 900.0, 3)
    separate = fluid_bound(system, trace, merge=False)
    together = fluid_bound(system, trace, merge=True)
    assert together.bound >= separate.bound - 1e-6
    assert together.bound <= separate.bound * 1.1    # and not much looser when nodes are alike


def test_values_by_declared_accuracy_and_in_time():
    system, _ = small_system("nodes")
    trace, _ = random_trace(60, 50.0, 4)
    accuracy = Trace(trace.arrival_s, trace.cls, DEADLINES, 0, [[0.7, 0.78, 0.82]], MODELS)
    in_time = Trace(trace.arrival_s, trace.cls, DEADLINES, 0, [[1.0, 1.0, 1.0]], MODELS)
    by_accuracy, by_time = exact_bound(system, accuracy), exact_bound(system, in_time)
    assert 0.7 * by_time.bound - 1e-6 <= by_accuracy.bound <= 0.82 * by_time.bound + 1e-6
    assert by_time.bound == pytest.approx(60)   # light load: every request in time


def test_reserved_cpu_is_taken_out_of_every_window_it_overlaps():
    from faasml.evaluation.bound import Reserved

    # 20 requests of 80 ms work, 100 ms apart, one CPU: all fit; with 0.5 CPU taken by
    # others from 0.5 s to 1.5 s, the ten in that second fit in half a CPU-second
    times = [i * 0.1 for i in range(20)]
    free = System([Pool("A", 1)], [Placement("v", "A", 80, 80)])
    busy = System([Pool("A", 1)], [Placement("v", "A", 80, 80)], reserved=[Reserved("A", 0.5, 1.5, 0.5)])
    trace = one_class(times, 100)
    assert exact_bound(free, trace).bound == pytest.approx(20)
    for solve in (exact_bound, fluid_bound):
        limited = solve(busy, trace).bound
        assert 20 - 10 * (1 - 0.5 * 100 / 80) - 1e-6 <= limited < 19, solve
    # slack: only (overlap - slack) counts, so the bound is looser, never tighter
    slack = System([Pool("A", 1)], [Placement("v", "A", 80, 80)], reserved=[Reserved("A", 0.5, 1.5, 0.5, 0.5)])
    assert exact_bound(slack, trace).bound >= exact_bound(busy, trace).bound - 1e-9
    with pytest.raises(ValueError, match="reserved"):
        exact_bound(System([Pool("A", 1)], [Placement("v", "A", 80, 80)], reserved=[Reserved("B", 0, 1, 1)]), trace)


def test_the_scale_benchmark_runs_small(capsys):
    from faasml.cli import build_parser

    args = build_parser().parse_args(["bench", "bound", "--requests", "3e3", "--nodes", "12", "--no-tightness"])
    assert args.requests == [3000] and args.nodes == 12
    assert args.func(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "requests at" in line]
    assert len(lines) == 2     # light load, then twice what the CPUs can serve
    light, over = (float(line.split("bound ")[1].split()[0]) for line in lines)
    assert over < light


def test_every_offered_request_costs_its_overhead_answered_or_not():
    # three requests at t=0 due in 100 ms on one CPU; the gateway and selector spend 20 ms
    # on each, answered or not: 100 - 3 x 20 = 40 ms of CPU is left for 60 ms answers
    system = System([Pool("m", 1)], [Placement("v", "m", 60, 60)], offered_ms={"m": 20.0})
    trace = one_class([0.0, 0.0, 0.0], 100)
    assert exact_bound(system, trace).bound == pytest.approx(40 / 60)
    assert fluid_bound(system, trace).bound == pytest.approx(40 / 60)
    # charged per answered request instead, the unanswered ones cost nothing: 100 / 80
    per_answer = System([Pool("m", 1)], [Placement("v", "m", 60, 60)], overhead_ms={"m": 20.0})
    assert exact_bound(per_answer, trace).bound == pytest.approx(100 / 80)
    # more offered than the CPUs can even receive: nothing, and still a solvable LP
    flood = one_class([0.0] * 8, 100)
    assert exact_bound(system, flood).bound == pytest.approx(0.0, abs=1e-9)
    assert fluid_bound(system, flood).bound == pytest.approx(0.0, abs=1e-9)
