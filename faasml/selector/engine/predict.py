"""Queueing-aware latency prediction: what a request sent to a variant *now* would wait.

    predicted = rtt + max(variant path, node path)
    variant   = service + service * max(0, inflight + 1 - slots) / slots
    node      = (work in flight on the node + service) / cpus of the node

`service` is the variant's *intrinsic* service time (idle profile, or a low percentile
of its observed compute times): what it takes with a CPU to itself. The variant path is
its own queue: `slots` = available replicas x requests one replica runs at once, and a
request waits for the excess in flight to drain (an M/D/c-style fluid estimate, counting
in-service requests as whole). The node path is the contention the variant cannot see on
its own: variants placed on one node share its CPUs, so a request also waits, in
CPU-time, for the work every variant on that node has in flight (a work-conserving node
finishes all of it no later than that). An "idle" variant on a busy node is not idle.
Keeping the two apart is what lets "can this variant ever meet the limit" (422) be
judged on the intrinsic time, and ranking and admission on the contended one.

A `TaskTable` keeps one task's predictions as numpy columns between decisions and
recomputes only the rows whose signals moved (the variant dispatched to or answered, the
variants on a node whose work changed, signals that aged out, profile-scaled rows whose
node speed moved): a decision over 500 variants costs a few rows of Python and a few
numpy expressions over the columns.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from faasml.selector.engine.settings import AdmissionSettings
from faasml.selector.engine.signals import LoadState
from faasml.selector.engine.variant import Variant

# How many observations the profile is worth while observations are few: one large input
# must not redefine a variant.
PROFILE_PRIOR_SAMPLES = 3
# How little the selector knows a variant, by where its service time comes from.
KNOWN, AGED, UNKNOWN = 0, 1, 2
KNOWLEDGE = {"observed": KNOWN, "last observed": AGED, "blended": UNKNOWN, "profile": UNKNOWN}


# Plain slotted dataclass, not frozen: one is built per changed variant per decision, and
# frozen's __setattr__ detour costs microseconds that matter at 500 variants.
@dataclass(slots=True)
class Prediction:
    total_ms: float
    rtt_ms: float
    service_ms: float      # intrinsic: with a CPU to itself
    queue_ms: float        # waiting of any kind: its own queue or the node's other work
    inflight: int          # requests ahead of this one (own, or the gateway's if larger)
    slots: int             # replicas x per-replica concurrency
    service_source: str    # observed | blended (with the profile, while samples are few) | last observed | profile
    rtt_source: str        # observed | annotation
    load_source: str       # selector | gateway
    node_work_ms: float = 0.0   # intrinsic work in flight on its node (all its variants)
    node_cpus: int = 1
    floor_ms: float = 0.0       # best idle latency on record: rtt + min(service, profile)
    # total_ms is the model's figure (rtt + service + queue) times the node's calibration:
    # how much longer than the model answers there have taken (signals.calibrate).
    calibration: float = 1.0
    log_idle_ms: float = field(init=False)
    log_total_ms: float = field(init=False)

    def __post_init__(self) -> None:
        self.log_idle_ms = math.log(max(self.rtt_ms + self.service_ms, 1e-3))
        self.log_total_ms = math.log(max(self.total_ms, 1e-3))

    @property
    def idle_ms(self) -> float:
        """The latency with nothing queued: what the variant can do now at best."""
        return self.rtt_ms + self.service_ms

    @property
    def model_ms(self) -> float:
        """The model's figure before calibration (what calibration compares answers with)."""
        return self.total_ms / self.calibration

    @property
    def utilization(self) -> float:
        return self.inflight / self.slots

    def as_dict(self) -> dict[str, float | int | str]:
        return {"predicted_latency_ms": round(self.total_ms, 3), "rtt_ms": round(self.rtt_ms, 3),
                "service_ms": round(self.service_ms, 3), "queue_ms": round(self.queue_ms, 3),
                "inflight": self.inflight, "slots": self.slots,
                "node_work_ms": round(self.node_work_ms, 3), "node_cpus": self.node_cpus,
                "service_source": self.service_source, "rtt_source": self.rtt_source,
                "load_source": self.load_source, "calibration": round(self.calibration, 3)}


