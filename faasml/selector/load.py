"""Load signals per variant, each with a freshness bound.

Three sources, from most to least immediate:
  * the selector's own in-flight count, changed at dispatch and release under the
    decision lock, so two concurrent requests never both see an idle variant; with it,
    the work (intrinsic milliseconds) in flight on each *node*, because variants placed
    on the same node share its CPUs and one variant's queue slows its neighbours;
  * observations of the selector's own completed calls: the executor's compute time
    (`X-Faasml-Compute-Ms`) and the rest of the wall time (network + gateway), kept in a
    recent window with its percentile cached at record time (decisions read O(1));
  * the gateway's view (in flight, replicas, mean latency), polled from its metrics,
    which also sees other clients' traffic.
A signal older than its bound is ignored and the profile values stand in for it.
"""
from __future__ import annotations

import bisect
import heapq
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from faasml.cpu import FULL_CPU_MILLIS

Clock = Callable[[], float]
# The quantile of recent compute times taken as the intrinsic service time: low enough
# to skip contended samples, high enough that one lucky cache-warm run does not define it.
INTRINSIC_QUANTILE = 0.2


@dataclass(frozen=True)
class GatewayLoad:
    """One function's load as its gateway reports it, at `observed_at` (clock seconds)."""

    inflight: float | None = None
    replicas: int | None = None
    mean_latency_ms: float | None = None
    observed_at: float = 0.0


class LatencyWindow:
    """Recent (time, compute_ms, overhead_ms) samples of one variant.

    A low percentile of the compute times is the *intrinsic* service time: what the
    variant takes when its CPU is its own. Contention from neighbours on the node only
    ever lengthens a compute time, and the node model counts that contention separately,
    so taking the median here would count it twice. The *minimum* overhead is the round-trip estimate, for the same reason (TCP's min-RTT
    filter).
    """

    __slots__ = ("samples", "max_age_s", "service_ms", "rtt_ms", "last_at", "_computes", "_overheads")

    def __init__(self, size: int, max_age_s: float):
        self.samples: deque[tuple[float, float, float]] = deque(maxlen=size)
        self.max_age_s = max_age_s
        self.service_ms: float | None = None
        self.rtt_ms: float | None = None
        self.last_at = float("-inf")
        # The window's compute times and overheads kept sorted as samples come and go
        # (every answer records one: re-sorting the window each time was a tenth of the
        # selector's own work per request).
        self._computes: list[float] = []
        self._overheads: list[float] = []

    def record(self, now: float, compute_ms: float, overhead_ms: float) -> None:
        if len(self.samples) == self.samples.maxlen:
            self._forget(self.samples.popleft())
        self.samples.append((now, compute_ms, overhead_ms))
        bisect.insort(self._computes, compute_ms)
        bisect.insort(self._overheads, overhead_ms)
        while self.samples and now - self.samples[0][0] > self.max_age_s:
            self._forget(self.samples.popleft())
        self.service_ms = self._computes[int(len(self._computes) * INTRINSIC_QUANTILE)]
        self.rtt_ms = self._overheads[0]
        self.last_at = now

    def _forget(self, sample: tuple[float, float, float]) -> None:
        _, compute_ms, overhead_ms = sample
        del self._computes[bisect.bisect_left(self._computes, compute_ms)]
        del self._overheads[bisect.bisect_left(self._overheads, overhead_ms)]

    def fresh(self, now: float) -> bool:
        return now - self.last_at <= self.max_age_s


@dataclass(frozen=True, slots=True)
class Placed:
    """Where one dispatched request runs and the work it puts there."""

    node: str
    weight: float      # the variant's CPU request, millicores (faasml/cpu.py)
    work_ms: float


@dataclass
class LoadConfig:
    window_size: int = 64            # samples kept per variant
    observed_max_age_s: float = 30.0  # older observations fall back to the profile
    gateway_max_age_s: float = 5.0    # older gateway metrics are ignored
    cooldown_s: float = 2.0           # a variant that failed is skipped this long


def _newer(log: dict[str, int], stamp: int) -> list[str]:
    """The keys of a change log (key -> stamp, oldest first) changed after `stamp`."""
    keys = []
    for key, at in reversed(log.items()):
        if at <= stamp:
            break
        keys.append(key)
    return keys


