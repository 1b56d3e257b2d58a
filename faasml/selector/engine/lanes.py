"""Deadline-aware admission: keep each node able to serve the tightest deadline it sees.

Executors serve first come, first served, and the variants on one node share its CPUs,
so a request with a loose deadline (or none) admitted to a busy node delays every
tight-deadline request that lands there after it; the selector cannot reorder work once
it is queued inside an executor. So it protects tight requests *before* dispatch: each
request that carries `max_latency_ms` leaves a work budget on its *fast lane*, the node
of the variant fastest when idle: how much intrinsic work may be in flight there and
still let that variant answer within the limit. For a while afterwards, a request with
a looser limit may not push that node past its budget: it goes to another node (often
a faster variant there: degrade before shed), waits in the selector for room
(holding.py), or is shed with 429. A tight request is never held back by the budgets:
its own predicted latency against its own limit decides.

A fast lane is kept only while it works. The budget buys the tight requests their
deadline with work that goes to slower nodes, waits or is shed; when the tight requests
served on the node miss their limits anyway (past capacity, or on a machine whose other
processes take the slack), it buys nothing. So each tight request's outcome on the node
that served it is recorded, and a budget whose node met fewer than `suspend_below` of
its recent tight requests' limits (at least OUTCOMES_MIN of the last OUTCOMES_KEPT, none
older than OUTCOMES_MAX_AGE_S) holds nothing back until they meet it again.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from faasml.selector.engine.predict import Prediction
from faasml.selector.engine.variant import Variant

OUTCOMES_KEPT = 30          # tight requests' outcomes remembered per node
OUTCOMES_MIN = 10           # fewer than this recent ones say nothing yet
OUTCOMES_MAX_AGE_S = 10.0   # older ones are forgotten (the load has moved on)


@dataclass(slots=True)
class NodeBudget:
    work_ms: float         # work that may delay the fast variant (CPU-milliseconds)
    deadline_ms: float     # the limit it protects: looser requests are held to it
    expires_at: float      # clock seconds
    weight: float          # the fast variant's CPU weight (lighter work delays it less)


class DeadlineGuard:
    """Per-node work budgets left by recent tight-deadline requests."""

    def __init__(self, node_work: Callable[[str, float], float], hold_s: float = 5.0,
                 margin: float = 0.8, suspend_below: float = 0.5):
        self.node_work = node_work  # (node, weight) -> work delaying that weight (LoadTracker)
        self.hold_s = hold_s        # how long a tight request's budget outlives it
        self.margin = margin        # share of the limit budgets aim at (absorbs model error)
        self.suspend_below = suspend_below   # 0: a budget is never suspended
        self._budgets: dict[str, NodeBudget] = {}
        # node -> (clock seconds, limit ms, whether it was met) of recent tight requests
        self._outcomes: dict[str, deque[tuple[float, float, bool]]] = {}
        # node -> (deadline, outcomes recorded, valid until, share, count) of the last
        # `met_share`: a decision asks once per row on a budget's node, and the answer
        # moves only with a new outcome or when a counted one ages out.
        self._shares: dict[str, tuple[float, int, float, float | None, int]] = {}
        self._recorded = 0

    def note(self, now: float, max_latency_ms: float, fastest: Variant, p: Prediction) -> None:
        """Record the budget a request limited to `max_latency_ms` needs on its fast lane:
        the node of `fastest`, the placed variant that is fastest when idle (the caller
        finds it). Only that node is kept; the others take looser work freely (keeping
        every node would idle the platform)."""
        node = fastest.node
        if node is None or self.hold_s <= 0:
            return
        if p.idle_ms > max_latency_ms:
            return  # not even the fast lane meets that limit when idle: nothing to keep
        # Work W in flight lets a new request finish by rtt + (W + service) / cpus; aim
        # at `margin` of the limit, so that prediction error still lands inside it.
        work = max(0.0, (max_latency_ms * self.margin - p.rtt_ms) * p.node_cpus - p.service_ms)
        expires = now + self.hold_s
        current = self._budgets.get(node)
        if current is None or current.expires_at <= now or work <= current.work_ms:
            self._budgets[node] = NodeBudget(work, max_latency_ms, expires, fastest.cpu_millis)
        elif max_latency_ms <= current.deadline_ms:
            current.expires_at = expires

    def record(self, now: float, node: str, max_latency_ms: float, met: bool) -> None:
        """A request limited to `max_latency_ms` was served on `node` (or given up there):
        whether it met its limit."""
        outcomes = self._outcomes.get(node)
        if outcomes is None:
            outcomes = self._outcomes[node] = deque(maxlen=OUTCOMES_KEPT)
        outcomes.append((now, max_latency_ms, met))
        self._recorded += 1

    def met_share(self, node: str, deadline_ms: float, now: float) -> tuple[float | None, int]:
        """(the share of recent requests limited to `deadline_ms` or less that `node`
        served within their limits, or None when too few to say; how many there were)."""
        cached = self._shares.get(node)
        if cached is not None and cached[0] == deadline_ms and cached[1] == self._recorded and now < cached[2]:
            return cached[3], cached[4]
        recent = [(at, met) for at, limit, met in self._outcomes.get(node, ())
                  if limit <= deadline_ms and now - at <= OUTCOMES_MAX_AGE_S]
        share = sum(met for _, met in recent) / len(recent) if len(recent) >= OUTCOMES_MIN else None
        # Until the oldest one counted ages out (outcomes already too old stay out).
        valid_until = min(at for at, _ in recent) + OUTCOMES_MAX_AGE_S if recent else float("inf")
        self._shares[node] = (deadline_ms, self._recorded, valid_until, share, len(recent))
        return share, len(recent)

    def _holds(self, node: str, budget: NodeBudget, now: float) -> bool:
        """Whether `budget` holds looser work back now: not expired, not suspended."""
        if budget.expires_at <= now:
            return False
        if self.suspend_below <= 0 or node not in self._outcomes:
            return True
        share, _ = self.met_share(node, budget.deadline_ms, now)
        return share is None or share >= self.suspend_below

    def active(self, now: float) -> bool:
        """Whether any budget holds now (most decisions: none, and no per-candidate check)."""
        return bool(self._budgets) and any(self._holds(node, budget, now) for node, budget in self._budgets.items())

    def nodes(self, now: float) -> list[str]:
        """The nodes whose budget holds now."""
        return [node for node, budget in self._budgets.items() if self._holds(node, budget, now)]

    def view(self, now: float) -> list[dict[str, Any]]:
        """Every budget not yet expired, with how its tight requests fared (for /variants)."""
        lanes = []
        for node, budget in sorted(self._budgets.items()):
            if budget.expires_at <= now:
                continue
            share, count = self.met_share(node, budget.deadline_ms, now)
            lanes.append({"node": node, "deadline_ms": budget.deadline_ms, "budget_work_ms": round(budget.work_ms, 3),
                          "expires_in_s": round(budget.expires_at - now, 3),
                          "recent_tight_requests": count,
                          "recent_met_share": None if share is None else round(share, 3),
                          "suspended": not self._holds(node, budget, now)})
        return lanes

    def blocks(self, now: float, max_latency_ms: float | None, variant: Variant, p: Prediction) -> str | None:
        """Why `variant` (predicted `p`) may not take a request with this limit, or None."""
        node = variant.node
        if node is None or not self._budgets:
            return None
        budget = self._budgets.get(node)
        if budget is None or budget.expires_at <= now:
            return None
        if max_latency_ms is not None and max_latency_ms <= budget.deadline_ms:
            return None
        if not self._holds(node, budget, now):
            return None
        excess = self._excess_ms(node, budget, variant, p)
        if excess <= 0:
            return None
        return (f"node {node} is kept for requests limited to {budget.deadline_ms:g} ms "
                f"(budget {budget.work_ms:.1f} ms of work, {excess:.1f} ms over)")

    def _excess_ms(self, node: str, budget: NodeBudget, variant: Variant, p: Prediction) -> float:
        """How far admitting a request to `variant` would take the node past its budget,
        counting work as it delays the fast variant (lighter work by its weight's share)."""
        share = min(1.0, variant.cpu_millis / budget.weight)
        return self.node_work(node, budget.weight) + p.service_ms * share - budget.work_ms

    def wait_ms(self, variant: Variant, p: Prediction) -> float:
        """Roughly how long until `variant`'s node has room again (for Retry-After)."""
        node = variant.node or ""
        budget = self._budgets.get(node)
        if budget is None:
            return 0.0
        return max(0.0, self._excess_ms(node, budget, variant, p) / p.node_cpus)
