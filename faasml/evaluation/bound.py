"""An upper bound on what any policy can reach on a trace, under CPU capacity and deadlines.

`faasml bench evaluate` puts it beside every live cell; `faasml bench simulate` calls it
with its own nodes, variants and per-request values. It knows nothing of the platform: the
caller describes the system and the trace with the types below (plain numbers and numpy
arrays) and gets a number no schedule can beat.

The model
---------
- **Pools of CPUs.** A pool of `cpus` CPUs does at most `cpus` CPU-seconds of work per
  second. A node is a pool (its executors run on its CPUs). A pool may lie `inside` larger
  pools whose CPUs include its own: on one machine whose nodes are CPU sets, every node
  lies inside the machine's pool, where unpinned processes (the gateway, a selector on an
  unpinned control node) also run.
- **Placements.** A model served from a node: `work_ms`, the CPU work of one request (its
  service time with a CPU to itself); `least_latency_ms`, a latency no answer from it
  beats (round trip, hops and work); optionally `concurrency`, how many requests it can
  serve at once (replicas that serve one request at a time each).
- **Overhead.** CPU spent outside the executors (gateway, selector, a load generator on
  the same machine), charged to the pool where it runs: `offered_ms` per request offered,
  answered or not (a gateway sees every request), and/or `overhead_ms` per answer.
- **Requests.** An arrival time, a class (its deadline D; optionally the models it may
  use) and a value pattern: `values[pattern, model]` is what an in-time answer from that
  model is worth. All ones bound the in-time count; a model's declared accuracy, the
  expected correct-in-time count; each model's measured correctness on the request's own
  input (0/1), the correct-in-time count itself.

The bound is the optimum of a linear program over the answers given in time. Requests may
be answered in part (the relaxation) and an answer from placement p of request r is
feasible only if `least_latency(p) <= D_r`. For every pool k and window [a, b]:

    sum over in-time answers with a <= t_r and t_r + D_r <= b of  load_k(r)
        <=  cpus_k * (b - a) - reserved_k(a, b) - offered_k * #{requests with a <= t_r, t_r + D_r <= b}

where load_k(r) = work(p) if p's node is k or lies inside k, plus overhead_k. Every request
counted there arrived at or after a and was answered by b, so the CPU work it needed ran
inside [a, b] on k's CPUs (and so did every offered request's share, answered or not): the inequalities are demand bounds, *necessary* conditions of
any schedule (a placement with `concurrency` c adds the same inequality with c as its
capacity, for its own work). Any real run, whatever its policy, gives a feasible point
(x = 1 for each request answered in time, by the placement that answered it) of value
equal to what it achieved, so the optimum bounds every policy. Any set of windows keeps it
a bound; more windows make it tighter.

It is a bound *under the model*: fixed work per request and placement (the caller gives a
figure no request beats on average, e.g. the least measured), overhead charged only to
answered requests (refused ones cost CPU too) and no other work on the CPUs than
`reserved` says.

Two solvers
-----------
`exact_bound`: one variable per (request, placement), the windows of `exact_windows` (or
every [arrival, deadline] pair: the tightest demand-bound LP). For small traces, and the
reference the aggregate is tested against.

`fluid_bound`: the same LP aggregated so that 1e6 requests solve in seconds:
- *time cells*: requests of one class arriving in one slot of width `slot_s[c]` (a
  fraction of the class's deadline, widened when the cells would be too many);
  z[cell, p] = how many of them placement p answers in time;
- *value blocks*: u[block, class, pattern, model] = how many requests of that class and
  pattern, arriving in that block (a union of cells), the model answers in time, at most
  the requests there and, per model, at most what the cells' variables of that model say;
- *windows* include a cell only when every request of it lies inside (its first arrival
  >= a, its last arrival + D <= b), through prefix sums of each resource's load per
  class, so a window costs a few nonzeros whatever its length. Windows are added as the
  solution violates them (row generation), starting from the long ones;
- *like nodes merged* (`merge_nodes`): nodes hosting the same models with the same work
  become one pool with their CPUs summed.
Aggregation keeps it an upper bound: from a real schedule, let z count the answers of
each cell by each placement and u those of each block, class, pattern and model. Then
each cell's and block's counts are at most their requests, u per model is at most z per
model (equal, less the answers worth 0), and every window constraint of the aggregate
sums a subset of the requests of the exact window with the same [a, b], which the
schedule satisfies; a merged pool's constraint is the sum of its members'. The objective
is what the schedule achieved. So every schedule is a feasible point of the aggregate,
and the aggregate is at least the exact LP over every window
(`exact_bound(..., windows="all")`; a test checks it). Row generation stops when no
window of the family is violated (status "optimal") or when a round lowers the optimum by
less than `stall` (status "stalled"): the optimum over a subset of the windows is an
upper bound too, only a looser one.

Other work on the CPUs (a shared machine's other tenants, a stalled node) enters as
`Reserved` CPU: a window's capacity loses what the reservation overlaps of it.

API (for the simulator)
-----------------------
    from faasml.evaluation.bound import Pool, Placement, Reserved, System, Trace, bound, patterns

    system = System(
        pools=[Pool("node-1", cpus=4), Pool("node-2", cpus=8), Pool("sel", cpus=2)],
        placements=[Placement(model="lite0-int8", node="node-1", work_ms=9.0,
                              least_latency_ms=14.0, concurrency=2), ...],
        overhead_ms={"sel": 1.2},                     # CPU per answered request, optional
        reserved=[Reserved("node-2", 30.0, 40.0, cpus=8)])   # node-2 stalled 30-40 s, optional
    pattern, values = patterns(correct)               # correct: bool [requests, models]
    trace = Trace(arrival_s=t, cls=class_index, deadline_ms=[50, 200, 1000],
                  pattern=pattern, values=values, models=["lite0-int8", ...])
    result = bound(system, trace)     # exact up to 20,000 (request, placement) pairs, else fluid
    result.bound, result.rate, result.method, result.status, result.solve_s, result.per_model

`values` may also be one row (`values=[[0.71, 0.80, ...]]`, `pattern=0` for all) for
declared accuracy, or all ones for in-time. `Trace.allowed[c, m]` (optional) says which
models class c may use; leave it out unless every policy measured respects it. Least
latency must be a latency no in-time answer beats (round trip, hops and work); work a
figure no request's average beats: the bound holds for the model, and the model for the
system only as far as these figures are lower bounds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

EPS = 1e-9


# ---------------------------------------------------------------- the model
@dataclass(frozen=True)
class Pool:
    """A set of CPUs: a node, or a machine whose CPUs some nodes share."""
    name: str
    cpus: float
    inside: tuple[str, ...] = ()   # larger pools whose CPUs include these


@dataclass(frozen=True)
class Placement:
    """A model served from a node."""
    model: str
    node: str                       # a Pool's name
    work_ms: float                  # CPU work per request, a CPU to itself
    least_latency_ms: float         # no in-time answer from it is faster
    concurrency: float | None = None  # requests at once (replicas); None: only the CPUs limit it


@dataclass(frozen=True)
class Reserved:
    """CPU of a pool that the requests cannot use between `start_s` and `end_s`: other work
    on a shared machine, a stalled node. A window [a, b] loses cpus x (its overlap with
    [start_s, end_s] - slack_s): `slack_s` for a figure that holds only on average over
    spans of that length (CPU samples)."""
    pool: str
    start_s: float
    end_s: float
    cpus: float
    slack_s: float = 0.0


@dataclass(frozen=True)
class System:
    pools: Sequence[Pool]
    placements: Sequence[Placement]
    overhead_ms: dict[str, float] = field(default_factory=dict)  # pool -> CPU ms per answered request
    reserved: Sequence[Reserved] = ()
    # pool -> CPU ms every offered request costs there, answered or not (a gateway and a
    # selector see every request; a refused one costs them too), spent within its deadline
    offered_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class Trace:
    """Requests as arrays (one entry per request) and what their answers are worth."""
    arrival_s: Sequence[float]
    cls: Sequence[int]              # index into deadline_ms
    deadline_ms: Sequence[float]    # per class
    pattern: Sequence[int] | int    # index into values' rows (an int: the same for all)
    values: Sequence[Sequence[float]]  # [patterns, models], in [0, 1]
    models: Sequence[str]
    allowed: Sequence[Sequence[bool]] | None = None  # [classes, models]; None: any


@dataclass
class BoundResult:
    bound: float                  # upper bound on the summed value of in-time answers
    requests: int
    method: str                   # "exact" | "fluid" | "trivial"
    status: str
    solve_s: float
    variables: int = 0
    constraints: int = 0
    windows: int = 0
    servable: int = 0             # requests some placement could answer in time when idle
    per_model: dict[str, float] = field(default_factory=dict)  # the optimum's (fractional) answers
    settings: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.bound / self.requests if self.requests else math.nan

    def to_dict(self) -> dict:
        return {"bound": round(self.bound, 4) if math.isfinite(self.bound) else None,
                "rate": round(self.rate, 4) if self.requests and math.isfinite(self.bound) else None,
                "requests": self.requests, "servable": self.servable, "method": self.method,
                "status": self.status, "solve_s": round(self.solve_s, 3), "variables": self.variables,
                "constraints": self.constraints, "windows": self.windows,
                "per_model": {k: round(v, 2) for k, v in self.per_model.items()}, "settings": self.settings}


def patterns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-request values [requests, models] -> (pattern index per request, distinct rows).
    With 0/1 correctness most inputs share a few rows (right everywhere, wrong everywhere)."""
    table, index = np.unique(np.asarray(values, dtype=float), axis=0, return_inverse=True)
    return index.reshape(-1).astype(np.int64), table


