"""`faasml bench batching`: dynamic micro-batching against running each request alone.

Per variant, three executor services over the same model, driven in the same process
(no HTTP: the server is not what is measured), in alternating rounds so all three see
the same machine noise:

  serial      one request at a time, as the stack runs executors (FAASML_SERVER_THREADS=1)
  concurrent  `clients` requests at a time, no batching: what more server threads alone give
  batched     `clients` requests at a time, micro-batched (FAASML_BATCH_MAX, _WAIT_MS)

Saturated goodput: `clients` threads send requests back to back for `seconds`; answered
requests per second. Low load: one request at a time (p50 latency), where batching can
only cost (a request never finds company). The process is pinned to `cpus` CPUs (one,
as each edge node of the reference stack has), so a win is batching's, not a second core's.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from faasml.bench.executor import SENTENCE, sample_photo
from faasml.stats import percentile
from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.http import Headers, Request, Response
from faasml.modelcard import TASK_IMAGE_CLASSIFICATION, card_path_for, load_card

DEFAULT_VARIANTS = ("efficientnet-lite0-int8", "minilm-l6-int8")
MODES = ("serial", "concurrent", "batched")


@dataclass
class BatchingBenchSettings:
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    max_batch: int = 8
    wait_ms: float = 0.0
    clients: int = 8
    seconds: float = 1.5          # per saturated round and mode
    rounds: int = 3
    low_load_requests: int = 60   # per mode
    cpus: int = 1
    threads: int = 1              # ONNX Runtime intra-op threads, as the stack runs them
    provider: str = "cpu"         # cuda: a GPU variant, where a batch costs little more than one


def _request(task: str) -> Request:
    if task == TASK_IMAGE_CLASSIFICATION:
        return Request("POST", "/", {}, Headers({"Content-Type": "image/jpeg"}), sample_photo())
    return Request("POST", "/", {}, Headers({"Content-Type": "text/plain"}), SENTENCE.encode())


def _services(card: Path, settings: BatchingBenchSettings) -> dict[str, Callable[[Request], Response]]:
    def service(batch_max: int) -> ExecutorService:
        loaded = ExecutorService(ExecutorConfig(model=str(card), intra_op_threads=settings.threads,
                                                provider=settings.provider, batch_max=batch_max,
                                                batch_wait_ms=settings.wait_ms))
        loaded.load()
        if loaded.variant is None:
            raise SystemExit(f"{card}: {loaded.load_error.message}")
        return loaded

    serial_lock = threading.Lock()  # one server thread: requests queue, first come first served
    serial = service(1)

    def serial_handle(request: Request) -> Response:
        with serial_lock:
            return serial.handle(request)

    return {"serial": serial_handle, "concurrent": service(1).handle,
            "batched": service(settings.max_batch).handle}


def _goodput(handle: Callable[[Request], Response], request: Request, clients: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * clients

    def client(index: int) -> None:
        while time.monotonic() < stop:
            if handle(request).status == 200:
                counts[index] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return sum(counts) / (time.perf_counter() - started)


def bench_variant(name: str, models: str, settings: BatchingBenchSettings) -> dict[str, Any]:
    card_path = card_path_for(models, name)
    request = _request(load_card(card_path).task)
    handles = _services(card_path, settings)
    for handle in handles.values():  # warm-up: arenas, kernels, every batch size once
        _goodput(handle, request, settings.clients, 0.2)
    goodput: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(settings.rounds):
        for mode in MODES:
            goodput[mode].append(_goodput(handles[mode], request, settings.clients, settings.seconds))
    latency: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(settings.low_load_requests):
        for mode in MODES:
            started = time.perf_counter()
            handles[mode](request)
            latency[mode].append((time.perf_counter() - started) * 1e3)
    row: dict[str, Any] = {"variant": name}
    for mode in MODES:
        row[mode] = {"goodput_rps": statistics.median(goodput[mode]), "goodput_rounds": goodput[mode],
                     "low_load_p50_ms": percentile(latency[mode], 50),
                     "low_load_p95_ms": percentile(latency[mode], 95)}
    row["goodput_x_serial"] = row["batched"]["goodput_rps"] / row["serial"]["goodput_rps"]
    row["goodput_x_concurrent"] = row["batched"]["goodput_rps"] / row["concurrent"]["goodput_rps"]
    row["low_load_added_p50_ms"] = row["batched"]["low_load_p50_ms"] - row["serial"]["low_load_p50_ms"]
    return row


def run(models: str, settings: BatchingBenchSettings) -> list[dict[str, Any]]:
    if settings.cpus and hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))[:settings.cpus]
        os.sched_setaffinity(0, allowed)  # threads started later inherit it
    print(f"micro-batching: max batch {settings.max_batch}, wait {settings.wait_ms:g} ms, "
          f"{settings.clients} clients, {settings.rounds} rounds x {settings.seconds:g} s, "
          f"{settings.cpus or 'all'} CPU(s), intra-op threads {settings.threads}, provider {settings.provider}")
    header = (f"{'variant':<24}{'serial r/s':>11}{'concur r/s':>11}{'batched r/s':>12}{'x serial':>9}"
              f"{'x concur':>9}{'low p50 serial':>15}{'batched':>9}{'added':>7}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in settings.variants:
        row = bench_variant(name, models, settings)
        rows.append(row)
        print(f"{name:<24}{row['serial']['goodput_rps']:>11.1f}{row['concurrent']['goodput_rps']:>11.1f}"
              f"{row['batched']['goodput_rps']:>12.1f}{row['goodput_x_serial']:>9.2f}"
              f"{row['goodput_x_concurrent']:>9.2f}{row['serial']['low_load_p50_ms']:>13.2f}ms"
              f"{row['batched']['low_load_p50_ms']:>7.2f}ms{row['low_load_added_p50_ms']:>+6.2f}", flush=True)
    return rows
