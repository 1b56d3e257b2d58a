"""An offline upper bound on what any policy could reach on a given trace.

The oracle knows every arrival in advance, each variant's service time (its executor
compute when idle, measured on the platform) and idle latency (round trip and hops
included), and each node's CPU count and which variants live there. It solves a linear
program (a relaxation of the assignment of requests to variants):

    maximise   sum_{r,v} value_v * x[r,v]
    subject to x[r,v] in [0, 1], defined only where idle_latency_v <= deadline_r
               sum_v x[r,v] <= 1                                     for every request r
               sum_{r in W(a,b)} sum_{v on n} service_v * x[r,v] <= (b - a) * cpus_n
                                                          for every node n and window [a, b]

where W(a, b) holds the requests that arrive at or after `a` and are due by `b`: their work
on node n must be done inside [a, b], on at most cpus_n CPUs. These are necessary
conditions of any schedule (demand bounds), so every real schedule, whatever its policy,
is a feasible point of the LP with x = 1 for the variant that answered in time: the
optimum is a true upper bound (under the model: fixed service times per variant, no
CPU spent outside the executors). Any set of windows keeps it an upper bound; more
windows make it tighter. With value_v = declared accuracy the optimum bounds the expected
correct-in-time count (compare with a policy's effective accuracy, the same unit); with
value_v = 1 it bounds the in-time count.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class OracleVariant:
    name: str
    node: str
    service_ms: float      # CPU work per request on its node
    latency_ms: float      # idle latency as a client sees it (>= service_ms)
    value: float           # what one in-time answer is worth (accuracy, or 1)


@dataclass(frozen=True)
class OracleRequest:
    t_s: float
    deadline_ms: float


@dataclass
class OracleResult:
    bound: float                 # optimum: upper bound on the sum of values
    requests: int
    servable: int                # requests some variant meets when idle
    variables: int
    windows: int
    solve_s: float
    status: str
    per_variant: dict[str, float] = field(default_factory=dict)  # the LP's (fractional) assignment

    @property
    def rate(self) -> float:
        return self.bound / self.requests if self.requests else float("nan")

    def to_dict(self) -> dict:
        return {"bound": round(self.bound, 4), "rate": round(self.rate, 4) if self.requests else None,
                "requests": self.requests, "servable": self.servable, "variables": self.variables,
                "windows": self.windows, "solve_s": round(self.solve_s, 3), "status": self.status,
                "per_variant": {k: round(v, 2) for k, v in self.per_variant.items()}}


def default_windows(requests: Sequence[OracleRequest], multipliers: Sequence[float] = (1, 1.5, 2, 3, 5, 10, 20),
                    per_length: int = 4) -> list[tuple[float, float]]:
    """Windows [a, b] in seconds: for each distinct deadline D and multiplier m, length m*D,
    starting every length/`per_length` from 0; plus the whole trace."""
    if not requests:
        return []
    horizon = max(r.t_s + r.deadline_ms / 1000.0 for r in requests)
    lengths = sorted({round(m * r.deadline_ms / 1000.0, 6) for r in requests for m in multipliers})
    lengths = [length for length in lengths if length < horizon]
    windows = []
    for length in lengths:
        step = length / per_length
        a = 0.0
        while a < horizon:
            windows.append((a, a + length))
            a += step
    windows.append((0.0, horizon))
    return windows


def solve(requests: Sequence[OracleRequest], variants: Sequence[OracleVariant], node_cpus: dict[str, int],
          windows: Sequence[tuple[float, float]] | None = None) -> OracleResult:
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    started = time.perf_counter()
    columns: list[tuple[int, int]] = []  # (request, variant index)
    for i, r in enumerate(requests):
        for j, v in enumerate(variants):
            if v.latency_ms <= r.deadline_ms and v.value > 0:
                columns.append((i, j))
    servable = len({i for i, _ in columns})
    if not columns:
        return OracleResult(0.0, len(requests), 0, 0, 0, time.perf_counter() - started, "trivial")
    windows = list(windows) if windows is not None else default_windows(requests)

    rows, cols, vals, rhs = [], [], [], []
    row = 0
    # one answer at most per request
    for k, (i, _) in enumerate(columns):
        rows.append(i)
        cols.append(k)
        vals.append(1.0)
    rhs.extend([1.0] * len(requests))
    row = len(requests)
    # demand bounds per node and window
    t = np.array([r.t_s for r in requests])
    due = t + np.array([r.deadline_ms for r in requests]) / 1000.0
    by_node: dict[str, list[int]] = {}
    for k, (_, j) in enumerate(columns):
        by_node.setdefault(variants[j].node, []).append(k)
    used_windows = 0
    for node, ks in by_node.items():
        cpus = node_cpus.get(node, 1)
        ks_arr = np.array(ks)
        req_of = np.array([columns[k][0] for k in ks])
        work = np.array([variants[columns[k][1]].service_ms / 1000.0 for k in ks])
        seen: set[tuple[int, ...]] = set()
        for a, b in windows:
            inside = (t[req_of] >= a - 1e-12) & (due[req_of] <= b + 1e-12)
            if not inside.any():
                continue
            members = ks_arr[inside]
            if work[inside].sum() <= (b - a) * cpus + 1e-12:
                continue  # cannot bind
            key = (int(members[0]), int(members[-1]), len(members), round(b - a, 6))
            if key in seen:
                continue
            seen.add(key)
            rows.extend([row] * len(members))
            cols.extend(members.tolist())
            vals.extend(work[inside].tolist())
            rhs.append((b - a) * cpus)
            row += 1
            used_windows += 1
    matrix = coo_matrix((vals, (rows, cols)), shape=(row, len(columns))).tocsr()
    objective = -np.array([variants[j].value for _, j in columns])
    result = linprog(objective, A_ub=matrix, b_ub=np.array(rhs), bounds=(0.0, 1.0), method="highs")
    if not result.success:
        return OracleResult(float("nan"), len(requests), servable, len(columns), used_windows,
                            time.perf_counter() - started, f"failed: {result.message}")
    per_variant: dict[str, float] = {}
    for (_, j), x in zip(columns, result.x):
        per_variant[variants[j].name] = per_variant.get(variants[j].name, 0.0) + float(x)
    return OracleResult(float(-result.fun), len(requests), servable, len(columns), used_windows,
                        time.perf_counter() - started, "optimal", per_variant)
