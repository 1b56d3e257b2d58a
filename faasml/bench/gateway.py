"""`faasml bench gateway`: the gateway's overhead, side by side in one run.

One trivial function (`return "ok"`) runs as a single replica under `faasml up`; the same
replica is called directly on its port and through the gateway, so both sides share the
process, the machine and the moment. Latency: sequential keep-alive requests alternating
direct/gateway, p50/p99. Max throughput: `wrk` (or an asyncio load generator when wrk is
absent) with N connections, rounds alternating direct/gateway, best round per side.
"""
from __future__ import annotations

import asyncio
import http.client
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from faasml.launch import TEMPLATE, LocalPlatform
from faasml.stats import percentile

HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
FUNCTION = "bench-echo"
WRK_POST = 'wrk.method = "POST"\nwrk.body = "hello"\nwrk.headers["Content-Type"] = "text/plain"\n'
PAYLOAD = b"hello"
GOAL_ADDED_P50_MS = 1.0
GOAL_THROUGHPUT_RATIO = 0.70


@dataclass
class GatewayBenchSettings:
    requests: int = 3000
    duration_s: float = 5.0
    connections: int = 16
    rounds: int = 2


@dataclass
class SideFigures:
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    throughput_rps: list[float] = field(default_factory=list)
    # CPU microseconds per request under max load, of the gateway and of the replica.
    gateway_cpu_us: list[float] = field(default_factory=list)
    replica_cpu_us: list[float] = field(default_factory=list)

    @property
    def best_rps(self) -> float:
        return max(self.throughput_rps, default=0.0)


def _trivial_platform(folder: Path, checkout: Path) -> LocalPlatform:
    """`faasml up` with the trivial function in `folder`, run from `checkout` (where it
    finds the template)."""
    (folder / FUNCTION).mkdir()
    (folder / FUNCTION / "handler.py").write_text(HANDLER)
    return LocalPlatform.generated(folder, {FUNCTION: {"lang": TEMPLATE, "handler": f"./{FUNCTION}",
                                                       "image": f"faasml/{FUNCTION}:local"}}, cwd=checkout)


def measure_latency(direct: tuple[int, str], gateway: tuple[int, str], requests: int) -> tuple[list[float], list[float]]:
    """Sequential POSTs on one keep-alive connection per side, alternating sides."""
    connections = [http.client.HTTPConnection("127.0.0.1", port) for port, _ in (direct, gateway)]
    paths = [direct[1], gateway[1]]
    samples: list[list[float]] = [[], []]
    headers = {"Content-Type": "text/plain"}
    for i in range(requests * 2 + 200):
        side = i % 2
        started = time.perf_counter()
        connections[side].request("POST", paths[side], body=PAYLOAD, headers=headers)
        response = connections[side].getresponse()
        response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if response.status != 200:
            raise RuntimeError(f"benchmark request failed: {response.status}")
        if i >= 200:  # the first 100 per side warm up connections and caches
            samples[side].append(elapsed_ms)
    for connection in connections:
        connection.close()
    return samples[0], samples[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_throughput(url: str, settings: GatewayBenchSettings, folder: Path) -> float:
    wrk = shutil.which("wrk")
    if wrk:
        script = folder / "post.lua"
        script.write_text(WRK_POST)
        output = subprocess.run(
            # wrk takes whole seconds only.
            [wrk, "-t1", f"-c{settings.connections}", f"-d{max(1, round(settings.duration_s))}s",
             "-s", str(script), url],
            capture_output=True, text=True, timeout=settings.duration_s + 30).stdout
        match = re.search(r"Requests/sec:\s*([\d.]+)", output)
        errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
        if not match or errors:
            raise RuntimeError(f"wrk failed:\n{output}")
        return float(match.group(1))
    return asyncio.run(_asyncio_load(url, settings))


async def _asyncio_load(url: str, settings: GatewayBenchSettings) -> float:
    import aiohttp

    done = 0
    deadline = time.monotonic() + settings.duration_s

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with session.post(url, data=PAYLOAD, headers={"Content-Type": "text/plain"}) as response:
                await response.read()
                done += response.status == 200

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session) for _ in range(settings.connections)))
    return done / (time.monotonic() - started)