# ---------------------------------------------------------------- compiled arrays
@dataclass
class _Compiled:
    t: np.ndarray          # arrival s, per request
    cls: np.ndarray        # class per request
    pat: np.ndarray        # pattern per request
    deadline: np.ndarray   # s, per class
    values: np.ndarray     # [patterns, models]
    model_of: np.ndarray   # model index per placement
    feasible: np.ndarray   # [classes, placements]
    load: np.ndarray       # [placements, resources] CPU s per answered request
    capacity: np.ndarray   # [resources] CPUs
    resources: list[str]
    models: list[str]
    reserved: list[list[Reserved]]   # per resource
    offered: np.ndarray              # [resources] CPU s per offered request

    def window_capacity(self, k: int, a: np.ndarray, b: np.ndarray, offered: np.ndarray | float = 0.0
                        ) -> np.ndarray:
        """CPU-seconds resource k offers the answers in each window [a, b], less other work
        and `offered` requests wholly inside it at the per-offered-request cost."""
        capacity = self.capacity[k] * (b - a) - self.offered[k] * offered
        for r in self.reserved[k]:
            overlap = np.minimum(b, r.end_s) - np.maximum(a, r.start_s) - r.slack_s
            capacity = capacity - r.cpus * np.maximum(overlap, 0.0)
        return np.maximum(capacity, 0.0)


