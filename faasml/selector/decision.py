"""The decision step: hard limits, health, saturation, then the policy, atomically.

Order of verdicts for a request (each names its reason in the explain table):
  1. static hard limits on every variant of the task -> 422 if none can ever meet them,
     judged on the best *idle* latency on record: momentary slowness is never a 422;
  2. health (available replicas, recent failures)    -> 503 if none is healthy;
  3. admission now: the predicted latency against the request's own limit, the queue
     caps, and the node budgets that protect tighter deadlines (admission.py) -> 429 +
     Retry-After if no candidate is left (a faster variant that fits beats a 429; a
     request kept out only for want of room, code `no_room`, may first be held);
  4. the policy ranks what is left; the first one's in-flight count (and its work on
     its node) is taken *inside the same lock*, so the next request already sees it.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from faasml.errors import FaasmlError, NotReady, TooManyRequests, Unprocessable
from faasml.selector.admission import DeadlineGuard
from faasml.selector.candidate import Candidate
from faasml.selector.load import Clock, LoadTracker
from faasml.selector.params import SelectionRequest
from faasml.selector.policies import Policy
from faasml.selector.predictor import LatencyPredictor
from faasml.selector.variant import Variant


# The 429 code when every candidate is kept out only for want of room on its node (its
# queue is long, or it is kept for tighter deadlines): the service may hold the request.
NO_ROOM = "no_room"


@dataclass
class DecisionConfig:
    # A variant with more than this many requests per slot waiting is saturated: beyond
    # it, queueing only adds latency, and shedding (429) lets clients back off.
    max_queue_per_slot: float = 16.0
    # A request is not sent where it would queue longer than this (milliseconds of
    # predicted waiting): it waits in the selector for room instead, newest first, so
    # executor queues stay short and what is dispatched is still likely to be in time.
    max_queue_ms: float = 100.0
    # How long a tight-deadline request's node budgets outlive it, and the share of a
    # budget that looser work may fill (the rest absorbs prediction error).
    protect_hold_s: float = 5.0
    protect_margin: float = 0.8


@dataclass
class Decision:
    ranked: list[Candidate]                 # eligible candidates, best first
    candidates: list[Candidate]             # every variant of the task, with exclusions
    policy: str
    decision_s: float = 0.0
    acquired: str | None = None             # key whose in-flight count was taken
    error: FaasmlError | None = None        # 422/429/503 verdict (explain shows it)
    held_s: float = 0.0                     # time it waited in the selector for room


def _round(value: float) -> float:
    return round(value, 3)


class Decider:
    def __init__(self, predictor: LatencyPredictor, load: LoadTracker,
                 config: DecisionConfig | None = None, clock: Clock = time.monotonic):
        self.predictor = predictor
        self.load = load
        self.config = config or DecisionConfig()
        self.clock = clock
        self.guard = DeadlineGuard(load.node_work_ms, self.config.protect_hold_s, self.config.protect_margin)
        self._lock = threading.Lock()

    def decide(self, variants: Sequence[Variant], request: SelectionRequest, policy: Policy,
               acquire: bool = True) -> Decision:
        """Rank and (when `acquire`) take the winner's in-flight slot; raise the verdict."""
        decision = self.evaluate(variants, request, policy, acquire)
        if decision.error is not None:
            raise decision.error
        return decision

    def evaluate(self, variants: Sequence[Variant], request: SelectionRequest, policy: Policy,
                 acquire: bool = False) -> Decision:
        """Like `decide`, but a 422/429/503 verdict is returned in `error`, not raised."""
        started = time.perf_counter()
        name = "pinned" if request.variant else policy.name
        with self._lock:
            now = self.clock()
            candidates = list(map(Candidate, variants, self.predictor.predict_all(variants, now)))
            try:
                eligible = self._apply_limits(candidates, request)
                eligible = self._apply_health(eligible, now)
                if acquire and request.max_latency_ms is not None and not request.variant:
                    self.guard.note(now, request.max_latency_ms, eligible)
                eligible = self._apply_admission(eligible, request, now)
            except FaasmlError as exc:
                return Decision([], candidates, name, time.perf_counter() - started, error=exc)
            ranked = [eligible[0]] if request.variant else policy.rank(eligible, request)
            decision = Decision(ranked, candidates, name)
            if acquire:
                first = ranked[0]
                self.load.acquire(first.key, first.variant.node, first.prediction.service_ms,
                                  first.variant.cpu_millis)
                decision.acquired = first.key
        decision.decision_s = time.perf_counter() - started
        return decision

    # -- 1. hard limits (422) ------------------------------------------------------
    def _apply_limits(self, candidates: list[Candidate], request: SelectionRequest) -> list[Candidate]:
        min_acc, max_lat = request.min_accuracy, request.max_latency_ms
        if min_acc is None and max_lat is None:
            return candidates
        for c in candidates:
            if min_acc is not None and c.variant.accuracy < min_acc:
                c.excluded = f"accuracy {c.variant.accuracy:g} below min_accuracy {min_acc:g}"
            elif max_lat is not None and c.prediction.floor_ms > max_lat:
                c.excluded = (f"latency {c.prediction.floor_ms:.1f} ms even when idle, above "
                              f"max_latency_ms {max_lat:g}")
        eligible = [c for c in candidates if c.excluded is None]
        if not eligible:
            raise self._infeasible(candidates, request)
        return eligible

    def _infeasible(self, candidates: list[Candidate], request: SelectionRequest) -> Unprocessable:
        min_acc, max_lat = request.min_accuracy, request.max_latency_ms
        accurate = [c for c in candidates if min_acc is None or c.variant.accuracy >= min_acc]
        quick = [c for c in candidates if max_lat is None or c.prediction.floor_ms <= max_lat]
        if not accurate:
            limit, best = "min_accuracy", max(candidates, key=lambda c: c.variant.accuracy)
            offer = f"the most accurate variant, {best.key}, has accuracy {best.variant.accuracy:g}"
        elif not quick:
            limit, best = "max_latency_ms", min(candidates, key=lambda c: c.prediction.floor_ms)
            offer = f"the fastest variant, {best.key}, takes {best.prediction.floor_ms:.1f} ms when idle"
        else:
            limit, best = "min_accuracy+max_latency_ms", max(quick, key=lambda c: c.variant.accuracy)
            offer = (f"within max_latency_ms the most accurate is {best.key} "
                     f"(accuracy {best.variant.accuracy:g})")
        return Unprocessable(
            f"no variant meets {limit}: {offer}", code="infeasible",
            details={"limit": limit, "best_on_offer": {
                "variant": best.key, "accuracy": best.variant.accuracy,
                "idle_latency_ms": _round(best.prediction.floor_ms)}})

    # -- 2. health (503) -----------------------------------------------------------
    def _apply_health(self, eligible: list[Candidate], now: float) -> list[Candidate]:
        down = self.load.down_keys(now)
        for c in eligible:
            variant = c.variant
            if variant.available_replicas <= 0:
                c.excluded = ("no available replicas" if variant.schedulable
                              else "unschedulable: no node can run it")
            elif down and variant.id in down:
                c.excluded = "failed recently; cooling down"
        healthy = [c for c in eligible if c.excluded is None]
        if not healthy:
            raise NotReady("no healthy variant for this request: "
                           + "; ".join(f"{c.key}: {c.excluded}" for c in eligible),
                           code="no_healthy_variant")
        return healthy

    # -- 3. admission now (429) ---------------------------------------------------
    def _apply_admission(self, eligible: list[Candidate], request: SelectionRequest,
                         now: float) -> list[Candidate]:
        cap, max_lat = self.config.max_queue_per_slot, request.max_latency_ms
        waits_ms: list[float] = []
        no_room = 0
        guard_active = self.guard.active(now)
        max_queue_ms = self.config.max_queue_ms
        for c in eligible:
            p = c.prediction
            if max_lat is not None and p.total_ms > max_lat:
                c.excluded = (f"predicted {p.total_ms:.1f} ms (queue {p.queue_ms:.1f} ms) "
                              f"above max_latency_ms {max_lat:g}")
                waits_ms.append(p.total_ms - max_lat)
            elif p.inflight >= cap * p.slots:  # utilization (inflight / slots) at the cap
                c.excluded = f"saturated: {p.inflight} in flight for {p.slots} slot(s)"
                waits_ms.append((p.inflight - cap * p.slots + 1) * p.service_ms / p.slots)
            elif request.variant:
                continue  # pinned: only its own limit and the queue cap apply
            elif p.queue_ms > max_queue_ms:
                c.excluded = f"would queue {p.queue_ms:.1f} ms, over {max_queue_ms:g} ms"
                waits_ms.append(p.queue_ms - max_queue_ms)
                no_room += 1
            elif guard_active and (reason := self.guard.blocks(now, max_lat, c)) is not None:
                c.excluded = reason
                waits_ms.append(self.guard.wait_ms(c))
                no_room += 1
        admissible = [c for c in eligible if c.excluded is None]
        if not admissible:
            retry_after = max(1, math.ceil(min(waits_ms) / 1000.0))
            code = NO_ROOM if no_room == len(eligible) else "saturated"
            raise TooManyRequests(
                "every candidate is saturated: "
                + "; ".join(f"{c.key}: {c.excluded}" for c in eligible),
                code=code, headers={"Retry-After": str(retry_after)},
                details={"retry_after_s": retry_after})
        return admissible
