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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from faasml.selector.candidate import Candidate


@dataclass(slots=True)
class NodeBudget:
    work_ms: float         # work that may delay the fast variant (CPU-milliseconds)
    deadline_ms: float     # the limit it protects: looser requests are held to it
    expires_at: float      # clock seconds
    weight: float          # the fast variant's CPU weight (lighter work delays it less)


class DeadlineGuard:
    """Per-node work budgets left by recent tight-deadline requests (not thread-safe:
    the decider calls it under its own lock)."""

    def __init__(self, node_work: Callable[[str, float], float], hold_s: float = 5.0,
                 margin: float = 0.8):
        self.node_work = node_work  # (node, weight) -> work delaying that weight (LoadTracker)
        self.hold_s = hold_s        # how long a tight request's budget outlives it
        self.margin = margin        # share of the limit budgets aim at (absorbs model error)
        self._budgets: dict[str, NodeBudget] = {}

    def note(self, now: float, max_latency_ms: float, candidates: Iterable[Candidate]) -> None:
        """Record the budget a request limited to `max_latency_ms` needs on its fast lane:
        the node of the variant that is fastest when idle. Only that node is kept; the
        others take looser work freely (keeping every node would idle the platform)."""
        placed = [c for c in candidates if c.variant.node is not None]
        if not placed or self.hold_s <= 0:
            return
        fastest = min(placed, key=lambda c: c.prediction.idle_ms)
        node, p = fastest.variant.node, fastest.prediction
        if p.idle_ms > max_latency_ms:
            return  # not even the fast lane meets that limit when idle: nothing to keep
        # Work W in flight lets a new request finish by rtt + (W + service) / cpus; aim
        # at `margin` of the limit, so that prediction error still lands inside it.
        work = max(0.0, (max_latency_ms * self.margin - p.rtt_ms) * p.node_cpus - p.service_ms)
        expires = now + self.hold_s
        current = self._budgets.get(node)
        if current is None or current.expires_at <= now or work <= current.work_ms:
            self._budgets[node] = NodeBudget(work, max_latency_ms, expires, fastest.variant.cpu_millis)
        elif max_latency_ms <= current.deadline_ms:
            current.expires_at = expires

    def active(self, now: float) -> bool:
        """Whether any budget holds now (most decisions: none, and no per-candidate check)."""
        return bool(self._budgets) and any(budget.expires_at > now for budget in self._budgets.values())

    def nodes(self, now: float) -> list[str]:
        """The nodes whose budget holds now."""
        return [node for node, budget in self._budgets.items() if budget.expires_at > now]

    def blocks(self, now: float, max_latency_ms: float | None, candidate: Candidate) -> str | None:
        """Why `candidate` may not take a request with this limit, or None."""
        node = candidate.variant.node
        if node is None or not self._budgets:
            return None
        budget = self._budgets.get(node)
        if budget is None or budget.expires_at <= now:
            return None
        if max_latency_ms is not None and max_latency_ms <= budget.deadline_ms:
            return None
        excess = self._excess_ms(node, budget, candidate)
        if excess <= 0:
            return None
        return (f"node {node} is kept for requests limited to {budget.deadline_ms:g} ms "
                f"(budget {budget.work_ms:.1f} ms of work, {excess:.1f} ms over)")

    def _excess_ms(self, node: str, budget: NodeBudget, candidate: Candidate) -> float:
        """How far admitting `candidate` would take the node past its budget, counting
        work as it delays the fast variant (lighter work by its weight's share)."""
        share = min(1.0, candidate.variant.cpu_millis / budget.weight)
        return self.node_work(node, budget.weight) + candidate.prediction.service_ms * share - budget.work_ms

    def wait_ms(self, candidate: Candidate) -> float:
        """Roughly how long until `candidate`'s node has room again (for Retry-After)."""
        node = candidate.variant.node or ""
        budget = self._budgets.get(node)
        if budget is None:
            return 0.0
        return max(0.0, self._excess_ms(node, budget, candidate) / candidate.prediction.node_cpus)
