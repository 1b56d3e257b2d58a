"""Stalls: a request in flight far longer than predicted is given up and sent elsewhere.

An executor can hang (a stopped process, a wedged library call, a node under memory
pressure) while its sockets stay open: nothing refuses the connection, so without a
bound of its own every request already sent there waits for the whole deadline. The
forwarder therefore gives each attempt but the last a *stall bound*: a multiple of the
latency the decider predicted for it (queue included), never under a floor that absorbs
ordinary jitter, never past the request's remaining deadline. An attempt that runs past
it is abandoned and the next-ranked variant is tried; the stalled variant is marked
down *until it answers again*: this watch probes it through the gateway (`GET
/function/<name>/ready`, the executors' readiness path) and lifts the mark at its first
answer. The last attempt gets the whole remaining deadline, so an input that is merely
slow still gets its answer rather than three abandoned tries.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Mapping

import urllib3

from faasml.selector.gateway_client import GatewayClient
from faasml.selector.load import LoadTracker
from faasml.selector.variant import Variant

log = logging.getLogger(__name__)

PROBE_PATH = "/ready"


@dataclass(frozen=True)
class StallBound:
    factor: float = 4.0      # an attempt may take this many times its prediction
    floor_ms: float = 300.0  # and never less than this (scheduling jitter, GC, a cold cache)
    # A variant this selector has never seen answer is predicted from its profile only,
    # and its first requests pay a cold start (ONNX Runtime allocates its arenas on the
    # first run): a bound that tight would give up on a healthy variant's first answer.
    cold_floor_ms: float = 2000.0

    def seconds(self, predicted_ms: float, remaining_s: float, cold: bool = False) -> float:
        floor = max(self.floor_ms, self.cold_floor_ms) if cold else self.floor_ms
        return min(remaining_s, max(floor, self.factor * predicted_ms) / 1000.0)


class StallWatch:
    """Variants marked stalled, each probed until it answers (one background thread,
    started on the first stall and idle otherwise)."""

    def __init__(self, clients: Mapping[str, GatewayClient], load: LoadTracker,
                 probe_every_s: float = 0.5, probe_timeout_s: float = 1.0):
        self.clients = clients
        self.load = load
        self.probe_every_s = probe_every_s
        self.probe_timeout_s = probe_timeout_s
        self._stalled: dict[str, Variant] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stalled(self) -> list[str]:
        return sorted(self._stalled)

    def stalled_on(self, key: str, variant: Variant) -> None:
        """`variant` let an attempt run past its stall bound: down until it answers."""
        with self._lock:
            first = key not in self._stalled
            self._stalled[key] = variant
            self.load.mark_down(key, until_up=True)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="faasml-selector-stalls",
                                                daemon=True)
                self._thread.start()
        if first:
            log.warning("variant %s stalled: skipped until it answers again", key)
            self._wake.set()

    def answered(self, key: str) -> None:
        """Any answer from `key` (a late one, a probe's) ends its stall."""
        with self._lock:
            if self._stalled.pop(key, None) is None:
                return
        self.load.mark_up(key)
        log.warning("variant %s answers again", key)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.probe_timeout_s + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.probe_every_s)
            self._wake.clear()
            with self._lock:
                stalled = list(self._stalled.items())
            for key, variant in stalled:
                if self._stop.is_set():
                    return
                if self.probe(variant):
                    self.answered(key)

    def probe(self, variant: Variant) -> bool:
        """True when the variant answers its readiness path; a 5xx (the gateway's timeout,
        no ready replica) or silence is no answer."""
        client = self.clients.get(variant.gateway)
        if client is None:
            return True  # its gateway left the configuration: nothing to wait for
        started = time.monotonic()
        try:
            status = client.probe(variant.name, variant.namespace, PROBE_PATH, self.probe_timeout_s)
        except (urllib3.exceptions.HTTPError, OSError):
            # A probe that cannot connect must not spin: wait out the rest of its timeout.
            self._stop.wait(max(0.0, self.probe_timeout_s - (time.monotonic() - started)))
            return False
        return status < 500
