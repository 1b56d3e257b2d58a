"""The gateway's Prometheus metrics, with OpenFaaS's names and labels.

`function_name` is `name.namespace` as in current gateways. Beyond CE's set there is an
in-flight gauge (CE approximates it as started minus finished) and the number of ready
replicas, both read by the selector straight from `/metrics` on one machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from faasml.contract import (GATEWAY_FINISHED, GATEWAY_INFLIGHT, GATEWAY_REPLICAS, GATEWAY_SECONDS,
                             GATEWAY_STARTED)
from faasml.prometheus import DEFAULT_BUCKETS, Histogram, Labels, family, histogram_family, render



@dataclass
class _FunctionSeries:
    started: int = 0
    in_flight: int = 0
    replicas: int | None = None
    available_replicas: int | None = None
    totals: dict[str, int] = field(default_factory=dict)  # code -> invocations
    durations: dict[str, Histogram] = field(default_factory=dict)  # code -> histogram


class GatewayMetrics:
    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS):
        self.buckets = buckets
        self._series: dict[str, _FunctionSeries] = {}
        # Other parts' families (the async queue, the autoscaler), rendered after these.
        self.collectors: list[Callable[[], list[list[str]]]] = []

    def _of(self, function_name: str) -> _FunctionSeries:
        series = self._series.get(function_name)
        if series is None:
            series = self._series[function_name] = _FunctionSeries()
        return series

    def started(self, function_name: str) -> None:
        series = self._of(function_name)
        series.started += 1
        series.in_flight += 1

    def finished(self, function_name: str, status: int, seconds: float) -> None:
        series = self._of(function_name)
        series.in_flight -= 1
        code = str(status)
        series.totals[code] = series.totals.get(code, 0) + 1
        histogram = series.durations.get(code)
        if histogram is None:
            histogram = series.durations[code] = Histogram(self.buckets)
        histogram.observe(seconds)

    def add_direct(self, function_name: str, started: int, in_flight: int,
                   finished: dict[str, tuple[dict[float, float], float]]) -> None:
        """Invocations that did not pass through here (the selector's direct calls,
        direct_calls.py): `finished` maps a code to the growth of its cumulative bucket
        counts (by upper bound, +Inf included) and of its seconds' sum."""
        series = self._of(function_name)
        series.started += started
        series.in_flight += in_flight
        for code, (cumulative, seconds) in finished.items():
            count = int(round(cumulative.get(float("inf"), 0.0)))
            if count <= 0:
                continue
            series.totals[code] = series.totals.get(code, 0) + count
            histogram = series.durations.get(code)
            if histogram is None:
                histogram = series.durations[code] = Histogram(self.buckets)
            bounds = sorted(cumulative)
            if tuple(b for b in bounds if b != float("inf")) == histogram.bounds:
                below = 0.0
                for index, bound in enumerate(bounds):
                    histogram.counts[index] += int(round(cumulative[bound] - below))
                    below = cumulative[bound]
                histogram.total += seconds
            else:  # other buckets: each call at the mean (sum and count stay exact)
                for _ in range(count):
                    histogram.observe(seconds / count)

    def set_replicas(self, function_name: str, replicas: int | None, available: int | None) -> None:
        """None removes the gauges (function deleted); counters stay, as in Prometheus."""
        series = self._of(function_name)
        series.replicas, series.available_replicas = replicas, available

    def load(self, function_name: str) -> tuple[int, int]:
        """(invocations started, in flight now): what the autoscaler reads."""
        series = self._series.get(function_name)
        return (series.started, series.in_flight) if series else (0, 0)

    def invocation_count(self, function_name: str) -> int:
        series = self._series.get(function_name)
        return sum(series.totals.values()) if series else 0

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        return render([
            family(GATEWAY_STARTED, "counter",
                   "The total number of function HTTP requests started.",
                   self._samples(lambda s: [((), s.started)])),
            family(GATEWAY_FINISHED, "counter", "Function metrics",
                   self._samples(lambda s: [((("code", c),), n) for c, n in sorted(s.totals.items())])),
            histogram_family(GATEWAY_SECONDS, "Function time taken",
                             [((("code", code), ("function_name", name)), histogram)
                              for name, series in sorted(self._series.items())
                              for code, histogram in sorted(series.durations.items())]),
            family(GATEWAY_REPLICAS, "gauge", "Current count of replicas for function",
                   self._gauge(lambda s: s.replicas)),
            family(GATEWAY_INFLIGHT, "gauge",
                   "Function requests in flight through the gateway", self._gauge(lambda s: s.in_flight)),
            family("faasml_service_available_replicas", "gauge",
                   "Replicas ready to serve (readiness path answered 200)",
                   self._gauge(lambda s: s.available_replicas)),
            *(f for collect in self.collectors for f in collect()),
        ])

    def _samples(self, values: Callable[[_FunctionSeries], Iterable[tuple[Labels, float]]]
                 ) -> list[tuple[Labels, float]]:
        """Each function's samples, its `function_name` label first."""
        return [((("function_name", name), *labels), value)
                for name, series in sorted(self._series.items()) for labels, value in values(series)]

    def _gauge(self, value_of: Callable[[_FunctionSeries], int | None]) -> list[tuple[Labels, float]]:
        return self._samples(lambda s: [] if value_of(s) is None else [((), value_of(s))])
