"""Keeping a function's replicas alive: start, probe readiness, restart with backoff, scale.

Each replica slot is one coroutine that owns a process for as long as the slot exists:
start it, have `readiness` probe it, watch it, and when it dies report
the exit in the function's log and start a new one after a backoff delay. Scaling adds
or drains slots; an update starts the new generation and stops the old one once a new
replica is ready, so there is no gap in service.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from faasml.runtime.backoff import RestartBackoff
from faasml.runtime.balancer import LeastInFlight
from faasml.runtime.config import SupervisionSettings
from faasml.runtime.logstore import RUNTIME_INSTANCE, LogStore, rfc3339
from faasml.runtime.nodes import Node
from faasml.cpu import cpu_millis, nice_for
from faasml.runtime.placement import choose_node
from faasml.runtime.readiness import ReadinessProbe
from faasml.runtime.replicas import (Replica, ReplicaState, UsageMeter, pump_output, release_port,
                                     replica_environment, reserve_port, start_process, terminate)
from faasml.runtime.stack import FunctionSpec, LocalSource

WATCHDOG_HEALTH_PATH = "/_/health"  # of-watchdog's and the classic watchdog's


@dataclass
class SupervisorContext:
    """What every supervisor shares, handed down by the provider."""

    stack_folder: Path
    logs: LogStore
    probe: ReadinessProbe
    runtime_env: Mapping[str, str]
    settings: SupervisionSettings
    replicas_per_node: Callable[[], dict[str, int]]
    on_change: Callable[[], None]  # replica counts changed: refresh gauges
    # Per-function additions to a replica's environment (its secrets folder).
    function_env: Callable[[FunctionSpec], Mapping[str, str]] = lambda spec: {}
    # `faasml up --containers`: starts each replica from its image (faasml/runtime/containers.py)
    launcher: Any = None


@dataclass(eq=False)
class Slot:
    node: Node
    index: int
    replica: Replica | None = None
    stopping: bool = False
    exits: int = 0
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    task: asyncio.Task | None = None


class Generation:
    """The replicas of one version of a function (an update makes a new generation).

    `source` is the stack's handler that a process runs; None for an image deployed as it
    is (`--containers`), whose own watchdog is the entrypoint.
    """

    def __init__(self, spec: FunctionSpec, source: LocalSource | None, run_dir: Path | None,
                 nodes: list[Node]):
        self.spec, self.source, self.run_dir, self.nodes = spec, source, run_dir, nodes
        self.slots: list[Slot] = []

    @property
    def ready_path(self) -> str | None:
        """What readiness probes: the function's `ready_path`; for an image of its own, its
        watchdog's health path (both watchdogs answer 200 there once their lock file is
        written), as faas-netes probes a function's pod."""
        if self.spec.ready_path or self.source is not None:
            return self.spec.ready_path
        return WATCHDOG_HEALTH_PATH

    def replicas(self) -> list[Replica]:
        return [s.replica for s in self.slots if s.replica is not None and not s.stopping]

    def ready_count(self) -> int:
        return sum(1 for r in self.replicas() if r.routable)


