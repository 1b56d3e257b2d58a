"""CPU requests as Kubernetes reads them, and what they weigh under contention.

A function's `requests: cpu` (stack.yml, and `requests` in OpenFaaS's FunctionStatus) is
its share of a node's CPUs when the node is busy: Kubernetes turns it into the cgroup's
CPU weight, so a pod that requested 1000m gets ten times the CPU of one that requested
100m while both are runnable. `faasml up` gives each replica the same relative share
through its nice value (the kernel weighs each nice step by about 1.25x), and the
selector predicts with the same weights. No request counts as a whole CPU, so a stack
without requests keeps every function equal.
"""
from __future__ import annotations

import math
from typing import Mapping

FULL_CPU_MILLIS = 1000.0
NICE_STEP = 1.25      # the kernel's weight ratio between consecutive nice values
MAX_NICE = 19


def cpu_millis(requests: Mapping[str, str] | None) -> float:
    """`requests: {cpu: "250m" | "0.5" | "2"}` -> millicores; absent or unreadable: 1000."""
    raw = str((requests or {}).get("cpu", "")).strip()
    try:
        value = float(raw[:-1]) if raw.endswith("m") else float(raw) * 1000.0
    except ValueError:
        return FULL_CPU_MILLIS
    return value if value > 0 and math.isfinite(value) else FULL_CPU_MILLIS


def nice_for(millis: float) -> int:
    """The nice value whose kernel weight stands to nice 0 as `millis` to a full CPU."""
    if millis >= FULL_CPU_MILLIS:
        return 0
    return min(MAX_NICE, round(math.log(FULL_CPU_MILLIS / millis) / math.log(NICE_STEP)))
