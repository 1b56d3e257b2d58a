"""Keeps the registry and the gateway load fresh: two supervised rounds on the selector's
event loop (background.py).

The listing round re-lists functions every `registry_refresh_s` (every 0.5 s while some
variant is still starting, and at once when asked: after a forwarding error, or by
requests that found nothing healthy). Listings are single-flight: however many requests
ask while one is under way, that one answers them all (`want_listing`), and none of them
lists itself. The load round samples the load sources every `metrics_poll_s`. A failed
round is logged and counted, and tried again next time: a stale signal ages out through
its freshness bound, never crashes.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Protocol

from faasml.selector.background import Background
from faasml.selector.engine.core import Engine
from faasml.selector.engine.signals import GatewayLoad
from faasml.selector.gateway_client import GatewayUnavailable
from faasml.selector.registry import Registry

log = logging.getLogger(__name__)
STARTING_REFRESH_S = 0.5
LISTING, LOAD = "registry-refresh", "load-sampling"


class LoadSource(Protocol):
    async def poll(self) -> dict[str, GatewayLoad]: ...


class Refresher:
    def __init__(self, registry: Registry, engine: Engine, sources: list[tuple[str | None, LoadSource]],
                 registry_refresh_s: float, metrics_poll_s: float, clock: Callable[[], float]):
        self.registry = registry
        self.engine = engine
        self.sources = sources   # (gateway URL it describes, or None for all gateways; source)
        self.registry_refresh_s = registry_refresh_s
        self.metrics_poll_s = metrics_poll_s
        self.clock = clock
        self._failing: set[int] = set()
        self._wanted = 0   # the registry generation some request is waiting for
        self._wake: asyncio.Event | None = None

    def start(self, background: Background) -> None:
        self._wake = asyncio.Event()
        background.start(LISTING, self._listing_round)
        background.start(LOAD, self._load_round)

    def wake(self) -> None:
        """Re-list functions now (a variant vanished or refused connections): a listing
        begun after this call, since one under way may hold what just went stale."""
        self.want_listing(self.registry.started)

    def want_listing(self, seen_generation: int) -> None:
        """Ask for a listing newer than `seen_generation`: one under way or already done
        since answers it; otherwise the next round lists once for every asker."""
        self._wanted = max(self._wanted, seen_generation + 1)
        if self._wake is not None:
            self._wake.set()

    async def _listing_round(self) -> float:
        snapshot = await self.registry.refresh()
        interval = self._listing_interval(snapshot.variants)
        wake = self._wake
        if wake is not None and self.registry.generation >= self._wanted:
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), interval)
            except asyncio.TimeoutError:
                pass
        return 0.0

    def _listing_interval(self, variants) -> float:
        """Look again soon while some variant is still starting (or restarting), so a
        replica that became ready is used within a fraction of a second."""
        starting = any(v.available_replicas < max(1, v.replicas) and v.schedulable for v in variants)
        return min(self.registry_refresh_s, STARTING_REFRESH_S) if starting else self.registry_refresh_s

    async def _load_round(self) -> float:
        await self.poll_load()
        return self.metrics_poll_s

    async def poll_load(self) -> None:
        snapshot = self.registry.snapshot
        for gateway, source in self.sources:
            try:
                loads = await source.poll()
            except GatewayUnavailable as exc:
                # Once per outage, not once per poll: stale load ages out on its own.
                if id(source) not in self._failing:
                    log.warning("load source failed (profiles and own counts stand in): %s", exc)
                self._failing.add(id(source))
                continue
            if id(source) in self._failing:
                log.warning("load source back: %s", gateway or "prometheus")
                self._failing.discard(id(source))
            self.engine.update_gateway(
                (v.id, loads[v.function_name]) for v in snapshot.variants
                if v.function_name in loads and (gateway is None or v.gateway == gateway))
