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

Two ways to the same verdict. The candidate path builds a `Candidate` per variant and
walks the passes in Python: the plain statement of the rules, used for a pinned
variant and for every 422/429/503 (whose messages name each candidate's reason). The
table path (table.py) keeps the variants as numpy columns between decisions and rereads
only the ones whose load changed; each pass is a mask, and a decision that admits
everything (the usual case) needs none. It builds candidates only where they are
read: the ranked ones the forwarder tries, and the whole table for `?explain=1`.
tests/selector/test_fast_decision.py holds the two to the same answers.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from faasml.errors import FaasmlError, NotReady, TooManyRequests, Unprocessable
from faasml.selector.admission import DeadlineGuard
from faasml.selector.candidate import Candidate
from faasml.selector.load import Clock, LoadTracker
from faasml.selector.params import SelectionRequest
from faasml.selector.policies import Policy, TradeoffPolicy
from faasml.selector.predictor import LatencyPredictor, Prediction
from faasml.selector.outcome import CandidateList, Ranking, Seen
from faasml.selector.table import CandidateTable, OpenRows
from faasml.selector.variant import Variant
from faasml.selector.verdicts import admission_verdict, health_reason, limit_reason


# The 429 code when every candidate is kept out only for want of room on its node (its
# queue is long, or it is kept for tighter deadlines): the service may hold the request.
NO_ROOM = "no_room"
# Tables kept (one per task and registry refresh); the oldest goes first.
MAX_TABLES = 64
# Below this many variants the candidate path is the quicker (numpy's calls cost
# microseconds each; a few candidates cost less): `faasml bench selector` at 5 variants.
TABLE_FROM = 16


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
    # A budget whose node met fewer than this share of its recent tight requests' limits
    # holds nothing back until they meet it again (admission.py; 0: never suspended).
    protect_suspend_below: float = 0.5


@dataclass
class Decision:
    # Sequences, not always lists: the table path builds candidates as they are read.
    ranked: Sequence[Candidate]             # eligible candidates, best first
    candidates: Sequence[Candidate]         # every variant of the task, with exclusions
    policy: str
    decision_s: float = 0.0
    acquired: str | None = None             # key whose in-flight count was taken
    error: FaasmlError | None = None        # 422/429/503 verdict (explain shows it)
    held_s: float = 0.0                     # time it waited in the selector for room


def _round(value: float) -> float:
    return round(value, 3)


class Decider:
    # Registries at least this large take the table path; the tests set it to 1 (always)
    # and to infinity (never: the candidate path, the reference they hold the other to).
    table_from: float = TABLE_FROM

    def __init__(self, predictor: LatencyPredictor, load: LoadTracker,
                 config: DecisionConfig | None = None, clock: Clock = time.monotonic):
        self.predictor = predictor
        self.load = load
        self.config = config or DecisionConfig()
        self.clock = clock
        self.guard = DeadlineGuard(load.node_work_ms, self.config.protect_hold_s, self.config.protect_margin,
                                   self.config.protect_suspend_below)
        self._lock = threading.Lock()
        # One table per list of variants (by the identity of its Variants, which the
        # table keeps alive, so the ids cannot be reused while it is here).
        self._tables: dict[tuple[int, ...], CandidateTable] = {}

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
        with self._lock:
            now = self.clock()
            if request.variant or len(variants) < self.table_from:
                decision = self._by_candidates(variants, request, policy, now, acquire)
            else:
                decision = self._by_table(self._table(variants), request, policy, now, acquire)
            if acquire and decision.error is None:
                first = decision.ranked[0]
                self.load.acquire(first.key, first.variant.node, first.prediction.service_ms,
                                  first.variant.cpu_millis)
                decision.acquired = first.key
        decision.decision_s = time.perf_counter() - started
        return decision

    def record_tight(self, node: str, max_latency_ms: float, met: bool) -> None:
        """A request limited to `max_latency_ms` ended on `node`: whether it met the limit
        (the fast lanes' budgets hold only while their tight requests mostly do)."""
        with self._lock:
            self.guard.record(self.clock(), node, max_latency_ms, met)

    def fast_lanes(self) -> list[dict]:
        """The node budgets that hold or are suspended now (admission.py)."""
        with self._lock:
            return self.guard.view(self.clock())

    # -- the candidate path ------------------------------------------------------------
    def _by_candidates(self, variants: Sequence[Variant], request: SelectionRequest, policy: Policy,
                       now: float, acquire: bool, predictions: Sequence[Prediction] | None = None,
                       note: bool = True) -> Decision:
        name = "pinned" if request.variant else policy.name
        if predictions is None:
            predictions = self.predictor.predict_all(variants, now)
        candidates = list(map(Candidate, variants, predictions))
        try:
            eligible = self._apply_limits(candidates, request)
            eligible = self._apply_health(eligible, self.load.down_keys(now))
            if note and acquire and request.max_latency_ms is not None and not request.variant:
                self.guard.note(now, request.max_latency_ms, eligible)
            eligible = self._apply_admission(eligible, request, now)
        except FaasmlError as exc:
            return Decision([], candidates, name, error=exc)
        ranked = [eligible[0]] if request.variant else policy.rank(eligible, request)
        return Decision(ranked, candidates, name)

    # -- 1. hard limits (422) ------------------------------------------------------
    def _apply_limits(self, candidates: list[Candidate], request: SelectionRequest) -> list[Candidate]:
        min_acc, max_lat = request.min_accuracy, request.max_latency_ms
        if min_acc is None and max_lat is None:
            return candidates
        for c in candidates:
            c.excluded = limit_reason(c, min_acc, max_lat)
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
    def _apply_health(self, eligible: list[Candidate], down: frozenset[str]) -> list[Candidate]:
        for c in eligible:
            c.excluded = health_reason(c, down)
        healthy = [c for c in eligible if c.excluded is None]
        if not healthy:
            raise NotReady("no healthy variant for this request: "
                           + "; ".join(f"{c.key}: {c.excluded}" for c in eligible),
                           code="no_healthy_variant")
        return healthy

    # -- 3. admission now (429) ---------------------------------------------------
    def _apply_admission(self, eligible: list[Candidate], request: SelectionRequest,
                         now: float) -> list[Candidate]:
        cap, max_lat, pinned = self.config.max_queue_per_slot, request.max_latency_ms, bool(request.variant)
        waits_ms: list[float] = []
        no_room = 0
        guard_active = self.guard.active(now)
        for c in eligible:
            verdict = admission_verdict(c, max_lat, cap, self.config.max_queue_ms, pinned)
            if verdict is None and guard_active and not pinned:
                reason = self.guard.blocks(now, max_lat, c)
                if reason is not None:
                    verdict = (reason, self.guard.wait_ms(c), True)
            if verdict is not None:
                c.excluded, wait_ms, only_room = verdict
                waits_ms.append(wait_ms)
                no_room += only_room
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

    # -- the table path ----------------------------------------------------------------
    def _table(self, variants: Sequence[Variant]) -> CandidateTable:
        # Found by its first variant (kept alive by the table, so its id is not reused)
        # and the length, then checked whole: the service hands a fresh list each time.
        key = (id(variants[0]), len(variants))
        table = self._tables.get(key)
        if table is None or not table.holds(variants):
            self._tables.pop(key, None)
            if len(self._tables) >= MAX_TABLES:
                del self._tables[next(iter(self._tables))]
            table = self._tables[key] = CandidateTable(variants, self.config.max_queue_per_slot,
                                                       self.config.max_queue_ms)
        return table

    def _by_table(self, table: CandidateTable, request: SelectionRequest, policy: Policy,
                  now: float, acquire: bool) -> Decision:
        table.sync(self.load, self.predictor, now)
        seen = Seen(table.variants, list(table.predictions), request, self.load.down_keys(now),
                    self.config.max_queue_per_slot, self.config.max_queue_ms)
        admitted, noted = self._admit_rows(table, seen, now, acquire)
        if admitted is None:
            # Some pass left nothing: the candidate path words the verdict (and every
            # candidate's reason) from the same predictions, at the same moment.
            return self._by_candidates(table.variants, request, policy, now, acquire,
                                       seen.predictions, note=not noted)
        seen.rows = admitted.rows
        if isinstance(policy, TradeoffPolicy):
            ranked: Sequence[Candidate] = self._rank_tradeoff(table, seen, admitted, policy)
        else:
            ranked = policy.rank(seen.admitted_candidates(), request)
        return Decision(ranked, CandidateList(seen), policy.name)

    def _admit_rows(self, table: CandidateTable, seen: Seen, now: float,
                    acquire: bool) -> tuple[OpenRows | None, bool]:
        """The rows every pass lets through (None: not one), and whether the node budgets
        were noted. A request with no limits, while nothing cools down and no budget holds
        (the usual case), takes the table's open rows as they are kept."""
        request = seen.request
        min_acc, max_lat = request.min_accuracy, request.max_latency_ms
        if min_acc is None and max_lat is None and not seen.down and not self.guard.active(now):
            return table.open_rows(), False
        # 1. limits and 2. health. Written as "not (a < b)", as the passes test it.
        ok = ~table.unavailable
        total_ms, floor_ms, idle_ms = table.latency_columns() if max_lat is not None else (None, None, None)
        if min_acc is not None:
            ok &= ~(table.accuracy < min_acc)
        if max_lat is not None:
            ok &= ~(floor_ms > max_lat)
        for key in seen.down:
            for row in table.rows_of(key):
                ok[row] = False
        noted = False
        if acquire and max_lat is not None:
            if not ok.any():
                return None, False
            self._note_fast_lane(table, seen, ok, idle_ms, now, max_lat)
            noted = True
        # 3. admission: the request's own limit, the queue caps, the node budgets.
        ok &= ~table.blocked
        if max_lat is not None:
            ok &= ~(total_ms > max_lat)
        if self.guard.active(now):
            for node in self.guard.nodes(now):
                for row in table.rows_on_node.get(node, ()):
                    if ok[row]:
                        reason = self.guard.blocks(now, max_lat, seen.candidate_unjudged(row))
                        if reason is not None:
                            ok[row] = False
                            seen.kept_out(row, reason)
        rows = ok.nonzero()[0]
        return (OpenRows.of(table, rows) if len(rows) else None), noted

    def _note_fast_lane(self, table: CandidateTable, seen: Seen, healthy: np.ndarray, idle_ms: np.ndarray,
                        now: float, max_latency_ms: float) -> None:
        """The node budget this request leaves (admission.py): on the node of the healthy
        variant fastest when idle, the first such in registry order as `min` takes it."""
        placed = (healthy & table.placed).nonzero()[0]
        if len(placed):
            fastest = int(placed[np.argmin(idle_ms[placed])])
            self.guard.note(now, max_latency_ms, [seen.candidate_unjudged(fastest)])

    def _rank_tradeoff(self, table: CandidateTable, seen: Seen, admitted: OpenRows,
                       policy: TradeoffPolicy) -> Ranking:
        """TradeoffPolicy.rank over columns: the same scores, the same near-tie draw."""
        rows = admitted.rows
        log_total = table.log_total if rows is None else table.log_total[rows]
        scores = seen.scores = policy.score_columns(seen.request.tradeoff, admitted.acc_shift, log_total,
                                                    admitted.idle_range[1], admitted.spans)
        # (ndarray.max and np.flatnonzero are Python wrappers: microseconds each here.)
        best = scores.argmax()
        tied = (scores >= scores[best] - policy.tie_margin).nonzero()[0]
        if len(tied) < 2:
            position = int(best)   # (also where a NaN score, from a NaN accuracy, ties nothing)
        else:
            position = self._draw_near_tie(policy, seen, rows, scores, tied)
        winner = position if rows is None else int(rows[position])
        seen.winner = (winner, position)
        return Ranking(seen, winner)

    @staticmethod
    def _draw_near_tie(policy: TradeoffPolicy, seen: Seen, rows: np.ndarray | None, scores: np.ndarray,
                       tied: np.ndarray) -> int:
        """The near-tie draw of `TradeoffPolicy.rank` among the tied positions: the same
        list (best first, equal scores in registry order, as its stable `sorted` leaves
        them), so the same `random` call picks the same two. A few, so in Python: each
        numpy call costs more than sorting them."""
        positions = tied.tolist()
        as_rows = positions if rows is None else rows[tied].tolist()
        if len(positions) == 2:   # the usual tie, without numpy's fancy indexing and a sort
            order = [1, 0] if scores[positions[1]] > scores[positions[0]] else [0, 1]
        else:
            tied_scores = scores[tied].tolist()
            order = sorted(range(len(positions)), key=lambda i: -tied_scores[i])
        predictions = seen.predictions
        winner = policy.pick([as_rows[i] for i in order],
                             lambda row: (predictions[row].utilization, predictions[row].total_ms))
        return positions[as_rows.index(winner)]
