"""The selector's direct calls, counted in the gateway's metrics.

In its default `auto` mode the selector calls a local replica at the address the
listing offers (`faasml.directUrls`), not through this gateway (docs/selector.md,
"Direct calls"). What the gateway would have counted, the selector counts and exports
on its `/metrics` (named in faasml/contract.py); this collector scrapes every ready
replica of every function labelled `faasml.io/role=selector` once a second and adds
the growth to the gateway's own series: invocations started, in flight, and finished
by code with their durations, bucket by bucket. The autoscaler, the dashboard, the
`/system/functions` invocation counts and the load the selector reads back from
`/metrics` then see every call, whichever way it went.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from faasml.contract import DIRECT_SECONDS, DIRECT_STARTED
from faasml.promtext import parse_samples
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.provider import LocalProvider
from faasml.runtime.selector_access import selector_credentials, selectors
from faasml.background import Background
from faasml.upstream import UpstreamError, UpstreamPool

SCRAPE_TIMEOUT_S = 2.0


@dataclass
class _Seen:
    """One selector replica's counters at the last scrape, per function."""

    started: dict[str, float] = field(default_factory=dict)
    # (function, code) -> (cumulative bucket counts by upper bound, sum of seconds)
    finished: dict[tuple[str, str], tuple[dict[float, float], float]] = field(default_factory=dict)

    def in_flight(self, function: str) -> float:
        done = sum(buckets.get(float("inf"), 0.0) for (name, _), (buckets, _) in self.finished.items()
                   if name == function)
        return self.started.get(function, 0.0) - done


def read_counters(text: str) -> _Seen:
    seen = _Seen()
    for sample in parse_samples(text, {DIRECT_STARTED, DIRECT_SECONDS + "_bucket", DIRECT_SECONDS + "_sum"}):
        function = sample.labels.get("function_name")
        if not function:
            continue
        if sample.name == DIRECT_STARTED:
            seen.started[function] = sample.value
            continue
        key = (function, sample.labels.get("code", ""))
        buckets, total = seen.finished.get(key, ({}, 0.0))
        if sample.name.endswith("_sum"):
            total = sample.value
        else:
            try:
                buckets[float(sample.labels.get("le", ""))] = sample.value
            except ValueError:
                continue
        seen.finished[key] = (buckets, total)
    return seen


class DirectCallCollector:
    def __init__(self, provider: LocalProvider, metrics: GatewayMetrics, upstream: UpstreamPool,
                 interval_s: float = 1.0):
        self.provider, self.metrics, self.upstream = provider, metrics, upstream
        self.interval_s = interval_s
        self._seen: dict[str, _Seen] = {}  # selector replica instance -> its last counters

    def start(self, background: Background) -> asyncio.Task:
        """Scrape every `interval_s`; a failed scrape is counted and logged (background.py)."""
        return background.loop("direct-call-metrics", self.collect, self.interval_s)

    async def collect(self) -> None:
        live: set[str] = set()
        for supervisor in selectors(self.provider):
            # A selector with API keys on answers `/metrics` only to one of its keys.
            headers = selector_credentials(self.provider, supervisor)
            for replica in supervisor.all_replicas():
                if not replica.routable:
                    continue
                try:
                    response = await self.upstream.request(replica.port, "GET", "/metrics", headers, b"",
                                                           SCRAPE_TIMEOUT_S)
                except (UpstreamError, asyncio.TimeoutError, OSError):
                    continue  # scraped again in a second; what it counted meanwhile stays
                if response.status != 200:
                    continue
                live.add(replica.instance)
                self.merge(replica.instance, read_counters(response.body.decode("utf-8", "replace")))
        for gone in set(self._seen) - live:
            self._forget(gone)

    def merge(self, instance: str, now: _Seen) -> None:
        """Add what `instance` counted since its last scrape (all of it when its counters
        went back: a new process)."""
        before = self._seen.get(instance, _Seen())
        if any(now.started.get(f, 0.0) < n for f, n in before.started.items()):
            self._forget(instance)
            before = _Seen()
        for function in set(now.started) | {f for f, _ in now.finished}:
            codes = {}
            for (name, code), (buckets, total) in now.finished.items():
                if name != function:
                    continue
                old_buckets, old_total = before.finished.get((name, code), ({}, 0.0))
                codes[code] = ({le: n - old_buckets.get(le, 0.0) for le, n in buckets.items()},
                               total - old_total)
            self.metrics.add_direct(function,
                                    started=int(now.started.get(function, 0.0) - before.started.get(function, 0.0)),
                                    in_flight=int(now.in_flight(function) - before.in_flight(function)),
                                    finished=codes)
        self._seen[instance] = now

    def _forget(self, instance: str) -> None:
        """A selector replica gone (or restarted): its calls still open will never be
        reported finished, so they leave the in-flight gauge."""
        before = self._seen.pop(instance, None)
        if before is None:
            return
        for function in before.started:
            stuck = int(before.in_flight(function))
            if stuck:
                self.metrics.add_direct(function, started=0, in_flight=-stuck, finished={})
