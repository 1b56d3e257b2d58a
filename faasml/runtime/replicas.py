"""One replica: a template entrypoint process on a free port, pinned to its node's CPUs.

The run folder mirrors `faas-cli build --shrinkwrap`: the template's files with the
handler folder as `function/` (symlinks), so `index.py` runs exactly as in the image,
minus of-watchdog. The process's cwd is the stack's folder, so relative paths in the
function's environment (`models/...`) resolve as they do in `faas-cli` projects.
"""
from __future__ import annotations

import asyncio
import enum
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from faasml.runtime.nodes import Node
from faasml.runtime.stack import FunctionSpec, LocalSource

_OUTPUT_CHUNK = 65536
_GATEWAY_CREDENTIALS = frozenset({"FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD"})
# A single log line longer than this is split: a runaway print must not eat memory.
_MAX_LINE = 16384


class ReplicaState(str, enum.Enum):
    STARTING = "starting"  # process started, readiness not yet answered 200
    READY = "ready"        # serving; the only state that receives requests
    UNREADY = "unready"    # was ready, readiness now failing (e.g. model reloading)
    STOPPING = "stopping"  # draining in-flight requests before SIGTERM
    EXITED = "exited"


@dataclass(eq=False)
class Replica:
    instance: str
    node: Node
    port: int
    state: ReplicaState = ReplicaState.STARTING
    in_flight: int = 0
    started_at: float = field(default_factory=time.monotonic)
    process: asyncio.subprocess.Process | None = None
    base_url: str = ""

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}"

    @property
    def routable(self) -> bool:
        return self.state is ReplicaState.READY

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def describe(self) -> dict[str, object]:
        return {"instance": self.instance, "node": self.node.name, "state": self.state.value,
                "inFlight": self.in_flight, "pid": self.pid, "port": self.port}


# Ports handed to replicas that may still bind them: the kernel may offer a just-closed
# port again, and a replica probing another replica's port would look ready.
_ports_in_use: set[int] = set()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reserve_port() -> int:
    port = free_port()
    while port in _ports_in_use:
        port = free_port()
    _ports_in_use.add(port)
    return port


def release_port(port: int) -> None:
    _ports_in_use.discard(port)


def prepare_run_dir(run_dir: Path, source: LocalSource) -> Path:
    """Lay out the template with `function/` -> the handler folder (rebuilt on each deploy)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    for entry in source.template_dir.iterdir():
        if entry.name != "function":
            (run_dir / entry.name).symlink_to(entry.resolve())
    (run_dir / "function").symlink_to(source.handler_dir, target_is_directory=True)
    return run_dir


def replica_environment(spec: FunctionSpec, port: int, instance: str,
                        runtime_env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment, the runtime's (gateway URL) and the function's own, which wins."""
    # The gateway's own credential is not inherited: a function gets it only by naming the
    # `basic-auth` secret (or in its own `environment`), as in a cluster.
    env = {k: v for k, v in os.environ.items() if k not in _GATEWAY_CREDENTIALS}
    env.update(runtime_env)
    env.update(spec.environment)
    env.update({
        "FAASML_LISTEN_HOST": "127.0.0.1",
        "FAASML_LISTEN_PORT": str(port),
        "HOSTNAME": instance,  # a pod's hostname is its name; the template's Context reads it
        "PYTHONUNBUFFERED": "1",  # logs reach `faas-cli logs` as they are printed
    })
    return env


async def start_process(command: list[str], node: Node, cwd: Path,
                        env: Mapping[str, str], nice: int = 0) -> asyncio.subprocess.Process:
    cpus = ",".join(map(str, sorted(node.cpus))) if node.cpus else "all"
    argv = [sys.executable, "-m", "faasml.runtime.pinned_exec", cpus, str(nice), "--", *command]
    return await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops its children
    )


async def pump_output(stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
    """Hand each output line to `on_line` until the process closes its output."""
    pending = b""
    while True:
        chunk = await stream.read(_OUTPUT_CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        while len(pending) > _MAX_LINE:
            lines.append(pending[:_MAX_LINE])
            pending = pending[_MAX_LINE:]
        for line in lines:
            on_line(line.decode("utf-8", "replace").rstrip("\r"))
    if pending:
        on_line(pending.decode("utf-8", "replace"))


async def terminate(process: asyncio.subprocess.Process, grace_s: float = 5.0) -> int:
    """SIGTERM the replica's process group, SIGKILL it after `grace_s`; its exit code."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if process.returncode is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            await asyncio.wait_for(process.wait(), wait_s)
        except asyncio.TimeoutError:
            continue
    return await process.wait()


def process_usage(pid: int) -> tuple[float, int] | None:
    """(CPU seconds used, resident bytes) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as handle:
            resident_pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return cpu_s, resident_pages * os.sysconf("SC_PAGE_SIZE")


class UsageMeter:
    """CPU percent of a set of processes between two calls (the first call: since start)."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, when)

    def sample(self, started_at_by_pid: dict[int, float]) -> dict[str, float]:
        cpu_percent, memory, now = 0.0, 0, time.monotonic()
        for pid, started_at in started_at_by_pid.items():
            usage = process_usage(pid)
            if usage is None:
                continue
            cpu_s, resident = usage
            memory += resident
            since_cpu_s, since = self._last.get(pid, (0.0, started_at))
            cpu_percent += 100.0 * (cpu_s - since_cpu_s) / max(now - since, 1e-3)
            self._last[pid] = (cpu_s, now)
        self._last = {pid: v for pid, v in self._last.items() if pid in started_at_by_pid}
        return {"cpu": round(cpu_percent, 3), "totalMemoryBytes": float(memory)}