class NodeSpeeds:
    """How much slower (or faster) than its profile each node runs: per node, the median
    of its observed variants' ratio of observed service to profile; for a node none of
    whose variants was observed, the median over every observed variant (the machine).
    A never-observed variant is predicted from its profile scaled by its node's speed."""

    def __init__(self) -> None:
        self._ratios: dict[str | None, dict[str, float]] = {}
        self._sorted: dict[str | None, list[float]] = {}
        self._all: list[float] = []
        self.version = 0    # moves when any node's speed (or the machine's) changes

    def update(self, node: str | None, key: str, ratio: float) -> None:
        ratios = self._ratios.setdefault(node, {})
        old = ratios.get(key)
        if old == ratio:
            return
        before_node, before_all = self.speed(node), _median(self._all)
        ordered = self._sorted.setdefault(node, [])
        if old is not None:
            del ordered[bisect.bisect_left(ordered, old)]
            del self._all[bisect.bisect_left(self._all, old)]
        ratios[key] = ratio
        bisect.insort(ordered, ratio)
        bisect.insort(self._all, ratio)
        if self.speed(node) != before_node or _median(self._all) != before_all:
            self.version += 1

    def speed(self, node: str | None) -> float:
        ordered = self._sorted.get(node)
        if ordered:
            return ordered[len(ordered) // 2]
        return _median(self._all)


def _median(ordered: list[float]) -> float:
    return ordered[len(ordered) // 2] if ordered else 1.0


def service_estimate(service: float | None, samples: int, profile_ms: float) -> tuple[float | None, str]:
    """The intrinsic service time from a variant's observations (`LoadState.signals`;
    None: never observed), the profile standing in for missing samples while they are few."""
    if service is None:
        return None, "profile"
    if 0 <= samples < PROFILE_PRIOR_SAMPLES * 4:
        return (samples * service + PROFILE_PRIOR_SAMPLES * profile_ms) / (samples + PROFILE_PRIOR_SAMPLES), "blended"
    return service, "observed" if samples >= 0 else "last observed"


def predict(variant: Variant, state: LoadState, speeds: NodeSpeeds, replica_concurrency: int,
            now: float) -> Prediction:
    """The prediction for `variant` at `now` (the formula in the module docstring)."""
    observed, samples, rtt, inflight, gateway = state.signals(variant.id, now)
    service, service_source = service_estimate(observed, samples, variant.profile_latency_ms)
    if service is None:
        # Never observed: the profile, scaled by how this variant's node compares with
        # the machine the profiles were measured on (its observed neighbours).
        service = variant.profile_latency_ms * speeds.speed(variant.node)
    rtt_source, load_source = "observed", "selector"
    if rtt is None:
        rtt, rtt_source = variant.rtt_ms, "annotation"
    replicas = variant.available_replicas
    if gateway is not None:
        # The gateway also sees other clients; our own count is newer, so take the larger.
        if gateway.inflight is not None and gateway.inflight > inflight:
            inflight, load_source = int(round(gateway.inflight)), "gateway"
        if gateway.replicas is not None:
            replicas = gateway.replicas
    slots = (replicas if replicas > 1 else 1) * replica_concurrency
    excess = inflight + 1 - slots
    queue = service * excess / slots if excess > 0 else 0.0
    node_work, cpus = 0.0, variant.node_cpus
    if variant.node is not None:
        node_work = state.node_work_ms(variant.node, variant.cpu_millis)
        # Everything on the node, this request included, shares `cpus` CPUs; one request
        # never runs faster than its own service time.
        queue = max(queue, (node_work + service) / cpus - service)
    # The best idle latency on record, for "can never meet" (422): observed round trips
    # and service times rise with contention, the declared ones and the profile do not.
    floor = min(rtt, variant.rtt_ms) + min(service, variant.profile_latency_ms)
    calibration = state.calibration(variant.node)
    return Prediction((rtt + service + queue) * calibration, rtt, service, queue, inflight, slots,
                      service_source, rtt_source, load_source, node_work, cpus, floor, calibration)


class TaskTable:
    """One task's variants (registry order) with their latest predictions as columns.

    Rows are recomputed when marked (`mark`, `mark_node`) or when their signals age out;
    the decider marks them from `LoadState.take_changes` before each decision."""

    def __init__(self, variants: Sequence[Variant], admission: AdmissionSettings):
        self.variants = tuple(variants)
        self.size = len(self.variants)
        self.admission = admission
        self.keys = [v.id for v in self.variants]
        self.row_of = {key: row for row, key in enumerate(self.keys)}
        self.rows_on_node: dict[str, list[int]] = {}
        for row, variant in enumerate(self.variants):
            if variant.node is not None:
                self.rows_on_node.setdefault(variant.node, []).append(row)
        # What the registry says, fixed for the table's life (a listing makes a new one).
        self.accuracy = np.array([v.accuracy for v in self.variants], dtype=float)
        self._unavailable = [v.available_replicas <= 0 for v in self.variants]   # (read per row)
        self.unavailable = np.array(self._unavailable, dtype=bool)
        self.placed = np.array([v.node is not None for v in self.variants], dtype=bool)
        # What the load says, rewritten row by row.
        self.predictions: list[Prediction] = [None] * self.size  # type: ignore[list-item]  # filled by refresh
        self.total_ms = np.zeros(self.size)
        self.floor_ms = np.zeros(self.size)
        self.idle_ms = np.zeros(self.size)
        self.log_idle = np.zeros(self.size)
        self.log_total = np.zeros(self.size)
        self.utilization = np.zeros(self.size)
        # How well this selector knows each variant: 0 measured here (fresh observations),
        # 1 measured here once (observations aged out), 2 never (a profile, perhaps from
        # another machine). Ours explores the ones it does not know (policies.py).
        self.unknown = np.full(self.size, 2, dtype=np.int8)
        # Out of any request whatever it asks: no replica, saturated, or a queue over the
        # bound (pinned requests ignore the last). Counted, so the usual decision (none
        # blocked) needs no mask at all.
        self.saturated = np.zeros(self.size, dtype=bool)
        self.blocked = self.unavailable.copy()
        self.blocked_count = int(self.blocked.sum())
        # Move when the rows no pass shuts change, and when any idle latency changes: what
        # the open rows and the ranges a policy scales by are cached against.
        self.membership = 0
        self.idle_version = 0
        self._open: tuple[int, np.ndarray | None] | None = None   # (membership, rows no pass shuts)
        self._ranges: dict[tuple[int, int], tuple[float, float, float, float]] = {}
        self._kept: tuple[tuple[int, int], dict] | None = None
        self._expires = [math.inf] * self.size
        self._next_expiry = math.inf
        self._profile_speed: dict[int, float] = {}   # profile-scaled rows -> speed they used
        self._speeds_version = -1
        self.dirty: set[int] = set(range(self.size))

    def family_rows(self, family: str) -> np.ndarray:
        """The rows of one model's variants (`faasml.io/family`), as a mask."""
        return np.array([v.family == family for v in self.variants], dtype=bool)

    def mark(self, key: str) -> None:
        row = self.row_of.get(key)
        if row is not None:
            self.dirty.add(row)

    def mark_node(self, node: str) -> None:
        self.dirty.update(self.rows_on_node.get(node, ()))

    def mark_unplaced(self) -> None:
        self.dirty.update(row for row, variant in enumerate(self.variants) if variant.node is None)

    def refresh(self, state: LoadState, speeds: NodeSpeeds, now: float) -> None:
        """Bring every row up to date at `now`, recomputing only those that may have moved."""
        dirty = self.dirty
        if now >= self._next_expiry:
            # A bound, only ever lowered by writes: rescan once it passes.
            dirty.update(row for row, until in enumerate(self._expires) if until <= now)
            self._next_expiry = min((until for until in self._expires if until > now), default=math.inf)
        if speeds.version != self._speeds_version:
            self._speeds_version = speeds.version
            dirty.update(row for row, used in self._profile_speed.items()
                         if used != speeds.speed(self.variants[row].node))
        if not dirty:
            return
        concurrency = self.admission.replica_concurrency
        measured: list[tuple[Variant, float]] = []
        for row in sorted(dirty):
            variant = self.variants[row]
            p = predict(variant, state, speeds, concurrency, now)
            self._write(row, p, state.valid_until(variant.id, now))
            if p.service_source == "profile":
                self._profile_speed[row] = speeds.speed(variant.node)
            else:
                self._profile_speed.pop(row, None)
                if variant.node is not None and variant.profile_latency_ms > 0:
                    measured.append((variant, p.service_ms / variant.profile_latency_ms))
        dirty.clear()
        # What the measured variants say of their nodes' speed against the profiles, once
        # every row is written: every row of one refresh sees the same speeds (those that
        # move reach the profile-scaled rows at the next refresh).
        for variant, ratio in measured:
            speeds.update(variant.node, variant.id, ratio)

    def _write(self, row: int, p: Prediction, until: float) -> None:
        self.predictions[row] = p
        self.total_ms[row] = p.total_ms
        self.floor_ms[row] = p.floor_ms
        self.idle_ms[row] = p.rtt_ms + p.service_ms
        log_idle = p.log_idle_ms
        if self.log_idle[row] != log_idle:
            self.log_idle[row] = log_idle
            self.idle_version += 1
        self.log_total[row] = p.log_total_ms
        self.utilization[row] = p.inflight / p.slots
        knowledge = KNOWLEDGE[p.service_source]
        if knowledge == UNKNOWN and self.variants[row].profile_here:
            knowledge = AGED   # measured on this kind of machine, only not by this selector
        if self.unknown[row] != knowledge:
            self.unknown[row] = knowledge
        self._expires[row] = until
        if until < self._next_expiry:
            self._next_expiry = until
        admission = self.admission
        saturated = p.inflight >= admission.max_queue_per_slot * p.slots
        blocked = self._unavailable[row] or saturated or p.queue_ms > admission.max_queue_ms
        if self.saturated[row] != saturated:
            self.saturated[row] = saturated
        if blocked != self.blocked[row]:
            self.blocked[row] = blocked
            self.blocked_count += 1 if blocked else -1
            self.membership += 1

    def open_rows(self) -> np.ndarray | None:
        """The rows no pass shuts whatever the request asks (None: all of them); the
        caller checks `blocked_count < size` first."""
        if self._open is None or self._open[0] != self.membership:
            self._open = (self.membership, None if self.blocked_count == 0 else np.flatnonzero(~self.blocked))
        return self._open[1]

    def open_kept(self) -> dict:
        """A dict for what policies derive from the open rows, emptied when they change."""
        key = (self.membership, self.idle_version)
        if self._kept is None or self._kept[0] != key:
            self._kept = (key, {})
        return self._kept[1]

    def open_ranges(self) -> tuple[float, float, float, float]:
        """(lowest, highest accuracy, lowest, highest log idle latency) over the open rows,
        kept until either moves."""
        key = (self.membership, self.idle_version)
        cached = self._ranges.get(key)
        if cached is None:
            rows = self.open_rows()
            cached = column_ranges(self.accuracy if rows is None else self.accuracy[rows],
                                   self.log_idle if rows is None else self.log_idle[rows])
            self._ranges = {key: cached}
        return cached


def column_ranges(accuracy: np.ndarray, log_idle: np.ndarray) -> tuple[float, float, float, float]:
    return float(accuracy.min()), float(accuracy.max()), float(log_idle.min()), float(log_idle.max())
