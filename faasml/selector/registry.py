"""The registry: which variants exist and what they promise, discovered from gateways.

Each refresh lists `GET /system/functions` on every gateway, keeps the executors (label
`faasml.io/role=executor`), reads their annotations, lays measured profiles over them and
swaps in a new immutable snapshot, so readers never lock. A gateway that fails to answer
keeps its last known list (its variants then fail over through the forwarder's health
marks) rather than vanishing on one bad poll.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from faasml.selector.gateway_client import GatewayClient, GatewayUnavailable
from faasml.selector.profiles import ProfileFile, apply_profile
from faasml.selector.variant import InvalidVariant, Variant, is_executor, variant_from_status



@dataclass(frozen=True)
class Snapshot:
    variants: tuple[Variant, ...] = ()
    by_task: Mapping[str, tuple[Variant, ...]] = field(default_factory=dict)
    by_key: Mapping[str, Variant] = field(default_factory=dict)
    refreshed_at: float = float("-inf")
    problems: tuple[str, ...] = ()    # functions skipped and gateways not reached

    @property
    def tasks(self) -> list[str]:
        return sorted(self.by_task)


def _disambiguate(variants: list[Variant], gateway_names: Mapping[str, str]) -> list[Variant]:
    """The same function name on two gateways gets `name@gateway` keys; unique ones keep `name`."""
    counts = collections.Counter(v.name for v in variants)
    return [replace(v, key=v.name if counts[v.name] == 1 else f"{v.name}@{gateway_names[v.gateway]}")
            for v in variants]


class Registry:
    def __init__(self, gateways: Sequence[GatewayClient], profiles: ProfileFile | None = None,
                 clock=time.monotonic):
        self.gateways = list(gateways)
        self.profiles = profiles or ProfileFile(None)
        self.clock = clock
        self.snapshot = Snapshot()
        self._last_lists: dict[str, list[Mapping[str, Any]]] = {}
        self._lock = threading.Lock()
        # Counts completed listings: a request that needs a newer registry waits for the
        # count to pass the one it saw (wait_newer), never for a listing of its own.
        self.generation = 0
        # Counts listings begun (they run one at a time): one under way when something
        # goes stale may already hold the stale answer, so `Refresher.wake` asks for one
        # begun after it.
        self.started = 0
        self._listed = threading.Condition()

    def refresh(self) -> Snapshot:
        with self._lock:
            self.started += 1
            problems: list[str] = []
            for client in self.gateways:
                try:
                    self._last_lists[client.endpoint.url] = client.list_functions()
                except GatewayUnavailable as exc:
                    problems.append(f"gateway {client.endpoint.name}: {exc}")
            try:
                profiles = self.profiles.current()
            except ValueError as exc:
                problems.append(f"profiles: {exc}")
                profiles = {}
            variants = self._parse(problems, profiles)
            by_task: dict[str, list[Variant]] = collections.defaultdict(list)
            for variant in variants:
                by_task[variant.task].append(variant)
            self.snapshot = Snapshot(tuple(variants), {t: tuple(vs) for t, vs in by_task.items()},
                                     {v.id: v for v in variants}, self.clock(), tuple(problems))
            with self._listed:
                self.generation += 1
                self._listed.notify_all()
            return self.snapshot

    def wait_newer(self, generation: int, timeout_s: float) -> Snapshot:
        """The snapshot once a listing after `generation` completed, or the current one
        after `timeout_s`: a request never waits on the gateway for longer than that."""
        with self._listed:
            self._listed.wait_for(lambda: self.generation > generation, timeout_s)
        return self.snapshot

    def _parse(self, problems: list[str], profiles: Mapping[str, Mapping[str, Any]]) -> list[Variant]:
        variants: list[Variant] = []
        for client in self.gateways:
            for status in self._last_lists.get(client.endpoint.url, []):
                if not isinstance(status, Mapping) or not is_executor(status):
                    continue
                try:
                    variant = variant_from_status(status, client.endpoint.url)
                except (InvalidVariant, KeyError, TypeError, ValueError) as exc:
                    problems.append(f"function {status.get('name')!r}: {exc}")
                    continue
                variants.append(apply_profile(variant, profiles))
        names = {c.endpoint.url: c.endpoint.name for c in self.gateways}
        return _disambiguate(sorted(variants, key=lambda v: (v.task, v.name, v.gateway)), names)

    def age(self) -> float:
        return self.clock() - self.snapshot.refreshed_at
