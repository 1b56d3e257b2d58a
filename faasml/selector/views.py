"""JSON views: the explain table of one decision, and the registry with live state.

Views read what they are handed (a decision; the registry snapshot with the load and the
predictor), never the service that calls them.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from faasml.selector.engine.core import Decision, Engine
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.variant import ANNOTATION_PREFIX, is_executor


def explain_view(task: str, selection: SelectionRequest, decision: Decision) -> dict[str, Any]:
    """Every candidate with accuracy, predicted latency and its parts, score, exclusion."""
    order = {c.key: i + 1 for i, c in enumerate(decision.ranked)}
    rows = []
    for candidate in sorted(decision.candidates, key=lambda c: order.get(c.key, 10**9)):
        row = candidate.as_dict()
        row["rank"] = order.get(candidate.key)
        rows.append(row)
    return {
        "task": task,
        "policy": decision.policy,
        "request": {"tradeoff": selection.tradeoff, "max_latency_ms": selection.max_latency_ms,
                    "min_accuracy": selection.min_accuracy, "variant": selection.variant},
        "chosen": decision.ranked[0].key if decision.ranked else None,
        "decision_us": round(decision.decision_s * 1e6, 1),
        "verdict": decision.error.to_dict()["error"] | {"status": decision.error.status}
        if decision.error else None,
        "candidates": rows,
    }


def variants_view(engine: Engine, now: float, setup: Mapping[str, Any]) -> dict[str, Any]:
    """Every variant with what it promises and its live state at `now`; `setup` describes
    the selector (policies, gateways, load sources, registry age, background tasks)."""
    snapshot, state = engine.snapshot, engine.state
    variants = []
    for variant in snapshot.variants:
        prediction = engine.prediction(variant.id, now)
        gateway_load = state.gateway(variant.id, now)
        variants.append({
            "variant": variant.id, "function": variant.name, "namespace": variant.namespace,
            "gateway": variant.gateway, "task": variant.task, "accuracy": variant.accuracy,
            "accuracy_source": variant.accuracy_source, "node_class": variant.node_class,
            "precision": variant.precision, "profile_latency_ms": variant.profile_latency_ms,
            "declared_rtt_ms": variant.rtt_ms, "replicas": variant.replicas,
            "available_replicas": variant.available_replicas,
            "live": prediction.as_dict() | {
                "selector_inflight": engine.inflight(variant.id, now),
                "gateway_inflight": gateway_load.inflight if gateway_load else None,
                "gateway_mean_latency_ms": gateway_load.mean_latency_ms if gateway_load else None,
                "cooling_down": state.is_down(variant.id, now)},
        })
    return {"tasks": snapshot.tasks, **setup, "problems": list(snapshot.problems), "variants": variants,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# -- reading the views back (a platform waiting until the selector sees what it runs) --
def ready_executors(functions: list[Mapping[str, Any]], task: str | None = None) -> set[str]:
    """The executors a gateway's `GET /system/functions` reports with a ready replica
    (of `task` only, when given)."""
    return {f["name"] for f in functions if is_executor(f) and f.get("availableReplicas", 0) >= 1
            and (task is None or (f.get("annotations") or {}).get(ANNOTATION_PREFIX + "task") == task)}


def listed_available(view: Mapping[str, Any]) -> set[str]:
    """The functions a `variants_view` (as JSON) lists with an available replica: the
    selector lists again only every so often, so this trails the gateway's report."""
    return {v["function"] for v in view.get("variants", []) if v.get("available_replicas", 0) >= 1}
