"""The platform at a glance, from OpenFaaS FunctionStatus lists: each function with its
replicas per node and requests in flight, each node with what runs on it, and requests
per second from successive invocation counts. The dashboard's feed and `faasml status`
both read it, so the page and the terminal agree.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterable, Mapping

from faasml.contract import ROLE_LABEL as ROLE

TASK, ACCURACY, NODE_CLASS, PRECISION = ("faasml.io/task", "faasml.io/accuracy", "faasml.io/node-class",
                                         "faasml.io/precision")


def _number(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def summarize_function(status: Mapping[str, Any]) -> dict[str, Any]:
    labels = status.get("labels") or {}
    annotations = status.get("annotations") or {}
    local = status.get("faasml") or {}
    per_node: dict[str, dict[str, int]] = {}
    in_flight = 0
    for replica in local.get("replicaStates", []):
        node = per_node.setdefault(replica.get("node", "?"), {"replicas": 0, "ready": 0, "in_flight": 0})
        node["replicas"] += 1
        node["ready"] += replica.get("state") == "ready"
        node["in_flight"] += int(replica.get("inFlight") or 0)
        in_flight += int(replica.get("inFlight") or 0)
    return {
        "name": status.get("name"), "namespace": status.get("namespace"),
        "role": labels.get(ROLE, ""), "task": annotations.get(TASK),
        "accuracy": _number(annotations.get(ACCURACY)), "node_class": annotations.get(NODE_CLASS),
        "precision": annotations.get(PRECISION),
        "replicas": status.get("replicas", 0), "available_replicas": status.get("availableReplicas", 0),
        "invocations": status.get("invocationCount", 0), "in_flight": in_flight, "per_node": per_node,
        "unschedulable": local.get("unschedulable") or "",
    }


def summarize_nodes(statuses: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every node any function may run on, with its CPUs and the replicas placed there."""
    nodes: dict[str, dict[str, Any]] = {}
    for status in statuses:
        local = status.get("faasml") or {}
        for name in local.get("nodes", []):
            node = nodes.setdefault(name, {"name": name, "cpus": (local.get("cpus") or {}).get(name),
                                           "rtt_ms": (local.get("rttMs") or {}).get(name),
                                           "replicas": 0, "in_flight": 0, "functions": []})
        for replica in local.get("replicaStates", []):
            node = nodes.setdefault(replica.get("node", "?"), {"name": replica.get("node", "?"), "cpus": None,
                                                               "rtt_ms": None, "replicas": 0, "in_flight": 0,
                                                               "functions": []})
            node["replicas"] += 1
            node["in_flight"] += int(replica.get("inFlight") or 0)
            if status.get("name") not in node["functions"]:
                node["functions"].append(status.get("name"))
    return sorted(nodes.values(), key=lambda n: n["name"])


class RateTracker:
    """Requests per second per function over the last `window_s`, from invocation counts
    sampled whenever someone looks (each dashboard poll, each `status --watch` round)."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._lock = threading.Lock()

    def observe(self, now: float, counts: Mapping[str, int]) -> dict[str, float | None]:
        """Add a sample; the rate of each function since the oldest sample in the window
        (None until two samples are at least 0.2 s apart)."""
        with self._lock:
            self._samples.append((now, dict(counts)))
            while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
                self._samples.popleft()
            then, old = self._samples[0]
        elapsed = now - then
        if elapsed < 0.2:
            return {name: None for name in counts}
        return {name: max(0.0, (count - old.get(name, 0)) / elapsed) for name, count in counts.items()}
