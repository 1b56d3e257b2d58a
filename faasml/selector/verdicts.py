"""Why one candidate is out of one request, pass by pass (decision.py's order).

Kept apart from the passes so that both decision paths word a reason the same way: the
candidate path sets them as it goes, the table path only for the candidates someone
reads (explain, an error, a test).
"""
from __future__ import annotations

from typing import AbstractSet

from faasml.selector.candidate import Candidate


def limit_reason(c: Candidate, min_accuracy: float | None, max_latency_ms: float | None) -> str | None:
    """1. The request's hard limits against what the variant can ever do (422)."""
    if min_accuracy is not None and c.variant.accuracy < min_accuracy:
        return f"accuracy {c.variant.accuracy:g} below min_accuracy {min_accuracy:g}"
    if max_latency_ms is not None and c.prediction.floor_ms > max_latency_ms:
        return (f"latency {c.prediction.floor_ms:.1f} ms even when idle, above "
                f"max_latency_ms {max_latency_ms:g}")
    return None


def health_reason(c: Candidate, down: AbstractSet[str]) -> str | None:
    """2. Replicas and recent failures (503)."""
    variant = c.variant
    if variant.available_replicas <= 0:
        return "no available replicas" if variant.schedulable else "unschedulable: no node can run it"
    if down and variant.id in down:
        return "failed recently; cooling down"
    return None


def admission_verdict(c: Candidate, max_latency_ms: float | None, max_queue_per_slot: float,
                      max_queue_ms: float, pinned: bool) -> tuple[str, float, bool] | None:
    """3. Admission now, but for the node budgets (admission.py, which need its state):
    (reason, milliseconds until it may fit, whether only room is lacking) or None."""
    p = c.prediction
    if max_latency_ms is not None and p.total_ms > max_latency_ms:
        return (f"predicted {p.total_ms:.1f} ms (queue {p.queue_ms:.1f} ms) "
                f"above max_latency_ms {max_latency_ms:g}", p.total_ms - max_latency_ms, False)
    if p.inflight >= max_queue_per_slot * p.slots:  # utilization (inflight / slots) at the cap
        return (f"saturated: {p.inflight} in flight for {p.slots} slot(s)",
                (p.inflight - max_queue_per_slot * p.slots + 1) * p.service_ms / p.slots, False)
    if pinned:
        return None  # pinned: only its own limit and the queue cap apply
    if p.queue_ms > max_queue_ms:
        return f"would queue {p.queue_ms:.1f} ms, over {max_queue_ms:g} ms", p.queue_ms - max_queue_ms, True
    return None
