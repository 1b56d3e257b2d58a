"""The capacity-respecting upper bound (faasml/evaluation/bound.py) for a simulated trace.

The simulated system is described to the bound's LP as it is simulated:
- **pools**: every node with its CPUs (inside the machine pool, on one machine); a
  function spread over several nodes (a generated site) gets a pool of their union, and
  the selector replicas of a generated cluster one pool of their CPUs together;
- **placements**: every variant key of the task on its pool, with the least work a
  request can cost there (its distribution's smallest sample, times the node's slowdown,
  plus the executors' HTTP cost), the least latency an answer from it can have (that
  work, the node's round trip and one pass of each control-plane process), and as many
  requests at once as it has replicas;
- **offered load**: the control plane's CPU per request (gateway pass, selector, load
  generator) where those processes run, for every offered request;
- **values**: per request and variant, whether the variant is right on that request's
  input (the per-photo table: the correct-in-time bound), the variant's declared accuracy
  (the effective-accuracy bound) or 1 (the in-time bound).
A relaxation of the simulated system (least work, unions of nodes), so an upper bound on
what any policy achieves in the simulation.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from faasml.simulation.service import ServiceTimes
from faasml.simulation.topology import Topology


def system_of(topology: Topology, task: str, service: Mapping[str, ServiceTimes]) -> tuple[Any, list[str], dict]:
    """(the bound's System, the placements' variant keys in order, key -> declared accuracy)."""
    from faasml.evaluation import bound as lp

    control = topology.control
    nodes = {n.name: n for n in topology.nodes}
    pools: dict[str, Any] = {}
    for name, cpus in topology.machines:
        pools[name] = lp.Pool(name, cpus)
    for node in topology.nodes:
        pools[node.name] = lp.Pool(node.name, node.cpus, (node.inside,) if node.inside else ())
    placements, keys, accuracy = [], [], {}
    many_gateways = len({d.gateway for d in topology.deployments if d.task == task and d.nodes}) > 1
    for d in topology.deployments:
        times = service.get(d.name)
        if d.task != task or not d.nodes or times is None:
            continue
        members = sorted(set(d.nodes))
        pool = members[0]
        if len(members) > 1:
            pool = "+".join(members)
            if pool not in pools:
                inside = {nodes[m].inside for m in members if nodes[m].inside}
                pools[pool] = lp.Pool(pool, sum(nodes[m].cpus for m in members), tuple(sorted(inside)))
        least = min(nodes[m].slowdown for m in members) * times.samples[0]
        work = least + control.executor_http_ms
        rtt = min(nodes[m].rtt_ms for m in members)
        hops = control.gateway_ms + control.selector_ms + control.client_ms
        key = f"{d.name}@{d.gateway}" if many_gateways else d.name
        placements.append(lp.Placement(key, pool, work, rtt + hops + least, float(len(d.nodes))))
        keys.append(key)
        accuracy[key] = float(d.annotations.get("faasml.io/accuracy", "nan"))
    offered: dict[str, float] = {}
    per_request = control.gateway_ms + control.selector_ms + control.client_ms
    if control.pool and control.pool != "own" and per_request > 0:
        offered[control.pool] = per_request
    elif control.pool == "own" and control.selector_ms > 0:
        pools["selectors"] = lp.Pool("selectors", topology.selectors * control.selector_cpus)
        offered["selectors"] = control.selector_ms
    return lp.System(list(pools.values()), placements, offered_ms=offered), keys, accuracy


def trace_bounds(topology: Topology, task: str, service: Mapping[str, ServiceTimes], classes: Sequence[Any],
                 arrivals: Sequence[Any], correct: Mapping[str, Sequence[bool]] | None) -> dict:
    """The three bounds on one trace, in the shape the evaluation's report reads."""
    import numpy as np

    from faasml.evaluation import bound as lp

    system, keys, accuracy = system_of(topology, task, service)
    index = {c.name: i for i, c in enumerate(classes)}
    model_of = {f"{d.name}@{d.gateway}": d.model for d in topology.deployments}
    model_of.update({d.name: d.model for d in topology.deployments})
    times = np.array([a.t_s for a in arrivals], dtype=float)
    cls = np.array([index[a.cls] for a in arrivals], dtype=np.int64)
    deadlines = [c.deadline_ms for c in classes]

    def solve(values: np.ndarray) -> dict:
        pattern, table = lp.patterns(values)
        result = lp.bound(system, lp.Trace(times, cls, deadlines, pattern, table, keys))
        return result.to_dict()

    n = len(arrivals)
    if correct is None:
        right = np.ones((n, len(keys)))
    else:
        inputs = [a.input_index for a in arrivals]
        right = np.array([[1.0 if correct[model_of.get(k, k.split("@")[0])][i] else 0.0 for k in keys]
                          for i in inputs]) if n else np.zeros((0, len(keys)))
    declared = np.tile(np.array([accuracy[k] if math.isfinite(accuracy[k]) else 0.0 for k in keys]), (n, 1))
    in_time = solve(np.ones((n, len(keys))))
    correct_in_time = solve(right) if correct is not None else in_time
    effective = solve(declared)
    return {"correct_in_time": correct_in_time, "effective_accuracy": effective, "in_time": in_time,
            "model": "capacity-respecting LP (faasml/evaluation/bound.py) over the simulated system: least "
                     "work per placement, unions of a function's nodes, control-plane CPU per offered request"}