class FunctionSupervisor:
    def __init__(self, context: SupervisorContext, spec: FunctionSpec, source: LocalSource | None,
                 run_dir: Path | None, nodes: list[Node], unschedulable: str | None):
        self.context = context
        self.current = Generation(spec, source, run_dir, nodes)
        self.draining: list[Generation] = []
        self.unschedulable = unschedulable
        self.desired_replicas = spec.min_replicas
        self.stopped = False
        self.created_at = rfc3339(time.time())
        self.balancer = LeastInFlight()
        self._instances = 0
        self._ready = asyncio.Event()
        self._usage = UsageMeter()
        self.faults = 0   # bugs caught while keeping replicas alive (each reported in its log)

    @property
    def spec(self) -> FunctionSpec:
        return self.current.spec

    def log(self, text: str) -> None:
        self.context.logs.append(self.spec.name, self.spec.namespace, RUNTIME_INSTANCE, text)
        print(f"[{self.spec.qualified_name}] {text}", flush=True)

    # --- routing -------------------------------------------------------------------

    def routable_replicas(self) -> list[Replica]:
        replicas = self.current.replicas()
        if any(r.routable for r in replicas):
            return replicas
        for generation in self.draining:  # an update's old replicas serve until then
            old = generation.replicas()
            if any(r.routable for r in old):
                return old
        return replicas

    def choose_replica(self) -> Replica | None:
        return self.balancer.choose(self.routable_replicas())

    async def wait_until_ready(self, timeout_s: float) -> bool:
        if self.available_replicas() > 0:
            return True
        self._ready.clear()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    def available_replicas(self) -> int:
        return self.current.ready_count() + sum(g.ready_count() for g in self.draining)

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        if self.unschedulable:
            self.log(f"UNSCHEDULABLE, not started: {self.unschedulable}")
            return
        self._scale_generation(self.current, self.desired_replicas)

    def scale(self, replicas: int) -> asyncio.Future:
        """Set the replica count now; the returned future ends when surplus replicas are gone."""
        self.desired_replicas = replicas
        if self.unschedulable:
            self.log(f"scaled to {replicas}, but still UNSCHEDULABLE: {self.unschedulable}")
            return asyncio.gather()
        stopped = self._scale_generation(self.current, replicas)
        self.log(f"scaled to {replicas} replica(s)")
        self.context.on_change()
        return asyncio.gather(*stopped)

    def replace(self, spec: FunctionSpec, source: LocalSource | None, run_dir: Path | None,
                nodes: list[Node], unschedulable: str | None) -> None:
        """Roll to a new version: the old replicas serve until a new one is ready."""
        old = self.current
        self.current = Generation(spec, source, run_dir, nodes)
        self.unschedulable = unschedulable
        if "com.openfaas.scale.min" in spec.labels:
            self.desired_replicas = spec.min_replicas
        self.draining.append(old)
        self.start()
        asyncio.get_running_loop().create_task(self._retire_when_replaced(old))

    async def _retire_when_replaced(self, old: Generation) -> None:
        # As a Kubernetes rolling update with maxUnavailable 0: the old replicas serve until
        # a new one is ready, however long that takes (a broken update never causes an outage).
        while self.current.ready_count() == 0 and self.desired_replicas > 0 and not self.stopped:
            await asyncio.sleep(0.05)
        await asyncio.gather(*self._scale_generation(old, 0))
        if old in self.draining:
            self.draining.remove(old)
        self.context.on_change()

    async def stop(self) -> None:
        self.stopped = True
        generations = [self.current, *self.draining]
        await asyncio.gather(*(t for g in generations for t in self._scale_generation(g, 0)))

    def _scale_generation(self, generation: Generation, replicas: int) -> list[Awaitable[None]]:
        live = [s for s in generation.slots if not s.stopping]
        for _ in range(replicas - len(live)):
            generation.slots.append(self._start_slot(generation))
        # Drain the least useful first: not ready, then the least busy.
        surplus = sorted(live, key=lambda s: (s.replica is not None and s.replica.routable,
                                              s.replica.in_flight if s.replica else 0))
        doomed = surplus[:max(len(live) - replicas, 0)]
        for slot in doomed:
            slot.stopping = True  # unrouted now, not when the drain task first runs
        return [self._stop_slot(generation, s) for s in doomed]

    def _start_slot(self, generation: Generation) -> Slot:
        own: dict[str, int] = {}
        for slot in generation.slots:
            if not slot.stopping:
                own[slot.node.name] = own.get(slot.node.name, 0) + 1
        node = choose_node(generation.nodes, own, self.context.replicas_per_node())
        slot = Slot(node=node, index=len(generation.slots))
        slot.task = asyncio.get_running_loop().create_task(self._keep_alive(generation, slot))
        return slot

    async def _stop_slot(self, generation: Generation, slot: Slot) -> None:
        slot.stopping = True
        replica = slot.replica
        if replica is not None and replica.process is not None:
            replica.state = ReplicaState.STOPPING
            deadline = time.monotonic() + self.context.settings.drain_grace_s
            while replica.in_flight > 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await terminate(replica.process)
        if slot.task is not None:
            slot.task.cancel()
            await asyncio.gather(slot.task, return_exceptions=True)
        if slot in generation.slots:
            generation.slots.remove(slot)
        self.context.on_change()

    async def _keep_alive(self, generation: Generation, slot: Slot) -> None:
        while not slot.stopping:
            replica = None
            try:
                replica = await self._launch(generation, slot)
                exit_code = await self._watch(generation, replica)
                what = f"exited with code {exit_code}"
            except OSError as exc:  # e.g. out of file descriptors: report, retry later
                what = f"could not start: {exc}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end this slot's restarts: report, retry later
                what = f"failed in the runtime: {type(exc).__name__}: {exc}"
                self.faults += 1
            finally:
                if replica is not None:
                    replica.state = ReplicaState.EXITED
                    release_port(replica.port)
            self.context.on_change()
            if slot.stopping:
                return
            uptime_s = time.monotonic() - replica.started_at if replica else 0.0
            delay_s = slot.backoff.delay_after_exit(uptime_s)
            slot.exits += 1
            name = f"{replica.instance} (pid {replica.pid})" if replica else "of slot " + str(slot.index)
            self.log(f"replica {name} {what} after {uptime_s:.1f}s; "
                     f"restart #{slot.exits} in {delay_s:.1f}s")
            await asyncio.sleep(delay_s)

    async def _launch(self, generation: Generation, slot: Slot) -> Replica:
        spec = generation.spec
        self._instances += 1
        replica = Replica(instance=f"{spec.name}-{self._instances}", node=slot.node, port=reserve_port())
        try:
            if self.context.launcher is not None:
                replica.process = await self.context.launcher.start(spec, replica, slot.node,
                                                                    self.context.function_env(spec))
            else:
                assert generation.source is not None and generation.run_dir is not None  # provider's check
                command = generation.source.command(generation.run_dir)
                env = replica_environment(spec, replica.port, replica.instance,
                                          {**self.context.runtime_env, **self.context.function_env(spec)})
                replica.process = await start_process(command, slot.node, self.context.stack_folder,
                                                      env, nice_for(cpu_millis(spec.requests)))
        except OSError:
            release_port(replica.port)
            raise
        slot.replica = replica
        self.log(f"replica {replica.instance} started: pid {replica.pid}, port {replica.port}, "
                 f"node {slot.node.name}")
        return replica

    async def _watch(self, generation: Generation, replica: Replica) -> int:
        process = replica.process
        assert process is not None and process.stdout is not None
        on_line = lambda text: self.context.logs.append(  # noqa: E731
            generation.spec.name, generation.spec.namespace, replica.instance, text)
        output = asyncio.get_running_loop().create_task(pump_output(process.stdout, on_line))
        probing = asyncio.get_running_loop().create_task(
            self.context.probe.run(replica, generation.ready_path, self._replica_changed))
        try:
            exit_code = await process.wait()
            await asyncio.wait_for(asyncio.shield(output), 1.0)
        except asyncio.TimeoutError:
            exit_code = process.returncode or 0
        finally:
            probing.cancel()
            output.cancel()
        return exit_code

    def _replica_changed(self, replica: Replica, why: str) -> None:
        self.log(f"replica {replica.instance} {why}")
        if replica.routable:
            self._ready.set()
        self.context.on_change()

    # --- status --------------------------------------------------------------------

    def all_replicas(self) -> list[Replica]:
        return [r for g in (self.current, *self.draining) for r in g.replicas()]

    def usage(self) -> dict[str, float]:
        """faas-provider's FunctionUsage: CPU percent since the last call, resident bytes."""
        live = [r for r in self.all_replicas() if r.pid and r.state is not ReplicaState.EXITED]
        return self._usage.sample({r.pid: r.started_at for r in live})  # type: ignore[misc]

    def local_status(self) -> dict[str, object]:
        return {
            "nodes": [n.name for n in self.current.nodes],
            "rttMs": {n.name: n.rtt_ms for n in self.current.nodes},
            # CPUs per node: the selector predicts how variants on one node share them.
            "cpus": {n.name: n.cpu_count for n in self.current.nodes},
            "unschedulable": self.unschedulable or "",
            "replicaStates": [r.describe() for r in self.all_replicas()],
            "restarts": sum(s.exits for s in self.current.slots),
            "directUrls": self.direct_urls(),
        }

    def direct_urls(self) -> list[str]:
        """Where a caller on this machine may reach the ready replicas without the gateway
        (the selector's direct calls, which it reports back: direct_calls.py). None for a
        replica on a node with a simulated round trip, which lives in the gateway, nor
        for containers, whose loopback is their own."""
        if self.context.launcher is not None:
            return []
        return [r.base_url for r in self.current.replicas() if r.routable and not r.node.rtt_ms]
