"""Stalls: a variant that let an attempt run far past its prediction is kept out until it
answers again.

An executor can hang (a stopped process, a wedged library call, a node under memory
pressure) while its sockets stay open: nothing refuses the connection, so without a
bound of its own every request sent there waits for its whole deadline. The engine's
fallback plan (engine/attempts.py) gives every attempt but the last a stall bound and
marks a variant that runs past it down *until it answers*. This watch probes each such
variant through its gateway (`GET /function/<name>/ready`, the executors' readiness
path) every `probe_every_s` and lifts the mark at its first answer below 500; any answer
to a forwarded request lifts it too. It is a supervised round on the selector's loop,
idle while nothing is stalled.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Mapping

from faasml.selector.background import Background
from faasml.selector.client import UpstreamError
from faasml.selector.engine.core import Engine
from faasml.selector.engine.variant import Variant
from faasml.selector.gateway_client import Gateway

log = logging.getLogger(__name__)

PROBE_PATH = "/ready"
TASK = "stall-watch"


class StallWatch:
    def __init__(self, gateways: Mapping[str, Gateway], engine: Engine, clock: Callable[[], float],
                 probe_every_s: float = 0.5, probe_timeout_s: float = 1.0):
        self.gateways = gateways   # gateway base URL -> gateway
        self.engine = engine
        self.clock = clock
        self.probe_every_s = probe_every_s
        self.probe_timeout_s = probe_timeout_s
        self._stalled: dict[str, Variant] = {}
        self._wake: asyncio.Event | None = None

    @property
    def stalled(self) -> list[str]:
        return sorted(self._stalled)

    def start(self, background: Background) -> None:
        self._wake = asyncio.Event()
        background.start(TASK, self._round)

    def watch(self, key: str, variant: Variant) -> None:
        """`variant` let an attempt run past its stall bound (the engine has marked it
        down until it answers): probe it until it does."""
        if key not in self._stalled:
            log.warning("variant %s stalled: skipped until it answers again", key)
        self._stalled[key] = variant
        if self._wake is not None:
            self._wake.set()

    def answered(self, key: str) -> None:
        """Any answer from `key` (a forwarded request's, a probe's) ends its stall."""
        if self._stalled.pop(key, None) is None:
            return
        self.engine.mark_up(key)
        log.warning("variant %s answers again", key)

    async def _round(self) -> float:
        if not self._stalled and self._wake is not None:
            self._wake.clear()
            await self._wake.wait()
        for key, variant in list(self._stalled.items()):
            if await self.probe(variant):
                self.answered(key)
        return self.probe_every_s

    async def probe(self, variant: Variant) -> bool:
        """True when the variant answers its readiness path; a 5xx (the gateway's timeout,
        no ready replica) or silence is no answer."""
        gateway = self.gateways.get(variant.gateway)
        if gateway is None:
            return True  # its gateway left the configuration: nothing to wait for
        try:
            status = await gateway.probe(variant.name, variant.namespace, PROBE_PATH, self.probe_timeout_s)
        except (UpstreamError, OSError, asyncio.TimeoutError):
            return False
        return status < 500