def run_gateway_bench(settings: GatewayBenchSettings, checkout: Path, json_out: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="faasml-bench-") as tmp, \
            _trivial_platform(Path(tmp), checkout) as runtime:
        runtime.wait_ready(timeout_s=30)
        replica = runtime.replica(FUNCTION)
        replica_port, replica_pid, gateway_pid = int(replica["port"]), int(replica["pid"]), runtime.gateway_pid
        direct_target, gateway_target = (replica_port, "/"), (runtime.port, f"/function/{FUNCTION}")
        direct, gateway = SideFigures(), SideFigures()
        direct_ms, gateway_ms = measure_latency(direct_target, gateway_target, settings.requests)
        for side, samples in ((direct, direct_ms), (gateway, gateway_ms)):
            side.p50_ms, side.p99_ms = statistics.median(samples), percentile(samples, 99)
        urls = ((direct, f"http://127.0.0.1:{replica_port}/"),
                (gateway, f"http://127.0.0.1:{runtime.port}/function/{FUNCTION}"))
        for _ in range(settings.rounds):
            for side, url in urls:
                before = cpu_seconds(gateway_pid), cpu_seconds(replica_pid)
                started = time.monotonic()
                rps = measure_throughput(url, settings, runtime.folder)
                served = rps * (time.monotonic() - started)
                side.throughput_rps.append(rps)
                side.gateway_cpu_us.append((cpu_seconds(gateway_pid) - before[0]) / served * 1e6)
                side.replica_cpu_us.append((cpu_seconds(replica_pid) - before[1]) / served * 1e6)
    report = _report(settings, direct, gateway)
    print(report["text"])
    if json_out is not None:
        json_out.write_text(json.dumps({k: v for k, v in report.items() if k != "text"}, indent=2))
    return 0


def _report(settings: GatewayBenchSettings, direct: SideFigures, gateway: SideFigures) -> dict:
    added_p50 = gateway.p50_ms - direct.p50_ms
    added_p99 = gateway.p99_ms - direct.p99_ms
    ratio = gateway.best_rps / direct.best_rps if direct.best_rps else 0.0
    tool = "wrk" if shutil.which("wrk") else "asyncio load generator (CPU-hungry: install wrk)"
    # Only to say which event loop `faasml up` ran (the same interpreter as this one).
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    rows = [
        f"gateway overhead ({loop} event loop): trivial function, {os.cpu_count()} CPUs, "
        f"{settings.requests} sequential "
        f"requests per side (alternating), throughput by {tool} with {settings.connections} "
        f"connections x {settings.duration_s:g}s x {settings.rounds} rounds (best round)",
        f"{'':10}{'p50 ms':>10}{'p99 ms':>10}{'max req/s':>12}   rounds req/s",
        f"{'direct':10}{direct.p50_ms:10.3f}{direct.p99_ms:10.3f}{direct.best_rps:12.0f}   "
        + " ".join(f"{r:.0f}" for r in direct.throughput_rps),
        f"{'gateway':10}{gateway.p50_ms:10.3f}{gateway.p99_ms:10.3f}{gateway.best_rps:12.0f}   "
        + " ".join(f"{r:.0f}" for r in gateway.throughput_rps),
        f"CPU per request under load (us): replica direct "
        f"{statistics.median(direct.replica_cpu_us):.0f}, via gateway: replica "
        f"{statistics.median(gateway.replica_cpu_us):.0f} + gateway "
        f"{statistics.median(gateway.gateway_cpu_us):.0f}",
        f"added latency: p50 {added_p50:+.3f} ms, p99 {added_p99:+.3f} ms "
        f"(goal p50 < {GOAL_ADDED_P50_MS:g} ms: {'met' if added_p50 < GOAL_ADDED_P50_MS else 'NOT met'})",
        f"throughput ratio gateway/direct: {ratio:.2f} "
        f"(goal >= {GOAL_THROUGHPUT_RATIO:.2f}: {'met' if ratio >= GOAL_THROUGHPUT_RATIO else 'NOT met'})",
    ]
    return {"settings": asdict(settings), "direct": {**asdict(direct), "best_rps": direct.best_rps},
            "gateway": {**asdict(gateway), "best_rps": gateway.best_rps},
            "added_p50_ms": added_p50, "added_p99_ms": added_p99, "throughput_ratio": ratio,
            "text": "\n".join(rows)}
