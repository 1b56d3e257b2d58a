"""Metrics of one run (one policy on one trace), from its per-request records.

Definitions (each request r of class c, deadline D_c, trade-off w_c):
- in time: HTTP 200 and latency (from the scheduled arrival) <= D_c;
- correct in time: in time and the answer right (top-1 = label; text: a 384-d embedding);
- effective accuracy: mean over all requests of the answering variant's declared accuracy
  when in time, else 0 (the expected correct-in-time rate, by the platform's own figures);
- utility: in time ? w_c * accuracy + (1 - w_c) * (1 - latency / D_c) : 0. Both terms lie in
  [0, 1]: the accuracy the client got, and the share of its deadline left; a late or failed
  answer is worth nothing, whatever the weighting;
- goodput: correct-in-time answers per second of the trace.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

from faasml.stats import percentile
from faasml.evaluation.loadgen import CONN_ERROR, TIMEOUT, Record

STATUS_KEYS = ("200", "422", "429", "503", "504", "other", TIMEOUT, CONN_ERROR)


def utility(record: Record) -> float:
    if not record.in_time or record.accuracy is None:
        return 0.0
    speed = max(0.0, 1.0 - record.latency_ms / record.deadline_ms)
    return record.tradeoff * record.accuracy + (1.0 - record.tradeoff) * speed


def status_counts(records: Iterable[Record]) -> dict[str, int]:
    counts = dict.fromkeys(STATUS_KEYS, 0)
    for r in records:
        counts[r.outcome if r.outcome in counts else "other"] += 1
    return counts


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def prediction(answered: Sequence[Record]) -> dict:
    """How the selector's predictions held: the median and 90th percentile of actual /
    predicted latency over the answers that carry a prediction (X-Faasml-Predicted-Latency-Ms,
    from the gateway's stamp), actual counted from when the request was sent (the
    generator's own lateness is not the selector's to predict). 1 is a perfect prediction."""
    ratios = sorted((r.latency_ms - r.lateness_ms) / r.predicted_ms for r in answered
                    if r.predicted_ms is not None and r.predicted_ms > 0)
    if not ratios:
        return {"answered": 0, "actual_over_predicted_p50": None, "actual_over_predicted_p90": None}
    return {"answered": len(ratios), "actual_over_predicted_p50": _round(percentile(ratios, 50), 3),
            "actual_over_predicted_p90": _round(percentile(ratios, 90), 3)}


def _latency(values: Sequence[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99)}


def _round(value: float, digits: int = 4) -> float:
    return value if value is None or math.isnan(value) else round(value, digits)


def summarise(records: Sequence[Record], duration_s: float, classes: Sequence[str],
              variant_nodes: dict[str, str], node_cpus: dict[str, int],
              service_ms: dict[str, float] | None = None,
              cpu_samples: Sequence[tuple[float, dict[str, float]]] = ()) -> dict:
    """Every metric of one run. `variant_nodes` maps a variant to the node it runs on,
    `service_ms` to its idle CPU work per request (the work a node is asked to do)."""
    service_ms = service_ms or {}
    n = len(records)
    answered = [r for r in records if r.status == 200]
    in_time = [r for r in records if r.in_time]
    cit = [r for r in records if r.correct_in_time]
    per_class = {}
    for name in classes:
        mine = [r for r in records if r.cls == name]
        per_class[name] = {
            "requests": len(mine),
            "deadline_attainment": _round(_rate(sum(r.in_time for r in mine), len(mine))),
            "correct_in_time_rate": _round(_rate(sum(r.correct_in_time for r in mine), len(mine))),
            "effective_accuracy": _round(sum(r.accuracy or 0.0 for r in mine if r.in_time) / len(mine))
            if mine else math.nan,
            "mean_utility": _round(sum(map(utility, mine)) / len(mine)) if mine else math.nan,
            "latency_ms": {k: _round(v, 2) for k, v in
                           _latency([r.latency_ms for r in mine if r.status == 200]).items()},
            "status": status_counts(mine),
        }
    variants: dict[str, int] = {}
    for r in answered:
        variants[r.variant or "?"] = variants.get(r.variant or "?", 0) + 1
    nodes: dict[str, dict] = {}
    for node, cpus in sorted(node_cpus.items()):
        mine = [r for r in answered if variant_nodes.get(r.variant or "") == node]
        work_s = sum(service_ms.get(r.variant or "", 0.0) for r in mine) / 1000.0
        measured = [s.get(node, 0.0) for _, s in cpu_samples]
        nodes[node] = {
            "cpus": cpus,
            "answer_share": _round(_rate(len(mine), len(answered))),
            # idle service time of the answers it served, per second of the trace, per CPU:
            # the load the policy put on it relative to its capacity
            "work_utilisation": _round(work_s / (duration_s * cpus)) if duration_s > 0 else math.nan,
            # all its processes' CPU (selector included where it runs there), per CPU, from /proc
            "cpu_utilisation": _round(sum(measured) / len(measured) / cpus) if measured else None,
        }
    lateness = [r.lateness_ms for r in records]
    others = [s.get("others") for _, s in cpu_samples if s.get("others") is not None]
    steal = [s.get("steal") for _, s in cpu_samples if s.get("steal") is not None]
    return {
        "requests": n,
        "duration_s": round(duration_s, 3),
        "offered_rate_per_s": _round(n / duration_s if duration_s > 0 else math.nan, 3),
        "correct_in_time_rate": _round(_rate(len(cit), n)),
        "in_time_rate": _round(_rate(len(in_time), n)),
        "correct_rate": _round(_rate(sum(r.correct for r in records), n)),
        "effective_accuracy": _round(sum(r.accuracy or 0.0 for r in in_time) / n) if n else math.nan,
        "mean_utility": _round(sum(map(utility, records)) / n) if n else math.nan,
        "goodput_per_s": _round(len(cit) / duration_s if duration_s > 0 else math.nan, 3),
        "latency_ms": {k: _round(v, 2) for k, v in _latency([r.latency_ms for r in answered]).items()},
        "prediction": prediction(answered),
        "status": status_counts(records),
        "classes": per_class,
        "variant_share": {k: _round(v / len(answered)) for k, v in sorted(variants.items())},
        "nodes": nodes,
        "generator_lateness_ms": {"p50": _round(percentile(lateness, 50), 3),
                                  "p99": _round(percentile(lateness, 99), 3),
                                  "max": _round(max(lateness), 3) if lateness else math.nan},
        # CPU cores used on the machine by processes outside the run (a shared machine)
        "others_cpu_cores": _round(sum(others) / len(others), 3) if others else None,
        # CPU the hypervisor gave to other guests (a VM's steal time), in cores
        "steal_cpu_cores": _round(sum(steal) / len(steal), 3) if steal else None,
    }
