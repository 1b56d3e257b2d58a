"""Load signals per variant and per node, updated by events, each with a freshness bound.

Three sources, from most to least immediate:
  * the selector's own requests in flight, counted at dispatch and release: per variant,
    and as the work (intrinsic milliseconds) each puts on its *node*, because variants
    placed on one node share its CPUs and one variant's queue slows its neighbours;
  * observations of the selector's own completed calls: the executor's compute time
    (`X-Faasml-Compute-Ms`) and the rest of the wall time (network + gateway), kept in a
    recent window whose percentile is taken at record time (decisions read it in O(1));
  * the gateway's view (in flight, replicas, mean latency), sampled from its metrics,
    which also sees other clients' (and other selector replicas') traffic.
A signal older than its bound is ignored and the profile values stand in for it.

Every method takes the time it happens at (`now`, seconds on one monotonic clock): the
state reads no clock of its own, so the live shell and the simulator drive it alike.
What changed since the last look is collected (`take_changes`), so the predictions kept
by the decider are recomputed only for the variants and nodes that moved.
"""
from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable

from faasml.cpu import FULL_CPU_MILLIS
from faasml.selector.engine.settings import SignalSettings

# The quantile of recent compute times taken as the intrinsic service time: low enough
# to skip contended samples, high enough that one lucky cache-warm run does not define it.
INTRINSIC_QUANTILE = 0.2
WINDOW_SIZE = 64   # observations kept per variant
# Calibration: actual/predicted ratios kept per node, how many before they count, and the
# range the factor is held to (a burst of outliers must not swing every prediction).
CALIBRATION_SIZE = 64
CALIBRATION_MIN = 8
CALIBRATION_RANGE = (0.5, 8.0)