def _compile(system: System, trace: Trace) -> _Compiled:
    pools = {p.name: p for p in system.pools}
    if len(pools) != len(system.pools):
        raise ValueError("pool names must be unique")
    for pool in system.pools:
        if not pool.cpus > 0:
            raise ValueError(f"pool {pool.name!r} needs a positive CPU count")
        for outer in pool.inside:
            if outer not in pools:
                raise ValueError(f"pool {pool.name!r} lies inside unknown pool {outer!r}")
    for name in list(system.overhead_ms) + list(system.offered_ms):
        if name not in pools:
            raise ValueError(f"overhead charged to unknown pool {name!r}")
    for r in system.reserved:
        if r.pool not in pools or not (r.cpus >= 0 and r.end_s >= r.start_s and r.slack_s >= 0):
            raise ValueError(f"bad reserved CPU {r}: an existing pool, cpus >= 0, start <= end, slack >= 0")
    models = list(trace.models)
    model_index = {m: i for i, m in enumerate(models)}

    def enclosing(name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(pools[current].inside)
        return seen

    resources = [p.name for p in system.pools]
    capacity = [float(p.cpus) for p in system.pools]
    rows_of = {name: i for i, name in enumerate(resources)}
    placements = list(system.placements)
    extra: list[tuple[int, float]] = []  # (placement, concurrency) that can bind
    for i, p in enumerate(placements):
        if p.node not in pools:
            raise ValueError(f"placement of {p.model!r} on unknown node {p.node!r}")
        if p.model not in model_index:
            raise ValueError(f"placement of {p.model!r}: no such model in the trace's values")
        if not (p.work_ms >= 0 and p.least_latency_ms >= 0):
            raise ValueError(f"placement of {p.model!r} on {p.node!r}: negative work or latency")
        if p.concurrency is not None and p.concurrency < pools[p.node].cpus:
            extra.append((i, float(p.concurrency)))
    load = np.zeros((len(placements), len(resources) + len(extra)))
    for i, p in enumerate(placements):
        for name in enclosing(p.node):
            load[i, rows_of[name]] += p.work_ms / 1000.0
    for name, ms in system.overhead_ms.items():
        load[:, rows_of[name]] += max(0.0, ms) / 1000.0
    base = len(resources)
    for j, (i, conc) in enumerate(extra):
        load[i, base + j] = placements[i].work_ms / 1000.0
        resources.append(f"{placements[i].model}@{placements[i].node} concurrency")
        capacity.append(conc)

    t = np.asarray(trace.arrival_s, dtype=float)
    n = len(t)
    cls = np.asarray(trace.cls, dtype=np.int64).reshape(-1)
    deadline = np.asarray(trace.deadline_ms, dtype=float) / 1000.0
    values = np.atleast_2d(np.asarray(trace.values, dtype=float))
    pat = np.full(n, int(trace.pattern), dtype=np.int64) if np.ndim(trace.pattern) == 0 \
        else np.asarray(trace.pattern, dtype=np.int64)
    if len(cls) != n or len(pat) != n:
        raise ValueError("arrival_s, cls and pattern must have one entry per request")
    if n and (cls.min() < 0 or cls.max() >= len(deadline)):
        raise ValueError("a request's class has no deadline")
    if n and (pat.min() < 0 or pat.max() >= len(values)):
        raise ValueError("a request's pattern is not a row of values")
    if values.shape[1] != len(models):
        raise ValueError(f"values have {values.shape[1]} columns for {len(models)} models")
    if np.any(values < 0) or np.any(~np.isfinite(values)):
        raise ValueError("values must be finite and non-negative")
    model_of = np.array([model_index[p.model] for p in placements], dtype=np.int64)
    latency = np.array([p.least_latency_ms for p in placements]) / 1000.0
    feasible = latency[None, :] <= deadline[:, None] + EPS
    if trace.allowed is not None:
        allowed = np.asarray(trace.allowed, dtype=bool)
        feasible &= allowed[:, model_of]
    reserved = [[r for r in system.reserved if r.pool == name] for name in resources]
    offered = np.array([max(0.0, system.offered_ms.get(name, 0.0)) / 1000.0 for name in resources])
    return _Compiled(t, cls, pat, deadline, values, model_of, feasible, load, np.array(capacity),
                     resources, models, reserved, offered)


def _windows_ranges(starts: np.ndarray, ends: np.ndarray, a: np.ndarray, b: np.ndarray,
                    deadline: float) -> tuple[np.ndarray, np.ndarray]:
    """Per window [a, b], the members [lo, hi) of one class whose items (sorted, first and
    last arrival `starts`/`ends`) lie wholly inside: first >= a and last + D <= b."""
    lo = np.searchsorted(starts, a - EPS, side="left")
    hi = np.searchsorted(ends + deadline, b + EPS, side="right")
    return lo, np.maximum(hi, lo)


def _family(t0: float, horizon: float, lengths: Sequence[float], steps: Sequence[float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Windows [a, a + length] for each (length, step), a = t0, t0 + step, ... up to the
    horizon; plus the whole trace."""
    a_all, b_all = [np.array([t0])], [np.array([horizon])]
    for length, step in zip(lengths, steps):
        if not (length > 0 and step > 0):
            continue
        a = t0 + np.arange(0.0, max(horizon - t0 - length, 0.0) + step, step)
        a_all.append(a)
        b_all.append(a + length)
    return np.concatenate(a_all), np.concatenate(b_all)


def _select_windows(ranges_lo: list[np.ndarray], ranges_hi: list[np.ndarray], a: np.ndarray, b: np.ndarray,
                    counts: list[np.ndarray], maxload: np.ndarray, capacity: np.ndarray
                    ) -> np.ndarray:
    """Indices of the windows worth a constraint for one resource: not empty, able to bind
    (all their requests at the heaviest load would exceed the capacity), and the shortest
    of those with the same members."""
    length = b - a
    demand = np.zeros(len(a))
    for c, (lo, hi) in enumerate(zip(ranges_lo, ranges_hi)):
        if maxload[c] > 0:
            demand += (counts[c][hi] - counts[c][lo]) * maxload[c]
    keep = demand > capacity + EPS     # capacity: CPU-seconds of each window
    idx = np.nonzero(keep)[0]
    if len(idx) == 0:
        return idx
    key = np.stack([r[idx] for pair in zip(ranges_lo, ranges_hi) for r in pair], axis=1)
    order = np.lexsort((length[idx],) + tuple(key[:, j] for j in reversed(range(key.shape[1]))))
    sorted_key = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(sorted_key[1:] != sorted_key[:-1], axis=1)
    return idx[order[first]]


def _solve(objective, a_ub, b_ub, a_eq=None, b_eq=None, bounds=(0, None), method="highs"):
    from scipy.optimize import linprog

    return linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method=method)


# ---------------------------------------------------------------- exact
def exact_windows(t: np.ndarray, deadlines_s: np.ndarray, multipliers: Sequence[float] = (1, 1.5, 2, 3, 5, 10, 20),
                  per_length: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A family of windows for the per-request LP: for each class deadline D and multiplier
    m, length m * D starting every length / per_length; spans doubling up to the trace; the
    whole trace."""
    if len(t) == 0:
        return np.array([]), np.array([])
    t0, horizon = float(t.min()), float(t.max() + deadlines_s.max())
    lengths = {round(m * d, 9) for d in deadlines_s for m in multipliers}
    length = 20 * float(deadlines_s.max())
    while length < horizon - t0:      # longer windows, doubling, for sustained overload
        length *= 2
        lengths.add(round(length, 9))
    lengths = sorted(x for x in lengths if x < horizon - t0)
    return _family(t0, horizon, lengths, [x / per_length for x in lengths])


def all_windows(t: np.ndarray, due: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every [arrival, due] pair: the complete set of demand-bound windows (O(n^2))."""
    a = np.unique(t)
    b = np.unique(due)
    aa, bb = np.meshgrid(a, b, indexing="ij")
    keep = bb > aa
    return aa[keep], bb[keep]


def exact_bound(system: System, trace: Trace, windows: str | tuple[np.ndarray, np.ndarray] = "family",
                method: str = "highs") -> BoundResult:
    """One variable per (request, placement). `windows`: "family" (exact_windows), "all"
    (every arrival-deadline pair; the tightest, small traces only) or (a, b) arrays."""
    from scipy.sparse import coo_matrix

    started = time.perf_counter()
    m = _compile(system, trace)
    n = len(m.t)
    # variables: requests grouped by class, in time order, then placements
    order = np.lexsort((m.t, m.cls))
    rows_r, cols_p = [], []
    for r in order:
        c, q = m.cls[r], m.pat[r]
        ps = np.nonzero(m.feasible[c] & (m.values[q, m.model_of] > 0))[0]
        rows_r.append(np.full(len(ps), r))
        cols_p.append(ps)
    var_r = np.concatenate(rows_r) if rows_r else np.zeros(0, dtype=np.int64)
    var_p = np.concatenate(cols_p) if cols_p else np.zeros(0, dtype=np.int64)
    nv = len(var_r)
    servable = len(np.unique(var_r))
    if nv == 0:
        return BoundResult(0.0, n, "exact", "trivial", time.perf_counter() - started, servable=0)
    # per class: requests in time order and where their variables start
    classes = range(len(m.deadline))
    by_class = [order[m.cls[order] == c] for c in classes]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)                 # a request's place in `order`
    var_start = np.zeros(n + 1, dtype=np.int64)    # its first variable, by place
    var_start[1:] = np.cumsum(np.bincount(position[var_r], minlength=n))
    class_offset = np.cumsum([0] + [len(x) for x in by_class])

    rows, cols, vals, rhs = [], [], [], []
    # one answer at most per request
    rows.append(position[var_r])
    cols.append(np.arange(nv))
    vals.append(np.ones(nv))
    rhs.append(np.ones(n))
    row = n
    if isinstance(windows, str):
        due = m.t + m.deadline[m.cls]
        a, b = all_windows(m.t, due) if windows == "all" else exact_windows(m.t, m.deadline)
    else:
        a, b = (np.asarray(x, dtype=float) for x in windows)
    used = 0
    for k in range(len(m.capacity)):
        coef = m.load[var_p, k]
        if not np.any(coef > 0):
            continue
        lo_c, hi_c, cnt_c, maxload = [], [], [], np.zeros(len(m.deadline))
        for c in classes:
            ts = m.t[by_class[c]]
            lo, hi = _windows_ranges(ts, ts, a, b, m.deadline[c])
            lo_c.append(lo)
            hi_c.append(hi)
            cnt_c.append(np.arange(len(ts) + 1, dtype=float))
            ps = np.nonzero(m.feasible[c])[0]
            maxload[c] = m.load[ps, k].max() if len(ps) else 0.0
        inside = sum(hi - lo for lo, hi in zip(lo_c, hi_c))      # every request, answered or not
        chosen = _select_windows(lo_c, hi_c, a, b, cnt_c, maxload, m.window_capacity(k, a, b, inside))
        if len(chosen) == 0:
            continue
        for c in classes:  # each window's variables of class c are one contiguous range
            start = var_start[class_offset[c] + lo_c[c][chosen]]
            count = var_start[class_offset[c] + hi_c[c][chosen]] - start
            total = int(count.sum())
            if total == 0:
                continue
            which = np.repeat(np.arange(len(chosen)), count)
            idx = np.arange(total) - np.repeat(np.cumsum(count) - count, count) + np.repeat(start, count)
            good = coef[idx] > 0
            rows.append(row + which[good])
            cols.append(idx[good])
            vals.append(coef[idx[good]])
        rhs.append(m.window_capacity(k, a[chosen], b[chosen], inside[chosen]))
        row += len(chosen)
        used += len(chosen)
    matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(row, nv)).tocsr()
    objective = -m.values[m.pat[var_r], m.model_of[var_p]]
    result = _solve(objective, matrix, np.concatenate(rhs), bounds=(0.0, 1.0), method=method)
    elapsed = time.perf_counter() - started
    if not result.success:
        return BoundResult(math.nan, n, "exact", f"failed: {result.message}", elapsed, nv, row, used, servable)
    per_model = np.bincount(m.model_of[var_p], weights=result.x, minlength=len(m.models))
    return BoundResult(float(-result.fun), n, "exact", "optimal", elapsed, nv, row, used, servable,
                       {name: float(x) for name, x in zip(m.models, per_model) if x > 1e-9},
                       {"windows": windows if isinstance(windows, str) else "given"})


# ---------------------------------------------------------------- fluid (aggregated)
def fluid_bound(system: System, trace: Trace, slot_fraction: float = 0.5, block_s: float | None = None,
                per_length: int = 2, max_cell_variables: int = 20_000, max_blocks: int = 200,
                max_rounds: int = 12, rows_per_round: int = 5_000, initial_fraction: float = 4.0,
                stall: float = 1e-4, stall_rounds: int = 1, initial: str = "all", merge: bool = True,
                method: str = "highs-ipm", log=None) -> BoundResult:
    """The aggregated LP (module docstring): time cells of `slot_fraction` x the class's
    deadline (wider when that would make more than `max_cell_variables` cell variables),
    value blocks of `block_s` (default: the trace in `max_blocks` blocks, at least a cell
    wide), windows spanning 1, 2, 4, ... cells of each class, starting every span /
    `per_length`. Window constraints are added as the solution violates them (at most
    `rows_per_round` a round, `max_rounds` rounds), starting from every window at least
    1/`initial_fraction` of the trace long on every resource: the optimum over the windows
    added so far is an upper bound at every round, and equals the optimum over the whole
    family once no window is violated (status "optimal"). It stops earlier when
    `stall_rounds` rounds lowered it by less than `stall` (relative; "stalled") or the
    rounds ran out ("partial"): still a bound, a little looser. `merge` merges like nodes
    first (`merge_nodes`); `log` gets a line per round."""
    from scipy.sparse import coo_matrix

    started = time.perf_counter()
    if merge:
        system = merge_nodes(system, trace.deadline_ms)
    m = _compile(system, trace)
    n = len(m.t)
    n_classes, n_models, n_res = len(m.deadline), len(m.models), len(m.capacity)
    if n == 0:
        return BoundResult(0.0, 0, "fluid", "trivial", time.perf_counter() - started)
    t0 = float(m.t.min())
    horizon = float(np.max(m.t + m.deadline[m.cls]))
    span = max(horizon - t0, EPS)

    # placements worth a variable per class: feasible and worth something for a pattern present
    present = np.zeros((n_classes, len(m.values)), dtype=bool)
    present[m.cls, m.pat] = True
    useful = np.array([(m.values[present[c]] > 0).any(axis=0) if present[c].any() else np.zeros(n_models, bool)
                       for c in range(n_classes)])
    placements_of = [np.nonzero(m.feasible[c] & useful[c, m.model_of])[0] for c in range(n_classes)]
    n_per_class = np.bincount(m.cls, minlength=n_classes)
    servable = int(sum(n_per_class[c] for c in range(n_classes) if len(placements_of[c])))
    if servable == 0:
        return BoundResult(0.0, n, "fluid", "trivial", time.perf_counter() - started)

    # slot widths: a fraction of each deadline, widened together if the cells would be too many
    delta = slot_fraction * m.deadline.copy()
    for _ in range(200):
        cells_est = sum(min(n_per_class[c], math.ceil(span / delta[c]) + 1) * len(placements_of[c])
                        for c in range(n_classes))
        if cells_est <= max_cell_variables:
            break
        delta *= 1.25
    block = block_s if block_s is not None else max(float(delta.max()), span / max_blocks)

    # cells per class: first and last arrival, count, block; z variables cell-major
    cells: list[dict | None] = []
    z_offset = 0
    for c in range(n_classes):
        mine = m.cls == c
        order = np.argsort(m.t[mine], kind="stable")
        ts, pats = m.t[mine][order], m.pat[mine][order]
        if len(ts) == 0 or len(placements_of[c]) == 0:
            cells.append(None)
            continue
        slot = np.floor((ts - t0) / delta[c]).astype(np.int64)
        uniq, first, count = np.unique(slot, return_index=True, return_counts=True)
        cells.append({"tmin": ts[first], "tmax": ts[first + count - 1], "n": count.astype(float),
                      "block": np.floor(uniq * delta[c] / block).astype(np.int64), "z0": z_offset,
                      "P": placements_of[c], "pats": pats, "cell_of": np.repeat(np.arange(len(uniq)), count)})
        z_offset += len(uniq) * len(placements_of[c])
    n_z = z_offset
    live = [c for c in range(n_classes) if cells[c] is not None]

    # value variables u[block, class, pattern, model] and the rows that hold them
    u_parts, bcq_n, bcq_of_u = [], [], []
    for c in live:
        info = cells[c]
        keys, counts = np.unique(np.stack([info["block"][info["cell_of"]], info["pats"]], axis=1), axis=0,
                                 return_counts=True)
        models_c = np.unique(m.model_of[info["P"]])
        worth = m.values[keys[:, 1]][:, models_c] > 0           # [keys, models_c]
        key_i, model_j = np.nonzero(worth)
        u_parts.append(np.stack([keys[key_i, 0], np.full(len(key_i), c), keys[key_i, 1], models_c[model_j]], axis=1))
        bcq_of_u.append(len(bcq_n) + key_i)
        bcq_n.extend(counts.astype(float))
    u_keys = np.concatenate(u_parts).astype(np.int64) if u_parts else np.zeros((0, 4), dtype=np.int64)
    bcq_of_u = np.concatenate(bcq_of_u) if bcq_of_u else np.zeros(0, dtype=np.int64)
    n_u = len(u_keys)
    u0 = n_z
    n_var = n_z + n_u

    rows, cols, vals, rhs = [], [], [], []
    row = 0
    for c in live:  # a cell answers at most its requests
        info = cells[c]
        n_cells, width = len(info["n"]), len(info["P"])
        rows.append(row + np.repeat(np.arange(n_cells), width))
        cols.append(info["z0"] + np.arange(n_cells * width))
        vals.append(np.ones(n_cells * width))
        rhs.append(info["n"])
        row += n_cells
    if n_u:  # a block's requests of one class and pattern are answered at most once
        used_bcq = np.unique(bcq_of_u, return_inverse=True)[1].reshape(-1)
        rows.append(row + used_bcq)
        cols.append(u0 + np.arange(n_u))
        vals.append(np.ones(n_u))
        rhs.append(np.array(bcq_n)[np.unique(bcq_of_u)])
        row += int(used_bcq.max()) + 1
        # per block, class and model: the valued answers are at most the cells' answers
        bcm, u_row = np.unique(u_keys[:, [0, 1, 3]], axis=0, return_inverse=True)
        rows.append(row + u_row.reshape(-1))
        cols.append(u0 + np.arange(n_u))
        vals.append(np.ones(n_u))
        for c in live:
            info = cells[c]
            width = len(info["P"])
            target = _lookup_rows(bcm, c, np.repeat(info["block"], width),
                                  np.tile(m.model_of[info["P"]], len(info["n"])))
            hit = target >= 0
            rows.append(row + target[hit])
            cols.append(info["z0"] + np.nonzero(hit)[0])
            vals.append(-np.ones(int(hit.sum())))
        rhs.append(np.zeros(len(bcm)))
        row += len(bcm)
    base = (rows, cols, vals, rhs, row)

    # the window family: arrival spans of 1, 2, 4, ... cells of each class, every span/per_length
    lengths, steps = [], []
    for c in live:
        arrivals = float(delta[c])
        while arrivals < span:
            lengths.append(arrivals + m.deadline[c])
            steps.append(arrivals / per_length)
            arrivals *= 2
    a, b = _family(t0, horizon, lengths, steps)
    ranges = {c: _windows_ranges(cells[c]["tmin"], cells[c]["tmax"], a, b, m.deadline[c]) for c in live}
    key = np.stack([r for c in live for r in ranges[c]], axis=1)
    nonempty = np.any(key[:, 1::2] > key[:, 0::2], axis=1)
    order = np.lexsort((b - a,) + tuple(key[:, j] for j in reversed(range(key.shape[1]))))
    order = order[nonempty[order]]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(key[order][1:] != key[order][:-1], axis=1)
    keep = order[first]                      # the shortest window of each member set
    a, b = a[keep], b[keep]
    ranges = {c: (lo[keep], hi[keep]) for c, (lo, hi) in ranges.items()}
    length = b - a
    touching = {c: m.load[cells[c]["P"], :] for c in live}       # [width, resources]

    # what each window leaves the answers on each resource: CPUs, less other work, less the
    # offered requests (of the cells wholly inside) at their per-request cost
    inside = np.zeros(len(a))
    for c in live:
        counts = np.concatenate([[0.0], np.cumsum(cells[c]["n"])])
        inside += counts[ranges[c][1]] - counts[ranges[c][0]]
    room = np.stack([m.window_capacity(k, a, b, inside) for k in range(n_res)], axis=1)   # [windows, resources]
    added = np.zeros((len(a), n_res), dtype=bool)
    chains = _Chains(cells, live, m.load, n_var)
    window_rows: list[tuple] = []
    # start from the long windows on every resource (a handful each): without them the
    # first rounds pile every request onto a few placements, one resource after another
    long = np.nonzero(length >= (horizon - t0) / initial_fraction)[0]
    for k in range(n_res if initial == "all" else len(system.pools) if initial == "pools" else 0):
        added[long, k] = True
        window_rows.append(chains.window_rows(k, long, ranges, room[long, k]))
    objective_u = -m.values[u_keys[:, 2], u_keys[:, 3]] if n_u else np.zeros(0)
    status, rounds, result, history = "partial", 0, None, []
    for rounds in range(1, max_rounds + 1):
        rows, cols, vals, rhs, row = [list(x) for x in base[:4]] + [base[4]]
        for part in window_rows:
            rows.append(row + part[0])
            cols.append(part[1])
            vals.append(part[2])
            rhs.append(part[3])
            row += len(part[3])
        total = chains.n_var
        a_ub = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(row, total)).tocsr()
        a_eq, b_eq = chains.equalities()
        objective = np.zeros(total)
        objective[u0:u0 + n_u] = objective_u
        solve_started = time.perf_counter()
        result = _solve(objective, a_ub, np.concatenate(rhs), a_eq, b_eq, bounds=(0.0, None), method=method)
        if log:
            log(f"round {rounds}: {total} variables, {row} + {0 if a_eq is None else a_eq.shape[0]} rows, "
                f"{a_ub.nnz + (0 if a_eq is None else a_eq.nnz)} nonzeros, solved in "
                f"{time.perf_counter() - solve_started:.2f}s: {result.status} {-result.fun if result.success else ''}")
        if not result.success:
            break
        history.append(-result.fun)
        if len(history) > stall_rounds and \
                history[-1 - stall_rounds] - history[-1] <= stall * max(1.0, history[-1]):
            status = "stalled"   # two rounds changed it by less than `stall`: stop (still a bound)
            break
        # the load the solution puts on every resource in every window, through prefix sums
        violation = np.zeros((len(a), n_res))
        for c in live:
            info = cells[c]
            z = result.x[info["z0"]:info["z0"] + len(info["n"]) * len(info["P"])].reshape(len(info["n"]), -1)
            prefix = np.vstack([np.zeros((1, n_res)), np.cumsum(z @ touching[c], axis=0)])
            lo, hi = ranges[c]
            violation += prefix[hi] - prefix[lo]
        violation -= room
        violation /= np.maximum(m.capacity[None, :] * length[:, None], EPS)
        violation[added] = 0.0
        bad = violation > 1e-6
        if not bad.any():
            status = "optimal"
            break
        per_resource = max(20, rows_per_round // max(1, int(bad.any(axis=0).sum())))
        for k in np.nonzero(bad.any(axis=0))[0]:
            ws = np.nonzero(bad[:, k])[0]
            if len(ws) > per_resource:
                ws = ws[np.argsort(-violation[ws, k], kind="stable")[:per_resource]]
            added[ws, k] = True
            window_rows.append(chains.window_rows(k, ws, ranges, room[ws, k]))
    elapsed = time.perf_counter() - started
    settings = {"slot_ms": {f"{m.deadline[c] * 1000:g}": round(float(delta[c]) * 1000, 3) for c in range(n_classes)},
                "block_s": round(block, 4), "per_length": per_length, "rounds": rounds,
                "family_windows": int(len(a))}
    windows_used = int(added.sum())
    if result is None or not result.success:
        message = result.message if result is not None else "no solve"
        return BoundResult(math.nan, n, "fluid", f"failed: {message}", elapsed, chains.n_var, row, windows_used,
                           servable, settings=settings)
    per_model = np.bincount(u_keys[:, 3], weights=result.x[u0:u0 + n_u], minlength=n_models) if n_u else np.zeros(n_models)
    return BoundResult(float(-result.fun), n, "fluid", status, elapsed, chains.n_var, row + chains.eq_rows,
                       windows_used, servable,
                       {name: float(x) for name, x in zip(m.models, per_model) if x > 1e-9}, settings)


def merge_nodes(system: System, deadline_ms: Sequence[float]) -> System:
    """Nodes that host the same models with the same work, and nothing else depends on
    (no pool inside them, none they lie inside, no overhead or reserved CPU), become one
    node with their CPUs summed; their placements of a model that meet the same deadlines
    become one placement with the least latency of the group and the concurrency summed.

    A relaxation: every group's inequality is the sum of its members' inequalities (each
    member's load within its own CPUs), so any schedule feasible on the nodes is feasible
    on the merged ones, and the bound can only grow. It stays tight where the policy can
    spread load over like nodes; it cuts the LP of a 100-node cluster to a few pools."""
    deadlines = sorted(float(d) for d in deadline_ms)
    nested = {outer for p in system.pools for outer in p.inside}
    pools = {p.name: p for p in system.pools}
    hosted: dict[str, list[Placement]] = {}
    for p in system.placements:
        hosted.setdefault(p.node, []).append(p)
    groups: dict[tuple, list[str]] = {}
    kept: list[Pool] = []
    for pool in system.pools:
        free = not pool.inside and pool.name not in nested and not system.overhead_ms.get(pool.name) \
            and not system.offered_ms.get(pool.name) \
            and not any(r.pool == pool.name for r in system.reserved)
        if not free or pool.name not in hosted:
            kept.append(pool)
            continue
        signature = tuple(sorted({(p.model, round(p.work_ms, 6)) for p in hosted[pool.name]}))
        groups.setdefault(signature, []).append(pool.name)
    placements = [p for p in system.placements if not any(p.node in members for members in groups.values())]
    for i, members in enumerate(groups.values()):
        if len(members) == 1:
            kept.append(pools[members[0]])
            placements.extend(hosted[members[0]])
            continue
        name = f"{members[0]}+{len(members) - 1}"
        kept.append(Pool(name, sum(pools[n].cpus for n in members)))
        merged: dict[tuple, list[tuple[Placement, float]]] = {}
        for node in members:
            for p in hosted[node]:
                meets = tuple(d for d in deadlines if p.least_latency_ms <= d + 1e-6)
                limit = p.concurrency if p.concurrency is not None else pools[node].cpus
                merged.setdefault((p.model, round(p.work_ms, 6), meets), []).append((p, float(limit)))
        for (model, _, _), parts in merged.items():
            placements.append(Placement(model, name, parts[0][0].work_ms,
                                        min(p.least_latency_ms for p, _ in parts),
                                        sum(limit for _, limit in parts)))
    return System(kept, placements, dict(system.overhead_ms), tuple(system.reserved), dict(system.offered_ms))


class _Chains:
    """Prefix sums of each resource's load per class, created as windows need them:
    lam[k, c, i] = load on resource k of cells 0..i of class c. A window's load on k is
    then sum over classes of lam[k, c, hi - 1] - lam[k, c, lo - 1]: a few nonzeros per
    window, whatever its length (long windows as dense rows make the LP slow to solve)."""

    def __init__(self, cells: list, live: list[int], load: np.ndarray, first_var: int):
        self.cells, self.live, self.load = cells, live, load
        self.n_var = first_var
        self.offset: dict[tuple[int, int], int] = {}
        self.eq: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.eq_rows = 0

    def chain(self, k: int, c: int) -> int | None:
        """First variable of lam[k, c, .], created on first use; None if nothing of class c loads k."""
        if (k, c) in self.offset:
            return self.offset[(k, c)]
        info = self.cells[c]
        coef = self.load[info["P"], k]
        j = np.nonzero(coef > 0)[0]
        if len(j) == 0:
            self.offset[(k, c)] = None
            return None
        n_cells, width = len(info["n"]), len(info["P"])
        l0, r0 = self.n_var, self.eq_rows
        here = r0 + np.arange(n_cells)
        rows = [here, here[1:], np.repeat(here, len(j))]
        cols = [l0 + np.arange(n_cells), l0 + np.arange(n_cells - 1),
                (info["z0"] + np.arange(n_cells)[:, None] * width + j[None, :]).ravel()]
        vals = [np.ones(n_cells), -np.ones(n_cells - 1), -np.tile(coef[j], n_cells)]
        self.eq.append((np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)))
        self.n_var += n_cells
        self.eq_rows += n_cells
        self.offset[(k, c)] = l0
        return l0

    def window_rows(self, k: int, ws: np.ndarray, ranges: dict, capacity: np.ndarray):
        """Rows (numbered from 0) bounding resource k's load in windows `ws` by `capacity`."""
        rows, cols, vals = [], [], []
        index = np.arange(len(ws))
        for c in self.live:
            lo, hi = ranges[c][0][ws], ranges[c][1][ws]
            has = hi > lo
            if not has.any():
                continue
            l0 = self.chain(k, c)
            if l0 is None:
                continue
            rows += [index[has], index[has & (lo > 0)]]
            cols += [l0 + hi[has] - 1, l0 + lo[has & (lo > 0)] - 1]
            vals += [np.ones(int(has.sum())), -np.ones(int((has & (lo > 0)).sum()))]
        empty = np.zeros(0)
        return (np.concatenate(rows) if rows else empty.astype(np.int64),
                np.concatenate(cols) if cols else empty.astype(np.int64),
                np.concatenate(vals) if vals else empty, np.asarray(capacity, dtype=float))

    def equalities(self):
        from scipy.sparse import coo_matrix

        if not self.eq:
            return None, None
        rows, cols, vals = (np.concatenate(x) for x in zip(*self.eq))
        return coo_matrix((vals, (rows, cols)), shape=(self.eq_rows, self.n_var)).tocsr(), np.zeros(self.eq_rows)


def _lookup_rows(bcm: np.ndarray, c: int, blocks: np.ndarray, models: np.ndarray) -> np.ndarray:
    """Row of (block, class c, model) in the sorted unique keys `bcm`, or -1: vectorised."""
    mine = bcm[bcm[:, 1] == c]
    index = np.nonzero(bcm[:, 1] == c)[0]
    if len(mine) == 0:
        return np.full(len(blocks), -1, dtype=np.int64)
    width = int(max(models.max(), mine[:, 2].max())) + 1
    key_mine = mine[:, 0] * width + mine[:, 2]
    key = blocks * width + models
    pos = np.searchsorted(key_mine, key)
    pos = np.minimum(pos, len(key_mine) - 1)
    return np.where(key_mine[pos] == key, index[pos], -1)


def bound(system: System, trace: Trace, exact_up_to: int = 20_000, **fluid) -> BoundResult:
    """The exact LP when (requests x placements) is at most `exact_up_to`, else the fluid one."""
    n = len(trace.arrival_s)
    if n * max(1, len(system.placements)) <= exact_up_to:
        return exact_bound(system, trace)
    return fluid_bound(system, trace, **fluid)
