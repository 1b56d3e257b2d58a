"""CPUs, and the single-threaded processes that share them.

A `Pool` is a set of CPUs: a node, or a machine whose CPUs some nodes share (on one
machine `faasml up`'s nodes are CPU sets, and unpinned processes, the gateway, the
selector, the load generator, run on any CPU: their pool is the machine, and the nodes
lie inside it). Pools form a tree; the processes of one tree share its CPUs, and a tree
(a `Domain`) is simulated on its own.

A `Proc` is a single-threaded server, as the executors are (one request at a time, one
ONNX Runtime intra-op thread, FIFO), and as the gateway's and the selector's event loops
are: it runs one `Job` (CPU work, seconds of a CPU to itself) at a time, the rest wait in
its FIFO queue. While more processes are busy than their pool has CPUs, they share the
CPUs by weight (processor sharing, as the kernel's CFS does with nice values and
Kubernetes with cgroup weights), each using at most one CPU: the weighted max-min fair
share, computed by water-filling over the pool tree. A job's completion time is
recomputed only when the busy set of its domain changes.

A stalled pool (a node frozen: a hung VM, a node under memory pressure) gives its
processes no CPU until it is released; their sockets stay open, so their requests wait.
A killed process fails its job and its queue (the caller sees a lost connection).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable

from faasml.simulation.events import EventLoop

DONE_EPSILON_S = 1e-9     # work left below this (a nanosecond of CPU) is done


class Job:
    """CPU work for one process: `on_done(job)` runs when it finishes (or fails: `failed`)."""

    __slots__ = ("work_s", "on_done", "arg", "enqueued_at", "started_at", "failed")

    def __init__(self, work_s: float, on_done: Callable[["Job"], None], arg: Any = None):
        self.work_s = work_s
        self.on_done = on_done
        self.arg = arg
        self.enqueued_at = 0.0
        self.started_at = -1.0
        self.failed = False


class Pool:
    __slots__ = ("name", "cpus", "parent", "domain", "stalled", "procs", "chain", "slowdown")

    def __init__(self, name: str, cpus: float, parent: "Pool | None" = None, slowdown: float = 1.0):
        if cpus <= 0:
            raise ValueError(f"pool {name}: needs CPUs, got {cpus}")
        if parent is not None and cpus > parent.cpus:
            raise ValueError(f"pool {name} ({cpus} CPUs) cannot lie inside {parent.name} ({parent.cpus})")
        self.name = name
        self.cpus = float(cpus)
        self.parent = parent
        self.stalled = False
        self.procs: list[Proc] = []
        self.slowdown = slowdown     # work on this pool takes this many times its profile
        chain = []
        pool: Pool | None = self
        while pool is not None:
            chain.append(pool)
            pool = pool.parent
        self.chain = tuple(chain)    # itself, then every pool it lies inside
        self.domain: Domain | None = None

    @property
    def root(self) -> "Pool":
        return self.chain[-1]


class Proc:
    """A single-threaded server on a pool: one job at a time, the rest FIFO."""

    __slots__ = ("name", "pool", "weight", "queue", "job", "remaining", "rate", "alive", "cpu_s", "tag",
                 "in_flight", "served")

    def __init__(self, name: str, pool: Pool, weight: float = 1.0, tag: Any = None):
        if weight <= 0:
            raise ValueError(f"process {name}: weight must be > 0")
        self.name = name
        self.pool = pool
        self.weight = weight
        self.queue: deque[Job] = deque()
        self.job: Job | None = None
        self.remaining = 0.0
        self.rate = 0.0
        self.alive = True
        self.cpu_s = 0.0            # CPU seconds used so far
        self.tag = tag              # what it serves (the simulator's replica, gateway, ...)
        self.in_flight = 0          # requests routed to it and not answered (the balancers')
        self.served = 0
        pool.procs.append(self)

    @property
    def backlog(self) -> int:
        """Jobs here: the one running and those queued."""
        return len(self.queue) + (self.job is not None)

    @property
    def routable(self) -> bool:     # faasml.runtime.balancer's protocol
        return self.alive

    def submit(self, job: Job) -> None:
        domain = self.pool.domain
        assert domain is not None, "pool not in a machine"
        job.enqueued_at = domain.loop.now
        if not self.alive:
            job.failed = True
            domain.loop.at(domain.loop.now, job.on_done, job)
            return
        if self.job is None:
            domain.start(self, job)
        else:
            self.queue.append(job)

    def kill(self) -> None:
        """The process dies: its job and its queue fail at once."""
        domain = self.pool.domain
        assert domain is not None
        domain.kill(self)

    def revive(self) -> None:
        self.alive = True


class Domain:
    """One tree of pools and its processes, advanced together."""

    __slots__ = ("loop", "root", "pools", "busy", "last", "version", "_on_complete", "single", "changes", "uniform")

    def __init__(self, loop: EventLoop, root: Pool):
        self.loop = loop
        self.root = root
        self.pools: list[Pool] = [root]
        root.domain = self
        self.busy: dict[Proc, None] = {}     # an ordered set: allocation order is deterministic
        self.last = loop.now
        self.version = 0
        self._on_complete = self._complete
        self.single = True                   # one pool: the fast allocation
        self.uniform: bool | None = None     # every process of equal weight (known once the first runs)
        self.changes = 0

    def add(self, pool: Pool) -> None:
        if pool.root is not self.root:
            raise ValueError(f"pool {pool.name} does not lie inside {self.root.name}")
        pool.domain = self
        self.pools.append(pool)
        self.single = False

    # -- time ------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        dt = now - self.last
        if dt > 0.0:
            for proc in self.busy:
                used = proc.rate * dt
                proc.remaining -= used
                proc.cpu_s += used
            self.last = now

    def start(self, proc: Proc, job: Job) -> None:
        now = self.loop.now
        self.advance(now)
        proc.job = job
        job.started_at = now
        proc.remaining = job.work_s
        self.busy[proc] = None
        self._reschedule(now)

    def changed(self) -> None:
        """Something outside moved (a stall began or ended): re-share the CPUs now."""
        now = self.loop.now
        self.advance(now)
        self._reschedule(now)

    def kill(self, proc: Proc) -> None:
        now = self.loop.now
        self.advance(now)
        proc.alive = False
        failed = list(proc.queue)
        proc.queue.clear()
        if proc.job is not None:
            failed.insert(0, proc.job)
            proc.job = None
            self.busy.pop(proc, None)
        self._reschedule(now)
        for job in failed:
            job.failed = True
            self.loop.at(now, job.on_done, job)

    def _complete(self, version: int) -> None:
        if version != self.version:
            return
        now = self.loop.now
        self.advance(now)
        done = [proc for proc in self.busy if proc.remaining <= DONE_EPSILON_S and proc.rate > 0.0]
        finished: list[Job] = []
        busy = self.busy
        for proc in done:
            job = proc.job
            assert job is not None
            finished.append(job)
            proc.served += 1
            if proc.queue:
                nxt = proc.queue.popleft()
                nxt.started_at = now
                proc.job = nxt
                proc.remaining = nxt.work_s
            else:
                proc.job = None
                proc.remaining = 0.0
                del busy[proc]
        self._reschedule(now)
        for job in finished:
            job.on_done(job)

    def _reschedule(self, now: float) -> None:
        self.changes += 1
        busy = self.busy
        self.version += 1
        if not busy:
            return
        soonest = float("inf")
        if self.single and not self.root.stalled and self._uniform():
            # the common case: one pool, equal weights: every busy process at one rate
            rate = self.root.cpus / len(busy)
            if rate > 1.0:
                rate = 1.0
            for proc in busy:
                proc.rate = rate
                if proc.remaining < soonest:
                    soonest = proc.remaining
            soonest /= rate
        else:
            self._allocate()
            for proc in busy:
                rate = proc.rate
                if rate > 0.0:
                    left = proc.remaining / rate
                    if left < soonest:
                        soonest = left
        if soonest != float("inf"):
            self.loop.at(now + (soonest if soonest > 0.0 else 0.0), self._on_complete, self.version)

    def _uniform(self) -> bool:
        if self.uniform is None:
            self.uniform = len({p.weight for p in self.root.procs}) <= 1
        return self.uniform

    # -- sharing ---------------------------------------------------------------------
    def _allocate(self) -> None:
        busy = self.busy
        if not busy:
            return
        if self.single:
            pool = self.root
            if pool.stalled:
                for proc in busy:
                    proc.rate = 0.0
                return
            weights = {proc.weight for proc in busy}
            if len(weights) == 1:
                rate = min(1.0, pool.cpus / len(busy))
                for proc in busy:
                    proc.rate = rate
                return
        water_fill([p for p in busy if not _stalled(p)], self.pools)
        for proc in busy:
            if _stalled(proc):
                proc.rate = 0.0

    # -- reading -----------------------------------------------------------------------
    def busy_cores(self, pool: Pool) -> float:
        """CPUs in use now by the processes of `pool` (and of the pools inside it)."""
        return sum(p.rate for p in self.busy if pool in p.pool.chain)


def _stalled(proc: Proc) -> bool:
    return any(pool.stalled for pool in proc.pool.chain)


def water_fill(procs: list[Proc], pools: Iterable[Pool]) -> None:
    """Weighted max-min fair rates: each process at most one CPU, each pool at most its
    CPUs (pools nested: a process counts against its pool and every pool around it).
    Rates rise in proportion to the weights until a process reaches one CPU or a pool is
    full; those are fixed, and the others rise on (progressive filling)."""
    used = {pool: 0.0 for pool in pools}
    active = list(procs)
    while active:
        weight_in: dict[Pool, float] = {}
        level = min(1.0 / p.weight for p in active)
        for proc in active:
            for pool in proc.pool.chain:
                weight_in[pool] = weight_in.get(pool, 0.0) + proc.weight
        for pool, weight in weight_in.items():
            level = min(level, max(0.0, pool.cpus - used.get(pool, 0.0)) / weight)
        full = {pool for pool, weight in weight_in.items()
                if pool.cpus - used.get(pool, 0.0) - weight * level <= 1e-12}
        still = []
        for proc in active:
            rate = proc.weight * level
            if rate >= 1.0 - 1e-12 or any(pool in full for pool in proc.pool.chain):
                proc.rate = min(rate, 1.0)
                for pool in proc.pool.chain:
                    used[pool] = used.get(pool, 0.0) + proc.rate
            else:
                still.append(proc)
        active = still


def build_domains(loop: EventLoop, pools: Iterable[Pool]) -> list[Domain]:
    """One domain per tree of pools (pools given parents first)."""
    domains: dict[Pool, Domain] = {}
    for pool in pools:
        root = pool.root
        domain = domains.get(root)
        if domain is None:
            domain = domains[root] = Domain(loop, root)
        if pool is not root:
            domain.add(pool)
    return list(domains.values())
