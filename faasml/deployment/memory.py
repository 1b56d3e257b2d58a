"""Memory per function replica, measured through `faasml up` under a little load.

stack.yml's `requests.memory` / `limits.memory` come from these figures. Each replica is
one process here (the template's `index.py`); in a container of-watchdog runs beside it,
so its own resident size (`--watchdog-mib`) is added when sizing. Peak resident memory
(the kernel's VmHWM) is what a limit must hold, including the model load; the resident
size after the load (VmRSS) is what the replica keeps.
"""
from __future__ import annotations

import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import requests

from faasml.client.protocol import default_api_key
from faasml.contract import ROLE_LABEL, ROLE_SELECTOR
from faasml.launch import DEFAULT_STACK, LocalPlatform

MIB = 1024 * 1024


@dataclass(frozen=True)
class ReplicaMemory:
    function: str
    rss_mib: float      # resident after the load
    peak_mib: float     # highest resident since the process started
    requests_sent: int
    failures: int


def proc_memory_mib(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a process in MiB, None when it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
    except OSError:
        return None
    kib = lambda key: float(fields.get(key, "0 kB").split()[0])  # noqa: E731
    return kib("VmRSS") / 1024.0, kib("VmHWM") / 1024.0


def sized(peak_mib: float, watchdog_mib: float, headroom: float, step_mib: int = 16) -> int:
    """Whole MiB for a request or limit: (peak + watchdog) x headroom, rounded up to `step_mib`."""
    return int(math.ceil((peak_mib + watchdog_mib) * headroom / step_mib) * step_mib)


def _load(url: str, body: bytes, content_type: str, count: int, concurrency: int) -> int:
    """Send `count` requests, `concurrency` at a time; return how many failed."""
    failures, lock = [0], threading.Lock()
    remaining = iter(range(count))

    def worker() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                try:
                    ok = session.post(url, data=body, headers={"Content-Type": content_type},
                                      timeout=60).status_code == 200
                except requests.RequestException:
                    ok = False
                if not ok:
                    with lock:
                        failures[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures[0]


def measure(stack: Path = DEFAULT_STACK, nodes: Path | None = None, count: int = 40,
            concurrency: int = 2, start_timeout_s: float = 300.0) -> list[ReplicaMemory]:
    """Start the stack, load every ready function (executors directly, the selector through
    itself with both tasks), and read each replica's memory."""
    from faasml.profiling.measure import sample_input

    rows: list[ReplicaMemory] = []
    with tempfile.TemporaryDirectory(prefix="faasml-memory-") as state, \
            LocalPlatform(Path(state), stack=stack, nodes=nodes, start_timeout_s=start_timeout_s,
                          selector_key=default_api_key()) as platform:
        platform.wait_ready("image-classification")
        functions = {f["name"]: f for f in platform.functions() if f.get("availableReplicas", 0) > 0}
        sent: dict[str, tuple[int, int]] = {}
        for name, function in sorted(functions.items()):
            role = function.get("labels", {}).get(ROLE_LABEL)
            tasks = (["image-classification", "sentence-embedding"] if role == ROLE_SELECTOR
                     else [function.get("annotations", {}).get("faasml.io/task", "")])
            total = failed = 0
            for task in tasks:
                sample = sample_input(task)
                if sample is None:
                    continue
                query = f"?task={task}" if role == ROLE_SELECTOR else ""
                failed += _load(f"{platform.url}/function/{name}{query}", *sample, count, concurrency)
                total += count
            sent[name] = (total, failed)
        for replica in platform.topology().replicas:
            if replica.function not in sent:
                continue
            memory = proc_memory_mib(replica.pid)
            if memory is not None:
                rows.append(ReplicaMemory(replica.function, round(memory[0], 1), round(memory[1], 1),
                                          *sent[replica.function]))
    return sorted(rows, key=lambda r: r.function)


def markdown_table(rows: list[ReplicaMemory], watchdog_mib: float, request_headroom: float,
                   limit_headroom: float) -> str:
    lines = ["| function | RSS after load (MiB) | peak RSS (MiB) | requests (failed) | "
             "requests.memory | limits.memory |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.function} | {r.rss_mib:.1f} | {r.peak_mib:.1f} | {r.requests_sent} ({r.failures}) | "
                     f"{sized(r.peak_mib, watchdog_mib, request_headroom)}Mi | "
                     f"{sized(r.peak_mib, watchdog_mib, limit_headroom)}Mi |")
    return "\n".join(lines)


def watchdog_memory_mib(fwatchdog: str, requests_count: int = 200, timeout_s: float = 20.0) -> float | None:
    """Peak RSS of the stock of-watchdog (http mode) in front of a trivial upstream, after
    `requests_count` proxied requests; None when it does not serve them within `timeout_s`."""
    import os
    import subprocess
    import sys
    import time

    from faasml.runtime.replicas import free_port

    port, upstream = free_port(), free_port()
    env = dict(os.environ, mode="http", port=str(port), upstream_url=f"http://127.0.0.1:{upstream}",
               fprocess=f"{sys.executable} -m http.server {upstream} --bind 127.0.0.1")
    process = subprocess.Popen([fwatchdog], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        with requests.Session() as session:
            done = 0
            while done < requests_count and time.monotonic() < deadline:
                try:
                    done += session.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
                except requests.RequestException:
                    time.sleep(0.1)
        if done < requests_count:
            return None
        memory = proc_memory_mib(process.pid)
        return None if memory is None else round(memory[1], 1)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
