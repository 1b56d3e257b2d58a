"""Readiness of one replica, as Kubernetes probes an OpenFaaS function's pod.

With a `ready_path` (of-watchdog's variable) the replica is ready only when that path
answers 200: probed often while starting, every `health_probe_interval_s` after, and
unready after `unready_after_failures` failed probes in a row. Without one, the replica is
ready when its port answers any HTTP, and stays so while its process lives.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

import aiohttp

from faasml.runtime.config import ProbeSettings
from faasml.runtime.replicas import Replica, ReplicaState


class ReadinessProbe:
    def __init__(self, http: aiohttp.ClientSession, settings: ProbeSettings):
        self.http, self.settings = http, settings

    async def run(self, replica: Replica, ready_path: str | None,
                  changed: Callable[[Replica, str], None]) -> None:
        """Probe until the replica stops; `changed(replica, why)` after each state change."""
        url = replica.base_url + (ready_path or "/")
        while replica.state is ReplicaState.STARTING:
            answer = await self.status(url)
            if answer == 200 or (answer is not None and ready_path is None):
                replica.state = ReplicaState.READY
                changed(replica, f"ready after {time.monotonic() - replica.started_at:.2f}s")
            else:
                await asyncio.sleep(self.settings.startup_probe_interval_s)
        if ready_path is not None:
            await self._watch(replica, url, ready_path, changed)

    async def _watch(self, replica: Replica, url: str, ready_path: str,
                     changed: Callable[[Replica, str], None]) -> None:
        failures = 0
        while replica.state in (ReplicaState.READY, ReplicaState.UNREADY):
            await asyncio.sleep(self.settings.health_probe_interval_s)
            answer = await self.status(url)
            # A busy replica may be slow to answer its probe; only a refusal (e.g. 503) or
            # a silence while it serves nothing counts against it.
            if answer is None and replica.in_flight > 0:
                continue
            failures = 0 if answer == 200 else failures + 1
            if replica.state is ReplicaState.READY and failures >= self.settings.unready_after_failures:
                replica.state = ReplicaState.UNREADY
                changed(replica, f"not ready: {ready_path} failed {failures} times")
            elif replica.state is ReplicaState.UNREADY and answer == 200:
                replica.state = ReplicaState.READY
                changed(replica, "ready again")

    async def status(self, url: str) -> int | None:
        """The probe's HTTP status, or None when nothing answered in time."""
        try:
            timeout = aiohttp.ClientTimeout(total=self.settings.probe_timeout_s)
            async with self.http.get(url, timeout=timeout) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return None
