"""Queueing-aware latency prediction: what a request sent to a variant *now* would wait.

    predicted = rtt + max(variant path, node path)
    variant   = service + service * max(0, inflight + 1 - slots) / slots
    node      = (work in flight on the node + service) / cpus of the node

`service` is the variant's *intrinsic* service time (idle profile, or a low percentile
of its observed compute times): what it takes with a CPU to itself. The variant path is
its own queue: `slots` = available replicas x requests one replica runs at once, and a
request waits for the excess in flight to drain (an M/D/c-style fluid estimate, counting
in-service requests as whole). The node path is the contention the variant cannot see
on its own: variants placed on one node share its CPUs, so a request also waits, in
CPU-time, for the work every variant on that node has in flight (a work-conserving
node finishes all of it no later than that). An "idle" variant on a busy node is not
idle. Keeping the two apart is what lets "can this variant ever meet the limit" (422)
be judged on the intrinsic time and ranking and admission on the contended one.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Sequence

from faasml.selector.load import LoadTracker
from faasml.selector.variant import Variant


# Plain slotted dataclass, not frozen: one is built per candidate per decision, and
# frozen's __setattr__ detour costs microseconds that matter at 500 variants.
@dataclass(slots=True)
class Prediction:
    total_ms: float
    rtt_ms: float
    service_ms: float      # intrinsic: with a CPU to itself
    queue_ms: float        # waiting of any kind: its own queue or the node's other work
    inflight: int          # requests ahead of this one (own, or the gateway's if larger)
    slots: int             # replicas x per-replica concurrency
    service_source: str    # observed | profile
    rtt_source: str        # observed | annotation
    load_source: str       # selector | gateway
    node_work_ms: float = 0.0   # intrinsic work in flight on its node (all its variants)
    node_cpus: int = 1
    floor_ms: float = 0.0       # best idle latency on record: rtt + min(service, profile)
    # The logs of idle and predicted latency the tradeoff policy scores on, taken once
    # per prediction (which decisions reuse while the variant's load stands still).
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
    def utilization(self) -> float:
        return self.inflight / self.slots

    def as_dict(self) -> dict[str, float | int | str]:
        return {"predicted_latency_ms": round(self.total_ms, 3), "rtt_ms": round(self.rtt_ms, 3),
                "service_ms": round(self.service_ms, 3), "queue_ms": round(self.queue_ms, 3),
                "inflight": self.inflight, "slots": self.slots,
                "node_work_ms": round(self.node_work_ms, 3), "node_cpus": self.node_cpus,
                "service_source": self.service_source, "rtt_source": self.rtt_source,
                "load_source": self.load_source}


# How many observations the profile is worth while observations are few.
PROFILE_PRIOR_SAMPLES = 3


class LatencyPredictor:
    def __init__(self, load: LoadTracker, replica_concurrency: int = 1):
        self.load = load
        # How many requests one replica serves at once without slowing each (1 for a
        # CPU executor whose ONNX Runtime session already uses all its cores).
        self.replica_concurrency = max(1, replica_concurrency)
        # node -> variant -> observed intrinsic service / profile: how much slower (or
        # faster) this node runs than the machine the profiles came from.
        # Predictions also run outside the decision lock (the /variants view).
        self._speed: dict[str, dict[str, float]] = {}
        self._speed_lock = threading.Lock()
        self._speed_version = 0                       # moves when any ratio changes
        self._speed_cache: dict[str | None, tuple[int, float]] = {}   # node -> (version, speed)
        # variant id -> (variant, versions it was computed at, valid until, prediction):
        # a decision over 500 variants recomputes only those whose load moved.
        self._cache: dict[str, tuple[Variant, tuple[int, int, int], float, Prediction]] = {}

    def _node_speed(self, node: str | None) -> float:
        """How much slower than its profile a variant on `node` runs: the median ratio of
        its observed neighbours; with none, of every observed variant (the machine).
        Kept per node until a ratio changes: recomputed per unobserved variant, the
        medians made a decision quadratic in the number of variants."""
        cached = self._speed_cache.get(node)
        if cached is not None and cached[0] == self._speed_version:
            return cached[1]
        version = self._speed_version
        speed = self._median_speed(node)
        self._speed_cache[node] = (version, speed)
        return speed

    def _median_speed(self, node: str | None) -> float:
        with self._speed_lock:
            ratios = sorted(self._speed.get(node or "", {}).values())
            if not ratios:
                ratios = sorted(r for per_node in self._speed.values() for r in per_node.values())
        return ratios[len(ratios) // 2] if ratios else 1.0

    def predict(self, variant: Variant, now: float) -> Prediction:
        """The prediction for `variant` now; the one computed before while neither its
        load, its node's work nor (for a never-observed variant) the node speeds moved."""
        return self.predict_until(variant, now)[0]

    def predict_until(self, variant: Variant, now: float) -> tuple[Prediction, float]:
        """`predict`, with the clock time at which its signals age out on their own (a
        table of predictions recomputes the variant then even if nothing else moved)."""
        key = variant.id
        own, node = self.load.versions(key, variant.node)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is variant and now < cached[2]:
            versions = cached[1]
            if versions[0] == own and versions[1] == node and (
                    versions[2] < 0 or versions[2] == self._speed_version):
                return cached[3], cached[2]
        speed_version = self._speed_version
        prediction = self._compute(variant, now)
        # A prediction from measurements does not depend on the node speeds (-1).
        uses_speed = prediction.service_source == "profile"
        until = self.load.valid_until(key, now)
        self._cache[key] = (variant, (own, node, speed_version if uses_speed else -1), until, prediction)
        return prediction, until

    @property
    def speed_version(self) -> int:
        """Moves whenever a node-speed ratio changes: predictions from profiles may change."""
        return self._speed_version

    def predict_all(self, variants: Sequence[Variant], now: float) -> list[Prediction]:
        """`predict` for each variant, in order: the decision's hot loop, with the cache
        check inlined (a method call per unchanged variant was most of its cost)."""
        versions, node_versions = self.load.version_tables()
        cache, speed_version = self._cache, self._speed_version
        predictions = []
        for variant in variants:
            cached = cache.get(variant.key or variant.name)
            if cached is not None and cached[0] is variant and now < cached[2]:
                seen = cached[1]
                if (seen[0] == versions.get(variant.key or variant.name, 0)
                        and seen[1] == node_versions.get(variant.node, 0)
                        and (seen[2] < 0 or seen[2] == speed_version)):
                    predictions.append(cached[3])
                    continue
            predictions.append(self.predict(variant, now))
        return predictions

    def _compute(self, variant: Variant, now: float) -> Prediction:
        service, samples, rtt, inflight, gateway = self.load.signals(variant.id, now)
        service_source, rtt_source, load_source = "observed", "observed", "selector"
        profile = variant.profile_latency_ms
        if service is None:
            # Never observed: the profile, scaled by how this variant's node compares
            # with the machine the profiles were measured on (its observed neighbours).
            service, service_source = profile * self._node_speed(variant.node), "profile"
        else:
            if 0 <= samples < PROFILE_PRIOR_SAMPLES * 4:
                # Few observations: one large input must not redefine a variant, so the
                # profile counts as PROFILE_PRIOR_SAMPLES samples until the window fills.
                service = (samples * service + PROFILE_PRIOR_SAMPLES * profile) / (samples + PROFILE_PRIOR_SAMPLES)
            elif samples < 0:
                service_source = "last observed"
            if variant.node is not None and profile > 0:
                ratio = service / profile
                with self._speed_lock:
                    ratios = self._speed.setdefault(variant.node, {})
                    if ratios.get(variant.id) != ratio:
                        ratios[variant.id] = ratio
                        self._speed_version += 1
        if rtt is None:
            rtt, rtt_source = variant.rtt_ms, "annotation"
        replicas = variant.available_replicas
        if gateway is not None:
            # The gateway also sees other clients; our own count is newer, so take the larger.
            if gateway.inflight is not None and gateway.inflight > inflight:
                inflight, load_source = int(round(gateway.inflight)), "gateway"
            if gateway.replicas is not None:
                replicas = gateway.replicas
        slots = (replicas if replicas > 1 else 1) * self.replica_concurrency
        excess = inflight + 1 - slots
        queue = service * excess / slots if excess > 0 else 0.0
        node_work, cpus = 0.0, variant.node_cpus
        if variant.node is not None:
            node_work = self.load.node_work_ms(variant.node, variant.cpu_millis)
            # Everything on the node, this request included, shares `cpus` CPUs; one
            # request never runs faster than its own service time.
            queue = max(queue, (node_work + service) / cpus - service)
        # The best idle latency on record, for "can never meet" (422): observed round trips
        # and service times rise with contention, the declared ones and the profile do not.
        floor = min(rtt, variant.rtt_ms) + min(service, variant.profile_latency_ms)
        return Prediction(rtt + service + queue, rtt, service, queue, inflight, slots,
                          service_source, rtt_source, load_source, node_work, cpus, floor)