class LoadTracker:
    """Thread-safe per-variant load state; every method is O(1) in the number of variants."""

    def __init__(self, config: LoadConfig | None = None, clock: Clock = time.monotonic,
                 on_release: Callable[[], None] | None = None):
        self.config = config or LoadConfig()
        self.clock = clock
        self.on_release = on_release   # told after every release: room may have appeared
        self._inflight: dict[str, int] = {}
        self._windows: dict[str, LatencyWindow] = {}
        self._gateway: dict[str, GatewayLoad] = {}
        self._down_until: dict[str, float] = {}
        # Node accounting: where each variant runs and what one of its requests costs
        # there (last seen at dispatch), the work each in-flight request added to its
        # node (released in dispatch order), and the total per node and CPU weight.
        self._placement: dict[str, Placed] = {}
        self._inflight_work: dict[str, deque[Placed]] = {}
        self._node_work: dict[str, dict[float, float]] = {}   # node -> weight -> work
        self._deferred: list[tuple[float, str]] = []   # (due, key): abandoned, still running
        # Change counters, per variant and per node: a prediction computed at one pair of
        # versions stays right until either moves (or a signal ages out), so a decision
        # recomputes only the variants whose load changed since the last one.
        self._versions: dict[str, int] = {}
        self._node_versions: dict[str, int] = {}
        # The same changes as a log, for a decider that keeps a table of predictions: a
        # stamp that moves at every change, and each key's (node's) latest stamp, oldest
        # first (a change moves the key to the end), so "what changed since stamp S" reads
        # only the changed keys from the end instead of every variant's counter.
        self._stamp = 0
        self._changed: dict[str, int] = {}
        self._changed_nodes: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- own in-flight -------------------------------------------------------------
    def acquire(self, key: str, node: str | None = None, work_ms: float | None = None,
                weight: float = FULL_CPU_MILLIS) -> None:
        """Count a request dispatched to `key`; with `node` and `work_ms` (the decider
        knows both) its intrinsic work also counts against that node, at the variant's
        CPU weight, until release. A retry that names only the key reuses the variant's
        last known placement."""
        with self._lock:
            self._inflight[key] = self._inflight.get(key, 0) + 1
            self._bump(key)
            if node is not None and work_ms is not None:
                self._placement[key] = Placed(node, weight, work_ms)
            placed = self._placement.get(key)
            if placed is not None:
                self._inflight_work.setdefault(key, deque()).append(placed)
                self._add_work(placed, placed.work_ms)

    def release(self, key: str, busy_for_ms: float = 0.0) -> None:
        """Count a request to `key` as done. `busy_for_ms` > 0: the caller gave up (a
        timeout) but the executor is still working on it, so its work stays on the node
        that long; released at once, the next requests would be sent into a queue the
        selector no longer sees, time out in turn, and cascade."""
        if busy_for_ms > 0:
            with self._lock:
                heapq.heappush(self._deferred, (self.clock() + busy_for_ms / 1000.0, key))
            return
        self._release_now(key)

    def _release_due(self) -> None:
        now = self.clock()
        while self._deferred and self._deferred[0][0] <= now:
            with self._lock:
                if not self._deferred or self._deferred[0][0] > now:
                    return
                _, key = heapq.heappop(self._deferred)
            self._release_now(key)

    def _release_now(self, key: str) -> None:
        with self._lock:
            self._inflight[key] = max(0, self._inflight.get(key, 0) - 1)
            self._bump(key)
            pending = self._inflight_work.get(key)
            if pending:
                placed = pending.popleft()
                self._add_work(placed, -placed.work_ms)
        if self.on_release is not None:
            self.on_release()

    def own_inflight(self, key: str) -> int:
        if self._deferred:
            self._release_due()
        return self._inflight.get(key, 0)

    def _bump(self, key: str) -> None:
        """Record a change of `key`'s signals (under the lock)."""
        self._versions[key] = self._versions.get(key, 0) + 1
        self._stamp += 1
        self._changed.pop(key, None)
        self._changed[key] = self._stamp

    def _add_work(self, placed: "Placed", work_ms: float) -> None:
        self._node_versions[placed.node] = self._node_versions.get(placed.node, 0) + 1
        self._stamp += 1
        self._changed_nodes.pop(placed.node, None)
        self._changed_nodes[placed.node] = self._stamp
        by_weight = self._node_work.setdefault(placed.node, {})
        by_weight[placed.weight] = max(0.0, by_weight.get(placed.weight, 0.0) + work_ms)

    def node_work_ms(self, node: str, weight: float = FULL_CPU_MILLIS) -> float:
        """Intrinsic milliseconds of work this selector has in flight on `node`, as it
        delays a request of CPU weight `weight`: work of an equal or heavier weight in
        full, lighter work by the share the kernel gives it (weight ratio)."""
        if self._deferred:
            self._release_due()
        total = 0.0
        # A copy taken in one step (no Python code runs inside it): an acquire on another
        # thread may add a weight meanwhile.
        for other, work in tuple(self._node_work.get(node, {}).items()):
            total += work if other >= weight else work * other / weight
        return total

    # -- observations --------------------------------------------------------------
    def observe(self, key: str, wall_ms: float, compute_ms: float | None) -> None:
        """Record a completed call; without a compute time the whole wall time is service."""
        compute = wall_ms if compute_ms is None else min(compute_ms, wall_ms)
        window = self._windows.get(key)
        if window is None:
            window = self._windows.setdefault(
                key, LatencyWindow(self.config.window_size, self.config.observed_max_age_s))
        with self._lock:
            window.record(self.clock(), compute, max(0.0, wall_ms - compute))
            self._bump(key)

    def signals(self, key: str, now: float) -> tuple[float | None, int, float | None, int, GatewayLoad | None]:
        """(service_ms, its sample count, rtt_ms, own in-flight, gateway load) in one call:
        this runs once per candidate per decision, the hot loop. Service and round trip
        are None when never observed; once observations age out, the last estimates stay
        with a sample count of -1 (intrinsic times hold contention out, so they age well,
        and they are the best figure this machine gave: a profile may come from another)."""
        if self._deferred:
            self._release_due()
        window = self._windows.get(key)
        service = rtt = None
        samples = 0
        if window is not None:
            service, rtt = window.service_ms, window.rtt_ms
            samples = len(window.samples) if now - window.last_at <= window.max_age_s else -1
        gateway = self._gateway.get(key)
        if gateway is not None and now - gateway.observed_at > self.config.gateway_max_age_s:
            gateway = None
        return service, samples, rtt, self._inflight.get(key, 0), gateway

    # -- gateway metrics -----------------------------------------------------------
    def update_gateway(self, loads: Iterable[tuple[str, GatewayLoad]]) -> None:
        """Replace gateway snapshots (keyed by variant key)."""
        with self._lock:
            for key, load in loads:
                self._gateway[key] = load
                self._bump(key)

    def versions(self, key: str, node: str | None) -> tuple[int, int]:
        """(the variant's, its node's) change counters; releases that fell due count first."""
        if self._deferred:
            self._release_due()
        return self._versions.get(key, 0), self._node_versions.get(node, 0) if node is not None else 0

    def version_tables(self) -> tuple[dict[str, int], dict[str, int]]:
        """The change counters themselves (variant, node), for a loop over every variant;
        releases that fell due count first. Read-only for the caller."""
        if self._deferred:
            self._release_due()
        return self._versions, self._node_versions

    def changes_since(self, stamp: int) -> tuple[int, list[str], list[str]]:
        """(the stamp now, the keys changed after `stamp`, the nodes whose work changed
        after it); O(changes), not O(variants). Releases that fell due count first."""
        if self._deferred:
            self._release_due()
        if stamp == self._stamp:
            return stamp, [], []   # nothing since (one int read; it only ever grows)
        with self._lock:
            return self._stamp, _newer(self._changed, stamp), _newer(self._changed_nodes, stamp)

    def valid_until(self, key: str, now: float) -> float:
        """When the variant's signals, as `signals` reads them at `now`, age out on their own:
        the observation window going stale, or the gateway's figures. A stale signal stays
        stale until new data comes (which moves the version)."""
        until = float("inf")
        window = self._windows.get(key)
        if window is not None and now - window.last_at <= window.max_age_s:
            until = window.last_at + window.max_age_s
        gateway = self._gateway.get(key)
        if gateway is not None and now - gateway.observed_at <= self.config.gateway_max_age_s:
            until = min(until, gateway.observed_at + self.config.gateway_max_age_s)
        return until

    def gateway(self, key: str, now: float) -> GatewayLoad | None:
        load = self._gateway.get(key)
        if load is None or now - load.observed_at > self.config.gateway_max_age_s:
            return None
        return load

    # -- health --------------------------------------------------------------------
    def mark_down(self, key: str, until_up: bool = False) -> None:
        """Skip `key` for the cool-down, or (`until_up`) until mark_up: a stalled variant
        stays out until it answers again. A longer mark is never shortened."""
        until = float("inf") if until_up else self.clock() + self.config.cooldown_s
        self._down_until[key] = max(until, self._down_until.get(key, float("-inf")))

    def mark_up(self, key: str) -> None:
        self._down_until.pop(key, None)

    def is_down(self, key: str, now: float) -> bool:
        return self._down_until.get(key, float("-inf")) > now

    def down_keys(self, now: float) -> frozenset[str]:
        """Variants cooling down now (usually none: one set per decision, not a lookup per
        candidate)."""
        if not self._down_until:
            return frozenset()
        return frozenset(k for k, until in list(self._down_until.items()) if until > now)
