"""CPU use of the platform's processes, sampled from /proc while a run goes.

Every process (replica PIDs from the runtime's `replicaStates`, the gateway, this harness)
is read from `/proc/<pid>/stat` (user + system time of all its threads) every `interval_s`.
A node's utilisation at a moment is the CPU seconds its processes used per second,
divided by its CPU count: 1.0 = every core of the node busy. The group `others` is the
machine's busy time (/proc/stat) less every tracked process: other people's work on a
shared machine, which a run's figures should be read against; `steal` is the time the
hypervisor ran other guests while this VM wanted its CPUs.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MACHINE = -1  # pseudo-PID: the whole machine from /proc/stat
OTHERS = "others"  # group: CPU used on the machine by processes this run does not track
STEAL = -2  # pseudo-PID: the VM's steal time from /proc/stat
STEAL_GROUP = "steal"  # group: CPU the hypervisor gave to other guests (cores)


def _proc_stat() -> list[int] | None:
    try:
        with open("/proc/stat", "rb") as handle:
            fields = handle.readline().split()[1:]
    except OSError:
        return None
    return [int(v) for v in fields[:8]] + [0] * (8 - len(fields[:8]))


def machine_busy_seconds() -> float | None:
    """CPU seconds every CPU of the machine spent running anyone's processes (user, nice,
    system, irq, softirq; not idle, iowait or steal)."""
    values = _proc_stat()
    if values is None:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, _steal = values
    return (user + nice + system + irq + softirq) / TICKS


def steal_seconds() -> float | None:
    """CPU seconds the hypervisor gave to other guests while this VM wanted to run."""
    values = _proc_stat()
    return None if values is None else values[7] / TICKS


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after its closing ')' are fixed.
    fields = data[data.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass(frozen=True)
class Tracked:
    pid: int
    name: str        # function or "gateway" / "harness"
    group: str       # node name, or "gateway" / "harness" for unpinned processes


class CpuSampler:
    """Samples in a background thread between `start()` and `stop()`."""

    def __init__(self, tracked: list[Tracked], interval_s: float = 0.5):
        self.tracked = tracked
        self.interval_s = interval_s
        self.samples: list[tuple[float, dict[str, float]]] = []  # (t from start, cores per group)
        self.totals: dict[str, float] = {}                      # CPU seconds per process name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._first: dict[int, float] = {}

    def _read(self) -> dict[int, float]:
        values = {}
        machine = machine_busy_seconds()
        if machine is not None:
            values[MACHINE] = machine
        steal = steal_seconds()
        if steal is not None:
            values[STEAL] = steal
        for item in self.tracked:
            value = cpu_seconds(item.pid)
            if value is not None:
                values[item.pid] = value
        return values

    def start(self) -> "CpuSampler":
        self._t0 = time.monotonic()
        self._first = self._read()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        previous, previous_t = self._first, self._t0
        while not self._stop.wait(self.interval_s):
            now, values = time.monotonic(), self._read()
            span = now - previous_t
            if span <= 0:
                continue
            groups: dict[str, float] = {}
            for item in self.tracked:
                if item.pid in values and item.pid in previous:
                    groups[item.group] = groups.get(item.group, 0.0) + (values[item.pid] - previous[item.pid]) / span
            if MACHINE in values and MACHINE in previous:
                # the whole machine minus what we track: anyone else's work on these cores
                machine = (values[MACHINE] - previous[MACHINE]) / span
                groups[OTHERS] = max(0.0, machine - sum(groups.values()))
            if STEAL in values and STEAL in previous:
                groups[STEAL_GROUP] = (values[STEAL] - previous[STEAL]) / span
            self.samples.append((round(now - self._t0, 3), {g: round(c, 4) for g, c in groups.items()}))
            previous, previous_t = values, now

    def stop(self) -> dict[str, float]:
        """Stop; return CPU seconds used per process name over the whole sampling."""
        self._stop.set()
        if self._thread:
            self._thread.join(self.interval_s * 4 + 1)
        last = self._read()
        totals: dict[str, float] = {}
        for item in self.tracked:
            if item.pid in last and item.pid in self._first:
                totals[item.name] = totals.get(item.name, 0.0) + last[item.pid] - self._first[item.pid]
        if MACHINE in last and MACHINE in self._first:
            totals["machine"] = last[MACHINE] - self._first[MACHINE]
        self.totals = {k: round(v, 4) for k, v in totals.items()}
        return self.totals


def tracked_processes(topology, harness: bool = True) -> list[Tracked]:
    """Replicas grouped by node; the gateway and this harness as their own groups."""
    tracked = [Tracked(r.pid, r.function, r.node or "unplaced") for r in topology.replicas]
    if topology.gateway_pid:
        tracked.append(Tracked(topology.gateway_pid, "gateway", "gateway"))
    if harness:
        tracked.append(Tracked(os.getpid(), "harness", "harness"))
    return tracked
