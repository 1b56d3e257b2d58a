"""The engine: registry snapshot + load state + time + request -> a verdict and a ranking.

Order of verdicts for a request (each names its reason in the explain table):
  1. static hard limits on every variant of the task -> 422 if none can ever meet them,
     judged on the best *idle* latency on record: momentary slowness is never a 422;
  2. health (available replicas, recent failures)    -> 503 if none is healthy;
  3. admission now: the predicted latency against the request's own limit, the queue
     caps, and the fast lanes that protect tighter deadlines (lanes.py) -> 429 +
     Retry-After if no candidate is left (a faster variant that fits beats a 429; a
     request kept out only for want of room, code `no_room`, may first be held);
  4. the policy ranks what is left; the first one's request is counted in flight (and
     its work on its node) before the decision returns, so the next decision sees it.

One path: each pass is a mask over the task's columns (predict.TaskTable), and the
decision the usual request makes (no limits, nothing cooling down, no lane holding,
nothing blocked) needs no mask at all. Candidates, with their reasons, are built only
where read: the ranked ones the forwarder tries, and all of them for `?explain=1` and for
the 422/429/503 answers.

Pure: no I/O, no threads, no clock. Every call carries the time it happens at, and the
policies draw from the `random.Random` the engine is given, so the live shell
(service.py) and the simulator (faasml/simulation) run the same objects.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence, overload

import numpy as np

from faasml.errors import (BAD_PARAMETER, INFEASIBLE, MISSING_TASK, NO_HEALTHY_VARIANT, NO_ROOM,
                           UNKNOWN_FAMILY, UNKNOWN_TASK, UNKNOWN_VARIANT, BadRequest, FaasmlError, NotFound,
                           NotReady, TooManyRequests, Unprocessable)
from faasml.selector.engine.candidate import Candidate
from faasml.selector.engine.lanes import DeadlineGuard
from faasml.selector.engine.policies import Policy, Ranked, View, make_policies
from faasml.selector.engine.predict import NodeSpeeds, Prediction, TaskTable, predict
from faasml.selector.engine.registry import Snapshot
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.settings import EngineSettings
from faasml.selector.engine.signals import GatewayLoad, LoadState, Ticket
from faasml.selector.engine.verdicts import admission_verdict, health_reason, limit_reason

# The 429 code when every candidate is kept out only for want of room on its node (its
# queue is long, or it is kept for tighter deadlines): the shell may hold the request.


@dataclass(slots=True)
class Decision:
    task: str
    policy: str                              # the policy's name, or "pinned"
    ranked: Sequence[Candidate] = ()         # admitted candidates, best first
    candidates: Sequence[Candidate] = ()     # every variant of the task, with exclusions
    error: FaasmlError | None = None         # the 422/429/503 verdict (explain shows it)
    ticket: Ticket | None = None             # the first one's request, counted in flight
    held_s: float = 0.0                      # how long it waited in the selector for room (the shell's)
    decision_s: float = 0.0                  # how long deciding took (the shell measures it)
    exploring: bool = False                  # the first was chosen to learn its latency (ours)
    decided_at: float = 0.0                  # the time it was made at (clock seconds)

    @property
    def acquired(self) -> str | None:
        return self.ticket.key if self.ticket is not None else None


class Engine:
    def __init__(self, settings: EngineSettings, rng: random.Random):
        self.settings = settings
        self.state = LoadState(settings.signals)
        self.speeds = NodeSpeeds()
        admission = settings.admission
        self.lanes = DeadlineGuard(self.state.node_work_ms, admission.protect_s, admission.protect_margin,
                                   admission.protect_suspend_below)
        self.policies: dict[str, Policy] = make_policies(rng, settings.policy)
        if settings.default_policy not in self.policies:
            raise ValueError(f"unknown policy {settings.default_policy!r}; known: {', '.join(self.policies)}")
        self.snapshot = Snapshot()
        self._tables: dict[str, TaskTable] = {}
        self._table_of: dict[str, TaskTable] = {}   # variant key -> its task's table, once built

    # -- the registry ------------------------------------------------------------------
    def use_snapshot(self, snapshot: Snapshot) -> None:
        """A new listing: tables are rebuilt (lazily, per task) for its variants."""
        self.snapshot = snapshot
        self._tables = {}
        self._table_of = {}

    def _table(self, task: str, now: float) -> TaskTable | None:
        table = self._tables.get(task)
        if table is None:
            variants = self.snapshot.by_task.get(task)
            if not variants:
                return None
            table = self._tables[task] = TaskTable(variants, self.settings.admission)
            for key in table.keys:
                self._table_of[key] = table
        self._sync(now)
        table.refresh(self.state, self.speeds, now)
        return table

    def _sync(self, now: float) -> None:
        """Releases that fell due, and the state's changes marked on the tables."""
        self.state.settle(now)
        changes = self.state.take_changes()
        if changes is None:
            return
        keys, nodes, unplaced = changes
        for key in keys:
            table = self._table_of.get(key)
            if table is not None:
                table.mark(key)
        for node in nodes:
            for table in self._tables.values():
                table.mark_node(node)
        if unplaced:
            for table in self._tables.values():
                table.mark_unplaced()

    # -- deciding ----------------------------------------------------------------------
    def decide(self, request: SelectionRequest, now: float, acquire: bool = True) -> Decision:
        """The verdict and ranking for `request` at `now`; with `acquire`, the first
        candidate's request is counted in flight (`Decision.ticket`, which the caller
        releases). A 422/429/503 verdict is returned in `error`; a request that names no
        known task or variant raises (400/404)."""
        task, pinned_key = self._resolve(request)
        table = self._table(task, now)
        if table is None:   # the task's variants vanished between resolve and here: cannot
            raise NotFound(f"unknown task {task!r}", code=UNKNOWN_TASK, details={"known_tasks": self.snapshot.tasks})
        policy_name = "pinned" if pinned_key is not None else (request.policy or self.settings.default_policy)
        policy = None if pinned_key is not None else self._policy(policy_name)
        pin_row = table.row_of[pinned_key] if pinned_key is not None else None
        predictions = list(table.predictions)   # this decision's copy: the table's rows move on
        seen = _Seen(table, predictions, request, self.state.down_keys(now), self.settings, pin_row)
        lanes_active = pin_row is None and self.lanes.active(now)
        if (pin_row is None and request.min_accuracy is None and request.max_latency_ms is None
                and request.family is None
                and not seen.down and not lanes_active and table.blocked_count < table.size):
            rows = table.open_rows()        # the usual request: nothing to mask
            view = self._view(table, rows, True, now, acquire)
        else:
            try:
                rows = self._passes(seen, now, acquire, lanes_active)
            except FaasmlError as exc:
                return Decision(task, policy_name, (), _Candidates(seen), error=exc)
            view = self._view(table, rows, False, now, acquire)
        seen.rows = rows
        if policy is None:
            ranked = Ranked.of([0])
        else:
            ranked = policy.rank(view, request)
        seen.ranked = ranked
        decision = Decision(task, policy_name, _Ranking(seen), _Candidates(seen), exploring=ranked.exploring,
                            decided_at=now)
        if acquire:
            first = decision.ranked[0]
            variant = first.variant
            decision.ticket = self.state.acquire(variant.id, variant.node, variant.cpu_millis,
                                                 first.prediction.service_ms)
        return decision

    def _resolve(self, request: SelectionRequest) -> tuple[str, str | None]:
        """(the task, the pinned variant's key or None); 400/404 for what names nothing."""
        snapshot = self.snapshot
        if request.variant:
            variant = snapshot.by_key.get(request.variant)
            if variant is None:
                raise NotFound(f"unknown variant {request.variant!r}", code=UNKNOWN_VARIANT,
                               details={"known_variants": sorted(snapshot.by_key)})
            if request.task and request.task != variant.task:
                raise BadRequest(f"variant {variant.id!r} does task {variant.task!r}, not {request.task!r}",
                                 code=BAD_PARAMETER, details={"parameter": "variant"})
            return variant.task, variant.id
        if request.family:
            members = [v for v in snapshot.variants if v.family == request.family]
            if not members:
                raise NotFound(f"unknown model family {request.family!r}", code=UNKNOWN_FAMILY,
                               details={"known_families": sorted({v.family for v in snapshot.variants if v.family})})
            if request.task and request.task != members[0].task:
                raise BadRequest(f"family {request.family!r} does task {members[0].task!r}, not {request.task!r}",
                                 code=BAD_PARAMETER, details={"parameter": "family"})
            return members[0].task, None
        if not request.task:
            raise BadRequest("parameter task is required (query task= or header X-Faasml-Task)",
                             code=MISSING_TASK, details={"known_tasks": snapshot.tasks})
        if not snapshot.by_task.get(request.task):
            raise NotFound(f"unknown task {request.task!r}", code=UNKNOWN_TASK,
                           details={"known_tasks": snapshot.tasks})
        return request.task, None

    def _policy(self, name: str) -> Policy:
        policy = self.policies.get(name)
        if policy is None:
            raise BadRequest(f"unknown policy {name!r}", code=BAD_PARAMETER,
                             details={"parameter": "policy", "known_policies": list(self.policies)})
        return policy

    @staticmethod
    def _view(table: TaskTable, rows: np.ndarray | None, open_rows: bool, now: float, acquire: bool) -> View:
        keys = table.keys if rows is None else _Keys(table.keys, rows)
        if open_rows:
            return View(table, rows, keys, table.open_ranges, table.open_kept(), now, acquire)
        return View(table, rows, keys, now=now, dispatching=acquire)

    def _passes(self, seen: "_Seen", now: float, acquire: bool, lanes_active: bool) -> np.ndarray:
        """The three passes as masks; the admitted rows, or the verdict raised."""
        table, request = seen.table, seen.request
        min_acc, max_lat = request.min_accuracy, request.max_latency_ms
        if seen.pin_row is None:
            ok = np.ones(table.size, dtype=bool) if request.family is None else table.family_rows(request.family)
        else:
            ok = np.zeros(table.size, dtype=bool)
            ok[seen.pin_row] = True
        # 1. hard limits (422). Written as "not (a < b)", as the verdicts test it.
        if min_acc is not None:
            ok &= ~(table.accuracy < min_acc)
        if max_lat is not None:
            ok &= ~(table.floor_ms > max_lat)
        if not ok.any():
            raise self._infeasible(seen)
        # 2. health (503).
        ok &= ~table.unavailable
        for key in seen.down:
            row = table.row_of.get(key)
            if row is not None:
                ok[row] = False
        if not ok.any():
            raise NotReady("no healthy variant for this request: " + "; ".join(
                f"{c.key}: {c.excluded}" for c in seen.considered() if c.excluded),
                code=NO_HEALTHY_VARIANT)
        seen.healthy = ok.nonzero()[0]
        # The fast lane this request leaves (lanes.py): on the node of the healthy placed
        # variant fastest when idle.
        if acquire and max_lat is not None and seen.pin_row is None:
            placed = (ok & table.placed).nonzero()[0]
            if len(placed):
                fastest = int(placed[np.argmin(table.idle_ms[placed])])
                self.lanes.note(now, max_lat, table.variants[fastest], seen.predictions[fastest])
                lanes_active = self.lanes.active(now)
        # 3. admission now (429): the request's own limit, the queue caps, the lanes.
        ok &= ~(table.saturated if seen.pin_row is not None else table.blocked)
        if max_lat is not None:
            ok &= ~(table.total_ms > max_lat)
        if lanes_active:
            for node in self.lanes.nodes(now):
                for row in table.rows_on_node.get(node, ()):
                    if ok[row]:
                        reason = self.lanes.blocks(now, max_lat, table.variants[row], seen.predictions[row])
                        if reason is not None:
                            ok[row] = False
                            seen.lane_reasons[row] = reason
        rows = ok.nonzero()[0]
        if not len(rows):
            raise self._no_room(seen)
        return rows

    def _infeasible(self, seen: "_Seen") -> Unprocessable:
        request = seen.request
        min_acc, max_lat = request.min_accuracy, request.max_latency_ms
        candidates = seen.considered()
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
            offer = f"within max_latency_ms the most accurate is {best.key} (accuracy {best.variant.accuracy:g})"
        return Unprocessable(
            f"no variant meets {limit}: {offer}", code=INFEASIBLE,
            details={"limit": limit, "best_on_offer": {
                "variant": best.key, "accuracy": best.variant.accuracy,
                "idle_latency_ms": round(best.prediction.floor_ms, 3)}})

    def _no_room(self, seen: "_Seen") -> TooManyRequests:
        """Every healthy candidate refused admission: 429, with how long until one may fit."""
        admission = self.settings.admission
        waits_ms: list[float] = []
        no_room = 0
        refused = [seen.candidate(int(row)) for row in seen.healthy]
        for c in refused:
            verdict = admission_verdict(c.prediction, seen.request.max_latency_ms, admission.max_queue_per_slot,
                                        admission.max_queue_ms, seen.pin_row is not None)
            if verdict is None:   # kept out by a fast lane
                waits_ms.append(self.lanes.wait_ms(c.variant, c.prediction))
                no_room += 1
            else:
                waits_ms.append(verdict[1])
                no_room += verdict[2]
        retry_after = max(1, math.ceil(min(waits_ms, default=0.0) / 1000.0))
        code = NO_ROOM if no_room == len(refused) else "saturated"
        return TooManyRequests("every candidate is saturated: " + "; ".join(f"{c.key}: {c.excluded}" for c in refused),
                               code=code, headers={"Retry-After": str(retry_after)},
                               details={"retry_after_s": retry_after})

    # -- events ------------------------------------------------------------------------
    def acquire(self, key: str, now: float) -> Ticket:
        """Count a request sent to `key` outside a decision (the forwarder's next try)."""
        self._sync(now)
        variant = self.snapshot.by_key.get(key)
        if variant is None:
            return self.state.acquire(key, None, 0.0, 0.0)
        work = predict(variant, self.state, self.speeds, self.settings.admission.replica_concurrency, now).service_ms
        return self.state.acquire(key, variant.node, variant.cpu_millis, work)

    def release(self, ticket: Ticket, now: float, busy_for_ms: float = 0.0) -> None:
        self.state.release(ticket, now, busy_for_ms)

    def observe(self, key: str, now: float, wall_ms: float, compute_ms: float | None,
                predicted_ms: float | None = None) -> None:
        """A call to `key` answered: its wall time and the executor's compute time, and
        (for calibration) the uncalibrated latency the decision predicted for it."""
        self.state.observe(key, now, wall_ms, compute_ms)
        variant = self.snapshot.by_key.get(key)
        if predicted_ms is not None and variant is not None:
            self.state.calibrate(variant.node, wall_ms, predicted_ms)

    def update_gateway(self, loads: Iterable[tuple[str, GatewayLoad]]) -> None:
        self.state.update_gateway(loads)

    def mark_down(self, key: str, now: float, until_up: bool = False) -> None:
        self.state.mark_down(key, now, until_up)

    def mark_up(self, key: str) -> None:
        self.state.mark_up(key)

    def record_tight(self, node: str, max_latency_ms: float, met: bool, now: float) -> None:
        """A request limited to `max_latency_ms` ended on `node`: whether it met the limit
        (the fast lanes' budgets hold only while their tight requests mostly do)."""
        self.lanes.record(now, node, max_latency_ms, met)

    # -- reading -----------------------------------------------------------------------
    def prediction(self, key: str, now: float) -> Prediction | None:
        """The current prediction for one variant (the /variants view)."""
        variant = self.snapshot.by_key.get(key)
        if variant is None:
            return None
        table = self._table(variant.task, now)
        return table.predictions[table.row_of[key]] if table is not None else None

    def inflight(self, key: str, now: float) -> int:
        """This selector's requests in flight to `key` at `now` (abandoned ones included
        until their executor must have finished)."""
        self.state.settle(now)
        return self.state.inflight(key)

    def fast_lanes(self, now: float) -> list[dict]:
        return self.lanes.view(now)


