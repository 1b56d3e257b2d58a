"""One task's variants as columns, kept between decisions.

A decision used to build a `Candidate` per variant and walk every one of them in Python
(limits, health, admission, scores, a sort): about 2.4 µs per variant on a 2-core box,
1.2 ms at 500. A `CandidateTable` keeps, per list of variants, each variant's latest
prediction and the figures the decision reads as numpy columns. Before a decision it
rereads only what changed since the previous one (`LoadTracker.changes_since`: in a
steady stream, the variant just dispatched and the one just completed), so keeping it
current is O(changes); the passes over every variant are numpy expressions, a few
microseconds each whatever the size.

What still costs a row per variant: every variant placed on a node whose work changed
(their node queue moved), and every never-observed variant when the node speeds move
(`LatencyPredictor._node_speed`), as before.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from faasml.selector.load import LoadTracker
from faasml.selector.policies import TradeoffPolicy
from faasml.selector.predictor import LatencyPredictor, Prediction
from faasml.selector.variant import Variant


class CandidateTable:
    """Rows in the order of `variants`; not thread-safe (the decider holds its lock)."""

    def __init__(self, variants: Sequence[Variant], max_queue_per_slot: float, max_queue_ms: float):
        self.variants = tuple(variants)
        self._as_list = list(variants)
        self.size = len(self.variants)
        self._max_queue_per_slot = max_queue_per_slot
        self._max_queue_ms = max_queue_ms
        self._rows_of: dict[str, list[int]] = {}
        self.rows_on_node: dict[str, list[int]] = {}
        for row, variant in enumerate(self.variants):
            self._rows_of.setdefault(variant.id, []).append(row)
            if variant.node is not None:
                self.rows_on_node.setdefault(variant.node, []).append(row)
        # What the registry says, fixed for the table's life (a refresh makes new Variants).
        self.accuracy = np.array([v.accuracy for v in self.variants], dtype=float)
        self._unavailable = [v.available_replicas <= 0 for v in self.variants]
        self.unavailable = np.array(self._unavailable, dtype=bool)
        self.placed = np.array([v.node is not None for v in self.variants], dtype=bool)
        # What the load says, one row rewritten per changed variant.
        self.predictions: list[Prediction] = []
        # Only requests with a latency limit read these three: rows are copied in then.
        self._limits = (np.zeros(self.size), np.zeros(self.size), np.zeros(self.size))
        self._limits_behind: set[int] = set()
        self.log_idle = np.zeros(self.size)
        self.log_total = np.zeros(self.size)
        # Out of any request whatever it asks: no replica, saturated, or a queue over the
        # bound. Counted, so that the usual decision (none) needs no mask at all.
        self.blocked = self.unavailable.copy()
        self._blocked = list(self._unavailable)   # the same, for reads one row at a time
        self.blocked_count = sum(self._unavailable)
        self._expires = [math.inf] * self.size
        self._next_expiry = math.inf
        # Rows whose service time is a scaled profile -> the node-speed version it was
        # scaled at: they are predicted again once the speeds move past it.
        self._from_profile: dict[int, int] = {}
        self._lagging = False   # some of them were scaled before the latest move
        self._open: OpenRows | None = None
        self._stamp = -1
        self._speed_version = -1

    # -- keeping it current ------------------------------------------------------------
    def sync(self, load: LoadTracker, predictor: LatencyPredictor, now: float) -> None:
        """Bring every row up to date with the load at `now`, rereading only rows whose
        prediction may have changed; the rest are what `predictor.predict` would return."""
        speed_version = predictor.speed_version
        stamp, keys, nodes = load.changes_since(self._stamp)
        if self._stamp < 0:
            stale = set(range(self.size))
            self.predictions = [None] * self.size  # type: ignore[list-item]  # filled below
        else:
            stale = set()
            for key in keys:
                stale.update(self._rows_of.get(key, ()))
            for node in nodes:
                stale.update(self.rows_on_node.get(node, ()))
            if speed_version != self._speed_version or self._lagging:
                stale.update(row for row, seen in self._from_profile.items() if seen != speed_version)
            if now >= self._next_expiry:
                # A bound, only ever lowered by writes: rescan once it passes.
                stale.update(row for row, until in enumerate(self._expires) if until <= now)
                self._next_expiry = min((until for until in self._expires if until > now), default=math.inf)
        self._stamp = stamp
        if stale:
            self._reread(sorted(stale), predictor, now)
        # Rows predicted before the speeds moved during this sync keep the old scaling
        # until the next decision, as in `LatencyPredictor.predict_all`.
        self._speed_version = predictor.speed_version
        self._lagging = self._speed_version != speed_version and any(
            seen != self._speed_version for seen in self._from_profile.values())

    def _reread(self, rows: list[int], predictor: LatencyPredictor, now: float) -> None:
        """Predict `rows` in order. Node speeds that move meanwhile (an observed variant
        predicted again) reach the never-observed rows at the next decision, as they do
        in `LatencyPredictor.predict_all`."""
        for row in rows:
            prediction, until = predictor.predict_until(self.variants[row], now)
            self._write(row, prediction, until)
            if prediction.service_source == "profile":
                self._from_profile[row] = predictor.speed_version

    def _write(self, row: int, p: Prediction, until: float) -> None:
        old = self.predictions[row]
        self.predictions[row] = p
        self._expires[row] = until
        if until < self._next_expiry:
            self._next_expiry = until
        if p.service_source != "profile":
            self._from_profile.pop(row, None)
        self._limits_behind.add(row)
        self.log_total[row] = p.log_total_ms
        if old is None or old.log_idle_ms != p.log_idle_ms:
            self.log_idle[row] = p.log_idle_ms
            self._open = None
        blocked = self._unavailable[row] or p.inflight >= self._max_queue_per_slot * p.slots \
            or p.queue_ms > self._max_queue_ms
        if blocked != self._blocked[row]:
            self._blocked[row] = self.blocked[row] = blocked
            self.blocked_count += 1 if blocked else -1
            self._open = None

    def latency_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(predicted, floor, idle) latency per row, for requests with a latency limit
        (writing each changed row into numpy costs more than the rest of its update)."""
        if self._limits_behind:
            total, floor, idle = self._limits
            for row in self._limits_behind:
                p = self.predictions[row]
                total[row], floor[row], idle[row] = p.total_ms, p.floor_ms, p.idle_ms
            self._limits_behind.clear()
        return self._limits

    def holds(self, variants: Sequence[Variant]) -> bool:
        """Whether `variants` are this table's, in order (the same objects, or equal ones:
        a comparison that stops at the first that differs, quick for identical ones)."""
        return variants is self.variants or variants == (
            self._as_list if isinstance(variants, list) else self.variants)

    def rows_of(self, key: str) -> list[int]:
        return self._rows_of.get(key, [])

    def open_rows(self) -> OpenRows | None:
        """The rows no pass shuts whatever the request asks (None: not one), with their
        ranges, kept until a row opens, shuts or changes its idle latency."""
        if self._open is None and self.blocked_count < self.size:
            self._open = OpenRows.of(self, None if self.blocked_count == 0 else np.flatnonzero(~self.blocked))
        return self._open


class OpenRows:
    """Some rows (None: all) with what the tradeoff score needs of them; never mutated."""

    __slots__ = ("rows", "acc_range", "acc_shift", "idle_range", "spans")

    def __init__(self, rows: np.ndarray | None, acc_range: tuple[float, float], acc_shift: np.ndarray,
                 idle_range: tuple[float, float]):
        self.rows = rows
        self.acc_range = acc_range
        self.acc_shift = acc_shift        # accuracy minus the lowest, row by row
        self.idle_range = idle_range      # lowest and highest log idle latency
        # What the tradeoff's weights divide by: once per set of rows, not per decision.
        self.spans = TradeoffPolicy.spans(*acc_range, *idle_range)

    @classmethod
    def of(cls, table: CandidateTable, rows: np.ndarray | None) -> OpenRows:
        accuracy = table.accuracy if rows is None else table.accuracy[rows]
        log_idle = table.log_idle if rows is None else table.log_idle[rows]
        acc_low = float(accuracy.min())
        return cls(rows, (acc_low, float(accuracy.max())), accuracy - acc_low,
                   (float(log_idle.min()), float(log_idle.max())))
