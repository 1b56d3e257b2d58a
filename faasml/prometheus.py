"""Writing the Prometheus text exposition format (0.0.4), what a `/metrics` path serves:
the selector's own metrics and the local runtime's gateway metrics both render here.
(Reading it, for the selector's load signal and `faasml up`'s direct-call counts, is
faasml/promtext.py.)

A family is its `# HELP` and `# TYPE` lines and its samples; label pairs keep the order
they are given in. A `Histogram` counts observations into fixed buckets.
"""
from __future__ import annotations

import bisect
from typing import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Sequence[tuple[str, str]]


# prometheus.DefBuckets (seconds): the OpenFaaS gateway's `gateway_functions_seconds` uses
# them, and so do the series merged into it (the selector's direct calls).
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, bounds: Sequence[float]):
        self.bounds = tuple(bounds)                    # upper bounds, ascending, without +Inf
        self.counts = [0] * (len(self.bounds) + 1)     # per bucket, the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}" if labels else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def family(name: str, kind: str, help_text: str, samples: Iterable[tuple[Labels, float]]) -> list[str]:
    """A counter or gauge family: `samples` are (labels, value)."""
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}",
            *(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)]


def histogram_family(name: str, help_text: str, series: Iterable[tuple[Labels, Histogram]]) -> list[str]:
    """A histogram family: per label set, cumulative `_bucket`s, then `_sum` and `_count`."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for labels, histogram in series:
        cumulative = 0
        for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {cumulative}")
        lines.append(f"{name}_sum{_labels(labels)} {histogram.total!r}")
        lines.append(f"{name}_count{_labels(labels)} {cumulative}")
    return lines


def render(families: Iterable[list[str]]) -> str:
    return "".join(line + "\n" for lines in families for line in lines)
