"""The selector's own metrics, served at `GET /function/selector/metrics` in Prometheus
text format: decisions per task/variant/policy, retries, infeasible and shed requests,
and the decision-time histogram. Plain dicts on the event loop: a handful of increments per
request, no dependency.
"""
from __future__ import annotations

from collections import defaultdict

from faasml.prometheus import Histogram, family, histogram_family, render

# Decision time buckets (seconds): the goal is well under 200 µs.
DECISION_BUCKETS_S = (25e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 25e-3)

DECISIONS = "faasml_selector_decisions_total"
RETRIES = "faasml_selector_retries_total"
INFEASIBLE = "faasml_selector_infeasible_total"
SHED = "faasml_selector_shed_total"
FAILED = "faasml_selector_failed_total"
HELD = "faasml_selector_held_total"
DECISION_SECONDS = "faasml_selector_decision_seconds"

COUNTERS = {
    DECISIONS: "requests forwarded, by task, chosen variant and policy",
    RETRIES: "fallbacks to the next variant, by task, the variant that failed and why",
    INFEASIBLE: "requests no variant could meet (422), by task and limit",
    SHED: "requests refused because every candidate was saturated (429), by task",
    FAILED: "requests no variant answered (503/504), by task and code",
    HELD: "requests held in the selector for room, by task and how the hold ended (admitted|shed)",
}

Labels = tuple[tuple[str, str], ...]


class SelectorMetrics:
    def __init__(self) -> None:
        self._counters: dict[str, dict[Labels, float]] = {name: defaultdict(float) for name in COUNTERS}
        self._decisions = Histogram(DECISION_BUCKETS_S)

    def count(self, name: str, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self._counters[name][key] += 1

    def observe_decision(self, seconds: float) -> None:
        self._decisions.observe(seconds)

    def value(self, name: str, **labels: str) -> float:
        return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        families = [family(name, "counter", help_text, sorted(self._counters[name].items()))
                    for name, help_text in COUNTERS.items()]
        families.append(histogram_family(DECISION_SECONDS,
                                         "time to rank the candidates of one request",
                                         [((), self._decisions)]))
        return render(families)