@dataclass(frozen=True, slots=True)
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
    so taking the median here would count it twice. The *minimum* overhead is the
    round-trip estimate, for the same reason (TCP's min-RTT filter).
    """

    __slots__ = ("samples", "max_age_s", "service_ms", "rtt_ms", "last_at", "_computes", "_overheads")

    def __init__(self, size: int, max_age_s: float):
        self.samples: deque[tuple[float, float, float]] = deque(maxlen=size)
        self.max_age_s = max_age_s
        self.service_ms: float | None = None
        self.rtt_ms: float | None = None
        self.last_at = float("-inf")
        # The window's values kept sorted as samples come and go (every answer records
        # one: re-sorting the window each time cost a tenth of the selector's own work).
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


class RatioWindow:
    """The last `size` ratios of actual to predicted latency on one node, as logs kept
    sorted: their median is the node's calibration (how much longer answers take there
    than the model predicts: contention it cannot see, overheads it leaves out)."""

    __slots__ = ("logs", "_sorted")

    def __init__(self, size: int):
        self.logs: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []

    def record(self, log_ratio: float) -> None:
        if len(self.logs) == self.logs.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self.logs.popleft())]
        self.logs.append(log_ratio)
        bisect.insort(self._sorted, log_ratio)

    def median_log(self) -> float:
        ordered = self._sorted
        return ordered[len(ordered) // 2]


@dataclass(slots=True)
class Ticket:
    """One request dispatched to a variant, and the work it put on the variant's node:
    what `release` gives back (a retry's ticket is its own)."""

    key: str
    node: str | None
    weight: float      # the variant's CPU request, millicores (faasml/cpu.py)
    work_ms: float
    released: bool = False


class LoadState:
    """Per-variant and per-node load; every event is O(1) in the number of variants."""

    def __init__(self, settings: SignalSettings):
        self.settings = settings
        self._inflight: dict[str, int] = {}
        self._windows: dict[str, LatencyWindow] = {}
        self._gateway: dict[str, GatewayLoad] = {}
        self._down_until: dict[str, float] = {}
        self._node_work: dict[str, dict[float, float]] = {}   # node -> CPU weight -> work in flight
        self._calibration: dict[str | None, RatioWindow] = {}  # node (None: unplaced) -> ratios
        self._factor: dict[str | None, float] = {}
        # Abandoned on a timeout, a call still runs in its executor: its work stays on
        # the node until it must have finished (due, sequence, ticket).
        self._deferred: list[tuple[float, int, Ticket]] = []
        self._deferred_seq = 0
        self.releases = 0        # counts releases (the hold queue wakes waiters on them)
        # What moved since the decider last looked (take_changes).
        self._changed_keys: set[str] = set()
        self._changed_nodes: set[str] = set()
        self._changed_unplaced = False   # the calibration of variants without a node

    # -- in flight -----------------------------------------------------------------
    def acquire(self, key: str, node: str | None, weight: float, work_ms: float) -> Ticket:
        """Count a request dispatched to `key`; its intrinsic work also counts against
        `node`, at the variant's CPU weight, until released."""
        self._inflight[key] = self._inflight.get(key, 0) + 1
        self._changed_keys.add(key)
        ticket = Ticket(key, node, weight, work_ms)
        if node is not None:
            self._add_work(node, weight, work_ms)
        return ticket

    def release(self, ticket: Ticket, now: float, busy_for_ms: float = 0.0) -> None:
        """Count `ticket`'s request as done (a second release of one ticket does nothing).
        `busy_for_ms` > 0: the caller gave up (a timeout) but the executor is still on it,
        so its work stays on the node that long; released at once, the next requests
        would be sent into a queue the selector no longer sees, time out in turn, and
        cascade."""
        if ticket.released:
            return
        if busy_for_ms > 0:
            ticket.released = True   # by the deferred entry, not by a second call
            self._deferred_seq += 1
            heapq.heappush(self._deferred, (now + busy_for_ms / 1000.0, self._deferred_seq, ticket))
            return
        self._release_now(ticket)

    def settle(self, now: float) -> None:
        """Release the abandoned calls whose executors must have finished by `now`."""
        while self._deferred and self._deferred[0][0] <= now:
            _, _, ticket = heapq.heappop(self._deferred)
            self._release_now(ticket)

    def _release_now(self, ticket: Ticket) -> None:
        ticket.released = True
        self._inflight[ticket.key] = max(0, self._inflight.get(ticket.key, 0) - 1)
        self._changed_keys.add(ticket.key)
        if ticket.node is not None:
            self._add_work(ticket.node, ticket.weight, -ticket.work_ms)
        self.releases += 1

    def _add_work(self, node: str, weight: float, work_ms: float) -> None:
        by_weight = self._node_work.setdefault(node, {})
        by_weight[weight] = max(0.0, by_weight.get(weight, 0.0) + work_ms)
        self._changed_nodes.add(node)

    def inflight(self, key: str) -> int:
        return self._inflight.get(key, 0)

    def node_work_ms(self, node: str, weight: float = FULL_CPU_MILLIS) -> float:
        """Intrinsic milliseconds of work this selector has in flight on `node`, as it
        delays a request of CPU weight `weight`: work of an equal or heavier weight in
        full, lighter work by the share the kernel gives it (weight ratio)."""
        total = 0.0
        for other, work in self._node_work.get(node, {}).items():
            total += work if other >= weight else work * other / weight
        return total

    # -- observations --------------------------------------------------------------
    def observe(self, key: str, now: float, wall_ms: float, compute_ms: float | None) -> None:
        """Record a completed call; without a compute time the whole wall time is service."""
        compute = wall_ms if compute_ms is None else min(compute_ms, wall_ms)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = LatencyWindow(WINDOW_SIZE, self.settings.observed_max_age_s)
        window.record(now, compute, max(0.0, wall_ms - compute))
        self._changed_keys.add(key)

    def calibrate(self, node: str | None, actual_ms: float, predicted_ms: float) -> None:
        """An answer on `node` took `actual_ms` where the model predicted `predicted_ms`
        (uncalibrated): the node's calibration factor follows the median ratio."""
        if actual_ms <= 0 or predicted_ms <= 0:
            return
        window = self._calibration.get(node)
        if window is None:
            window = self._calibration[node] = RatioWindow(CALIBRATION_SIZE)
        window.record(math.log(actual_ms / predicted_ms))
        if len(window.logs) < CALIBRATION_MIN:
            return
        low, high = CALIBRATION_RANGE
        factor = min(high, max(low, math.exp(window.median_log())))
        if factor != self._factor.get(node):
            self._factor[node] = factor
            if node is not None:
                self._changed_nodes.add(node)
            else:
                self._changed_unplaced = True

    def calibration(self, node: str | None) -> float:
        """How much longer than predicted answers on `node` take (1.0 until enough are seen)."""
        return self._factor.get(node, 1.0)

    def signals(self, key: str, now: float) -> tuple[float | None, int, float | None, int, GatewayLoad | None]:
        """(service_ms, its sample count, rtt_ms, own in flight, gateway load). Service and
        round trip are None when never observed; once observations age out, the last
        estimates stay with a sample count of -1 (intrinsic times hold contention out, so
        they age well, and they are the best figure this machine gave: a profile may come
        from another)."""
        window = self._windows.get(key)
        service = rtt = None
        samples = 0
        if window is not None:
            service, rtt = window.service_ms, window.rtt_ms
            samples = len(window.samples) if now - window.last_at <= window.max_age_s else -1
        gateway = self._gateway.get(key)
        if gateway is not None and now - gateway.observed_at > self.settings.gateway_max_age_s:
            gateway = None
        return service, samples, rtt, self._inflight.get(key, 0), gateway

    def valid_until(self, key: str, now: float) -> float:
        """When `key`'s signals, as `signals` reads them at `now`, age out on their own."""
        until = float("inf")
        window = self._windows.get(key)
        if window is not None and now - window.last_at <= window.max_age_s:
            until = window.last_at + window.max_age_s
        gateway = self._gateway.get(key)
        if gateway is not None and now - gateway.observed_at <= self.settings.gateway_max_age_s:
            until = min(until, gateway.observed_at + self.settings.gateway_max_age_s)
        return until

    # -- the gateway's view --------------------------------------------------------
    def update_gateway(self, loads: Iterable[tuple[str, GatewayLoad]]) -> None:
        """Replace gateway snapshots (keyed by variant key)."""
        for key, load in loads:
            self._gateway[key] = load
            self._changed_keys.add(key)

    def gateway(self, key: str, now: float) -> GatewayLoad | None:
        load = self._gateway.get(key)
        if load is None or now - load.observed_at > self.settings.gateway_max_age_s:
            return None
        return load

    # -- health --------------------------------------------------------------------
    def mark_down(self, key: str, now: float, until_up: bool = False) -> None:
        """Skip `key` for the cool-down, or (`until_up`) until mark_up: a stalled variant
        stays out until it answers again. A longer mark is never shortened."""
        until = float("inf") if until_up else now + self.settings.cooldown_s
        self._down_until[key] = max(until, self._down_until.get(key, float("-inf")))

    def mark_up(self, key: str) -> None:
        self._down_until.pop(key, None)

    def is_down(self, key: str, now: float) -> bool:
        return self._down_until.get(key, float("-inf")) > now

    def down_keys(self, now: float) -> frozenset[str]:
        """Variants cooling down now (usually none: one set per decision, not a lookup
        per candidate)."""
        if not self._down_until:
            return frozenset()
        return frozenset(k for k, until in self._down_until.items() if until > now)

    # -- what moved ----------------------------------------------------------------
    def take_changes(self) -> tuple[set[str], set[str], bool] | None:
        """(variant keys, nodes, whether unplaced variants' calibration moved) changed since
        the last call; None: nothing."""
        if not self._changed_keys and not self._changed_nodes and not self._changed_unplaced:
            return None
        changes = self._changed_keys, self._changed_nodes, self._changed_unplaced
        self._changed_keys, self._changed_nodes, self._changed_unplaced = set(), set(), False
        return changes
