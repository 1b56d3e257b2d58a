"""The gateway's Prometheus metrics, with OpenFaaS's names and labels.

`function_name` is `name.namespace` as in current gateways. Beyond CE's set there is an
in-flight gauge (CE approximates it as started minus finished) and the number of ready
replicas, both read by the selector straight from `/metrics` on one machine.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# prometheus.DefBuckets, which the gateway's `gateway_functions_seconds` uses.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class _Histogram:
    bucket_counts: list[int]
    count: int = 0
    total_seconds: float = 0.0


@dataclass
class _FunctionSeries:
    started: int = 0
    in_flight: int = 0
    replicas: int | None = None
    available_replicas: int | None = None
    totals: dict[str, int] = field(default_factory=dict)  # code -> invocations
    durations: dict[str, _Histogram] = field(default_factory=dict)  # code -> histogram


class GatewayMetrics:
    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS):
        self.buckets = buckets
        self._series: dict[str, _FunctionSeries] = {}

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
            histogram = series.durations[code] = _Histogram([0] * len(self.buckets))
        index = bisect.bisect_left(self.buckets, seconds)
        if index < len(self.buckets):
            histogram.bucket_counts[index] += 1
        histogram.count += 1
        histogram.total_seconds += seconds

    def set_replicas(self, function_name: str, replicas: int | None, available: int | None) -> None:
        """None removes the gauges (function deleted); counters stay, as in Prometheus."""
        series = self._of(function_name)
        series.replicas, series.available_replicas = replicas, available

    def invocation_count(self, function_name: str) -> int:
        series = self._series.get(function_name)
        return sum(series.totals.values()) if series else 0

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines: list[str] = []
        self._render_counter(lines, "gateway_function_invocation_started",
                             "The total number of function HTTP requests started.",
                             lambda s: [("", s.started)])
        self._render_counter(lines, "gateway_function_invocation_total",
                             "Function metrics", lambda s: [(c, n) for c, n in sorted(s.totals.items())])
        self._render_histogram(lines)
        self._render_gauge(lines, "gateway_service_count", "Current count of replicas for function",
                           lambda s: s.replicas)
        self._render_gauge(lines, "gateway_function_invocation_inflight",
                           "Function requests in flight through the gateway", lambda s: s.in_flight)
        self._render_gauge(lines, "faasml_service_available_replicas",
                           "Replicas ready to serve (readiness path answered 200)",
                           lambda s: s.available_replicas)
        return "\n".join(lines) + "\n"

    def _render_counter(self, lines, name, help_text, values) -> None:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for function_name, series in sorted(self._series.items()):
            for code, value in values(series):
                code_label = f',code="{code}"' if code else ""
                lines.append(f'{name}{{function_name="{function_name}"{code_label}}} {value}')

    def _render_gauge(self, lines, name, help_text, value_of) -> None:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for function_name, series in sorted(self._series.items()):
            value = value_of(series)
            if value is not None:
                lines.append(f'{name}{{function_name="{function_name}"}} {value}')

    def _render_histogram(self, lines) -> None:
        name = "gateway_functions_seconds"
        lines += [f"# HELP {name} Function time taken", f"# TYPE {name} histogram"]
        for function_name, series in sorted(self._series.items()):
            for code, histogram in sorted(series.durations.items()):
                labels = f'code="{code}",function_name="{function_name}"'
                cumulative = 0
                for bound, count in zip(self.buckets, histogram.bucket_counts):
                    cumulative += count
                    lines.append(f'{name}_bucket{{{labels},le="{bound:g}"}} {cumulative}')
                lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {histogram.count}')
                lines.append(f"{name}_sum{{{labels}}} {histogram.total_seconds!r}")
                lines.append(f"{name}_count{{{labels}}} {histogram.count}")
