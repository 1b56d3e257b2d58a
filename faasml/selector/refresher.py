"""Keeps the registry and the gateway load fresh from one background thread.

It re-lists functions every `registry_refresh_s` (sooner when asked: after a forwarding
error, or by requests that found nothing healthy) and polls the load source every
`metrics_poll_s`. Listings are single-flight: however many requests ask while one is
under way, that one answers them all (`want_listing`), and none of them lists itself. Failures are logged and tried
again next round: a stale signal ages out through its freshness bound, never crashes.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from faasml.selector.gateway_client import GatewayUnavailable
from faasml.selector.load import GatewayLoad, LoadTracker
from faasml.selector.registry import Registry

log = logging.getLogger(__name__)
STARTING_REFRESH_S = 0.5


class LoadSource(Protocol):
    def poll(self) -> dict[str, GatewayLoad]: ...


class Refresher:
    def __init__(self, registry: Registry, load: LoadTracker, sources: list[tuple[str | None, LoadSource]],
                 registry_refresh_s: float, metrics_poll_s: float):
        self.registry = registry
        self.load = load
        self.sources = sources   # (gateway URL it describes, or None for all gateways; source)
        self.registry_refresh_s = registry_refresh_s
        self.metrics_poll_s = metrics_poll_s
        self._failing: set[int] = set()
        self._wanted = 0   # the registry generation some request is waiting for
        self._wanted_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="faasml-selector-refresh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """Re-list functions now (a variant vanished or refused connections): a listing
        begun after this call, since one under way may hold what just went stale."""
        self.want_listing(self.registry.started)

    def want_listing(self, seen_generation: int) -> None:
        """Ask for a listing newer than `seen_generation`: one under way or already done
        since answers it; otherwise the thread lists once for every asker."""
        with self._wanted_lock:
            self._wanted = max(self._wanted, seen_generation + 1)
        self._wake.set()

    def _run(self) -> None:
        next_listing = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            self._wake.clear()
            if now >= next_listing or self.registry.generation < self._wanted:
                snapshot = self.registry.refresh()
                next_listing = now + self._listing_interval(snapshot.variants)
            self.poll_load()
            self._wake.wait(min(self.metrics_poll_s, max(0.0, next_listing - time.monotonic())))

    def _listing_interval(self, variants) -> float:
        """Look again soon while some variant is still starting (or restarting), so a
        replica that became ready is used within a fraction of a second."""
        starting = any(v.available_replicas < max(1, v.replicas) and v.schedulable for v in variants)
        return min(self.registry_refresh_s, STARTING_REFRESH_S) if starting else self.registry_refresh_s

    def poll_load(self) -> None:
        snapshot = self.registry.snapshot
        for gateway, source in self.sources:
            try:
                loads = source.poll()
            except (GatewayUnavailable, OSError, ValueError) as exc:
                # Once per outage, not once per poll: stale load ages out on its own.
                if id(source) not in self._failing:
                    log.warning("load source failed (profiles and own counts stand in): %s", exc)
                self._failing.add(id(source))
                continue
            if id(source) in self._failing:
                log.warning("load source back: %s", gateway or "prometheus")
                self._failing.discard(id(source))
            self.load.update_gateway(
                (v.id, loads[v.function_name]) for v in snapshot.variants
                if v.function_name in loads and (gateway is None or v.gateway == gateway))
