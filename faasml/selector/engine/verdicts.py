"""Why one variant is out of one request, pass by pass (the decision's order).

The passes themselves run as masks over a task's columns (core.py); these functions word
the reason for one variant, and run only where someone reads it: `?explain=1`, and the
422/429/503 answers, whose messages name every candidate's reason.
"""
from __future__ import annotations

from typing import AbstractSet

from faasml.selector.engine.predict import Prediction
from faasml.selector.engine.variant import Variant


def limit_reason(variant: Variant, p: Prediction, min_accuracy: float | None,
                 max_latency_ms: float | None) -> str | None:
    """1. The request's hard limits against what the variant can ever do (422)."""
    if min_accuracy is not None and variant.accuracy < min_accuracy:
        return f"accuracy {variant.accuracy:g} below min_accuracy {min_accuracy:g}"
    if max_latency_ms is not None and p.floor_ms > max_latency_ms:
        return f"latency {p.floor_ms:.1f} ms even when idle, above max_latency_ms {max_latency_ms:g}"
    return None


def health_reason(variant: Variant, down: AbstractSet[str]) -> str | None:
    """2. Replicas and recent failures (503)."""
    if variant.available_replicas <= 0:
        return "no available replicas" if variant.schedulable else "unschedulable: no node can run it"
    if down and variant.id in down:
        return "failed recently; cooling down"
    return None


def admission_verdict(p: Prediction, max_latency_ms: float | None, max_queue_per_slot: float,
                      max_queue_ms: float, pinned: bool) -> tuple[str, float, bool] | None:
    """3. Admission now, but for the fast lanes (lanes.py, which need their state):
    (reason, milliseconds until it may fit, whether only room is lacking) or None."""
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
