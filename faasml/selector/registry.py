"""The registry's I/O: listing `GET /system/functions` on every gateway (concurrently),
reading the profiles file, and handing the engine a new snapshot (engine/registry.py).

A gateway that fails to answer keeps its last known list (its variants then fail over
through the health marks) rather than vanishing on one bad poll. Listings run one at a
time; a request that needs a newer registry waits for the generation to pass the one it
saw (`wait_newer`), never for a listing of its own.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Mapping, Sequence

from faasml.selector.engine.core import Engine
from faasml.selector.engine.registry import Snapshot, build_snapshot
from faasml.selector.gateway_client import Gateway, GatewayUnavailable
from faasml.selector.profiles import ProfileFile


class Registry:
    def __init__(self, gateways: Sequence[Gateway], profiles: ProfileFile, engine: Engine,
                 clock: Callable[[], float]):
        self.gateways = list(gateways)
        self.profiles = profiles
        self.engine = engine
        self.clock = clock
        self._last_lists: dict[str, list[Mapping[str, Any]]] = {}
        # Counts completed listings; `started` counts listings begun: one under way when
        # something goes stale may already hold the stale answer, so `Refresher.wake`
        # asks for one begun after it.
        self.generation = 0
        self.started = 0
        self._listing: asyncio.Lock | None = None
        self._listed: asyncio.Event | None = None

    @property
    def snapshot(self) -> Snapshot:
        return self.engine.snapshot

    async def refresh(self) -> Snapshot:
        if self._listing is None:
            self._listing = asyncio.Lock()
        async with self._listing:
            self.started += 1
            problems: list[str] = []
            answers = await asyncio.gather(*(g.list_functions() for g in self.gateways), return_exceptions=True)
            for gateway, answer in zip(self.gateways, answers):
                if isinstance(answer, GatewayUnavailable):
                    problems.append(f"gateway {gateway.endpoint.name}: {answer}")
                elif isinstance(answer, BaseException):
                    raise answer
                else:
                    self._last_lists[gateway.endpoint.url] = answer
            try:
                profiles = self.profiles.current()
            except ValueError as exc:
                problems.append(f"profiles: {exc}")
                profiles = {}
            listings = [(g.endpoint.url, g.endpoint.name, self._last_lists.get(g.endpoint.url, []))
                        for g in self.gateways]
            self.generation += 1
            snapshot = build_snapshot(listings, profiles, self.clock(), self.generation, problems,
                                      profiles_here=self.profiles.here)
            self.engine.use_snapshot(snapshot)
            if self._listed is not None:
                self._listed.set()
                self._listed = None
            return snapshot

    async def wait_newer(self, generation: int, timeout_s: float) -> Snapshot:
        """The snapshot once a listing after `generation` completed, or the current one
        after `timeout_s`: a request never waits on the gateway for longer than that."""
        deadline = self.clock() + timeout_s
        while self.generation <= generation:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            if self._listed is None:
                self._listed = asyncio.Event()
            try:
                await asyncio.wait_for(self._listed.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return self.snapshot

    def age(self) -> float:
        return self.clock() - self.snapshot.refreshed_at