class _Keys(Sequence[str]):
    """A view's keys by position, for rows of a table (built on read: rarely read)."""

    def __init__(self, keys: Sequence[str], rows: np.ndarray):
        self._keys, self._rows = keys, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, position):  # type: ignore[override]
        return self._keys[int(self._rows[position])]


NO_ROWS = np.zeros(0, dtype=int)   # (shared: never written)


class _Seen:
    """What one decision saw: the table's rows and their predictions at that moment, the
    request, and the verdicts, from which candidates are built on first read."""

    __slots__ = ("table", "predictions", "request", "down", "settings", "pin_row", "rows", "healthy", "ranked",
                 "lane_reasons", "_built")

    def __init__(self, table: TaskTable, predictions: list[Prediction], request: SelectionRequest,
                 down: frozenset[str], settings: EngineSettings, pin_row: int | None):
        self.table = table
        self.predictions = predictions
        self.request = request
        self.down = down
        self.settings = settings
        self.pin_row = pin_row
        self.rows: np.ndarray | None = None          # admitted rows, ascending; None: all
        self.healthy: np.ndarray = NO_ROWS   # rows past the limits and health
        self.ranked: Ranked | None = None
        self.lane_reasons: dict[int, str] = {}
        self._built: dict[int, Candidate] = {}

    def candidate(self, row: int, position: int | None = -1) -> Candidate:
        """The row's candidate; `position`, its place among the admitted when the caller
        knows it (-1: look it up)."""
        built = self._built.get(row)
        if built is None:
            built = self._built[row] = Candidate(self.table.variants[row], self.predictions[row])
            if position == -1:
                position = self._position(row)
            if position is None:
                built.excluded = self._reason(row, built)
            elif self.ranked is not None and self.ranked.scores is not None:
                built.score = float(self.ranked.scores[position])
        return built

    def considered(self) -> list[Candidate]:
        """The candidates the request could have had (only the pinned one, when pinned)."""
        return [self.candidate(row) for row in self.considered_rows()]

    def considered_rows(self) -> Sequence[int]:
        if self.pin_row is not None:
            return [self.pin_row]
        if self.request.family is not None:
            return self.table.family_rows(self.request.family).nonzero()[0].tolist()
        return range(self.table.size)

    def row_at(self, position: int) -> int:
        if self.pin_row is not None:
            return self.pin_row
        return position if self.rows is None else int(self.rows[position])

    def _position(self, row: int) -> int | None:
        if self.ranked is None:
            return None
        if self.pin_row is not None:
            return 0 if row == self.pin_row else None
        if self.rows is None:
            return row
        position = int(np.searchsorted(self.rows, row))
        return position if position < len(self.rows) and self.rows[position] == row else None

    def _admission_text(self, row: int, c: Candidate) -> str | None:
        admission = self.settings.admission
        verdict = admission_verdict(c.prediction, self.request.max_latency_ms, admission.max_queue_per_slot,
                                    admission.max_queue_ms, self.pin_row is not None)
        if verdict is not None:
            return verdict[0]
        return self.lane_reasons.get(row)

    def _reason(self, row: int, c: Candidate) -> str | None:
        request = self.request
        return (limit_reason(c.variant, c.prediction, request.min_accuracy, request.max_latency_ms)
                or health_reason(c.variant, self.down)
                or self._admission_text(row, c))


class _Ranking(Sequence[Candidate]):
    """The admitted candidates, best first, built as read."""

    def __init__(self, seen: _Seen):
        self._seen = seen
        assert seen.ranked is not None
        self._ranked = seen.ranked
        self._count = 1 if seen.pin_row is not None else (
            seen.table.size if seen.rows is None else len(seen.rows))

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Candidate: ...
    @overload
    def __getitem__(self, index: slice) -> list[Candidate]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("ranking index out of range")
        position = self._ranked.first if index == 0 else self._ranked.order()[index]
        return self._seen.candidate(self._seen.row_at(position), position)

    def __iter__(self) -> Iterator[Candidate]:
        return (self[i] for i in range(self._count))


class _Candidates(Sequence[Candidate]):
    """Every variant of the task (only the pinned one, when pinned) in registry order,
    with its exclusion, built on first read."""

    def __init__(self, seen: _Seen):
        self._seen = seen
        self._list: list[Candidate] | None = None

    def _all(self) -> list[Candidate]:
        if self._list is None:
            self._list = self._seen.considered()
        return self._list

    def __len__(self) -> int:
        return len(self._seen.considered_rows())

    def __getitem__(self, index):  # type: ignore[override]
        return self._all()[index]

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._all())
