"""`faasml profile`: measure every variant through the gateway, on the node it runs on.

Per variant: latency percentiles at concurrency 1, the executor's compute time (its
`X-Faasml-Compute-Ms`: the median, and every sample sorted, `compute_ms_samples`, the
distribution `faasml bench simulate` draws service times from) and the rest (gateway +
network round trip), and the saturation
throughput (rising concurrency until requests/s stop growing). The figures go to the
profiles file the selector reads (see profiles.py), labelled with where they were taken.
"""
from __future__ import annotations

import os
import platform
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from faasml.profiling.gateway import ProfileGateway
from faasml.selector.engine.variant import Variant
from faasml.stats import percentile

SAMPLE_SENTENCE = "A small cat sleeps on the warm windowsill in the afternoon sun."


@dataclass
class ProfileSettings:
    requests: int = 50                       # sequential requests at concurrency 1
    warmup: int = 5
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    step_s: float = 2.0                      # seconds per concurrency level
    timeout_s: float = 30.0


def sample_input(task: str) -> tuple[bytes, str] | None:
    """A real input for the reference tasks: scikit-image's cat photo, or a sentence."""
    if task == "image-classification":
        import io

        import skimage.data
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(skimage.data.chelsea()).save(buffer, "JPEG", quality=90)
        return buffer.getvalue(), "image/jpeg"
    if task == "sentence-embedding":
        return SAMPLE_SENTENCE.encode(), "text/plain"
    return None


def _one_call(client: ProfileGateway, variant: Variant, body: bytes, content_type: str,
              timeout_s: float) -> tuple[float, float | None]:
    upstream = client.invoke(variant.name, variant.namespace, body, {"Content-Type": content_type}, timeout_s)
    if upstream.status != 200:
        raise RuntimeError(f"{variant.name} answered {upstream.status}: {upstream.body[:200]!r}")
    compute = upstream.headers.get("X-Faasml-Compute-Ms")
    return upstream.elapsed_ms, float(compute) if compute else None


def _throughput(call: Callable[[], Any], concurrency: int, seconds: float) -> float:
    done = [0] * concurrency
    stop_at = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        while time.perf_counter() < stop_at:
            call()
            done[slot] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def profile_variant(client: ProfileGateway, variant: Variant, body: bytes | list[bytes], content_type: str,
                    settings: ProfileSettings) -> dict[str, Any]:
    """`body`: one input, or several sent in turn (spread over the requests)."""
    bodies = body if isinstance(body, list) else [body]
    step = max(1, len(bodies) // max(1, settings.requests))
    turn = iter(range(1 << 62))
    call = lambda: _one_call(client, variant, bodies[(next(turn) * step) % len(bodies)], content_type,  # noqa: E731
                             settings.timeout_s)
    for _ in range(settings.warmup):
        call()
    walls, computes = [], []
    for _ in range(settings.requests):
        wall, compute = call()
        walls.append(wall)
        computes.append(compute if compute is not None else wall)
    overheads = [w - c for w, c in zip(walls, computes)]
    best_rps, best_concurrency = 0.0, 1
    for concurrency in settings.concurrency:
        rps = _throughput(call, concurrency, settings.step_s)
        if rps < best_rps * 1.05:  # no longer growing: saturated
            break
        best_rps, best_concurrency = max(best_rps, rps), concurrency
    return {"latency_ms": {q: round(percentile(walls, float(q[1:])), 3) for q in ("p50", "p95", "p99")},
            "compute_ms": round(statistics.median(computes), 3),
            # the empirical distribution, for the simulator (faasml/simulation/service.py)
            "compute_ms_samples": sorted(round(c, 3) for c in computes),
            "overhead_ms": round(statistics.median(overheads), 3),
            "saturation_rps": round(best_rps, 2), "saturation_concurrency": best_concurrency,
            "node_class": variant.node_class, "gateway": variant.gateway, "requests": settings.requests}


def where_measured() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{socket.gethostname()}: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
