"""Faults a scenario injects into a simulated run (its `faults:` list).

```yaml
faults:
  - {kind: replica-lost, at: 0.3, function: efficientnet-lite0-int8, site: site-01, restart_s: 10}
  - {kind: node-stall, at: 0.5, node: cloud, for_s: 3}
  - {kind: slow, at: 0.2, function: efficientnet-lite2-fp32, factor: 3, for_s: 5}
```
`at` is a fraction of the run (0..1). A lost replica fails what it was running and its
queue (a lost connection, or 502 through the gateway) and comes back `restart_s` later
(never, without it); its gateway lists it as not ready meanwhile. A stalled node's
processes get no CPU for `for_s` seconds (a hung VM): their sockets stay open, so calls
wait, and the selector's stall bound and probes are what get it out of the way. A slowed
variant's service times are `factor` times their draw for `for_s` seconds (a noisy
neighbour, a thermal throttle), for every call it starts meanwhile. `site` limits a
function's fault to one gateway (default: every site holding it).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from faasml.simulation.simulator import Fault
from faasml.simulation.topology import Topology

KINDS = ("replica-lost", "node-stall", "slow")
KEYS = {"kind", "at", "function", "site", "node", "for_s", "factor", "restart_s"}


class FaultError(ValueError):
    pass


def _number(where: str, value: Any, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise FaultError(f"{where}: expected a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def parse_faults(raw: Sequence[Mapping[str, Any]], topology: Topology, duration_s: float,
                 label: str = "faults") -> list[Fault]:
    """The scenario's faults for a run of `duration_s`, checked against the topology."""
    faults = []
    functions = {d.name for d in topology.deployments}
    sites = set(topology.gateways)
    nodes = {n.name for n in topology.nodes}
    for i, spec in enumerate(raw):
        where = f"{label}[{i}]"
        unknown = set(spec) - KEYS
        if unknown:
            raise FaultError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(KEYS)}")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError(f"{where}.kind: one of {list(KINDS)}, got {kind!r}")
        at_s = _number(f"{where}.at", spec.get("at", 0.5), 0.0, 1.0) * duration_s
        for_s = _number(f"{where}.for_s", spec["for_s"], 0.0) if "for_s" in spec else math.inf
        function = spec.get("function")
        site = spec.get("site")
        node = spec.get("node")
        if kind in ("replica-lost", "slow"):
            if function not in functions:
                raise FaultError(f"{where}.function: one of {sorted(functions)}, got {function!r}")
            if site is not None and site not in sites:
                raise FaultError(f"{where}.site: one of {sorted(sites)}, got {site!r}")
        if kind == "node-stall" and node not in nodes:
            raise FaultError(f"{where}.node: one of {sorted(nodes)[:10]}{' ...' if len(nodes) > 10 else ''}, "
                             f"got {node!r}")
        factor = _number(f"{where}.factor", spec.get("factor", 1.0), 0.001) if kind == "slow" else 1.0
        restart = _number(f"{where}.restart_s", spec["restart_s"], 0.0) if "restart_s" in spec else None
        faults.append(Fault(kind, at_s, for_s, function, site, node, factor, restart))
    return faults
