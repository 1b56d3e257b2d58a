"""The registry snapshot: which variants exist and what they promise, built from the
gateways' function listings (fetched by the shell) and the measured profiles.

A snapshot is immutable; the engine swaps in a new one at each listing, so a decision
reads one consistent registry. A gateway whose listing failed keeps its last known list
(the shell passes it again), so its variants fail over through the health marks rather
than vanishing on one bad poll.
"""
from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from faasml.selector.engine.variant import InvalidVariant, Variant, is_executor, variant_from_status


@dataclass(frozen=True)
class Snapshot:
    variants: tuple[Variant, ...] = ()
    by_task: Mapping[str, tuple[Variant, ...]] = field(default_factory=dict)
    by_key: Mapping[str, Variant] = field(default_factory=dict)
    refreshed_at: float = float("-inf")
    problems: tuple[str, ...] = ()    # functions skipped and gateways not reached
    generation: int = 0               # counts listings: a table built for one is rebuilt for the next

    @property
    def tasks(self) -> list[str]:
        return sorted(self.by_task)


def apply_profile(variant: Variant, profiles: Mapping[str, Mapping[str, Any]], here: bool = False) -> Variant:
    """A measured profile (`faasml profile`: compute p50 and overhead p50) laid over the
    annotations: the compute time becomes the variant's service time, the overhead its
    round trip, so the predictor never counts the gateway hop twice. `here`: the profile
    was measured on this kind of machine."""
    profile = profiles.get(variant.name)
    if not profile:
        return variant
    compute = profile.get("compute_ms")
    overhead = profile.get("overhead_ms")
    if compute is None:
        latency = profile.get("latency_ms") or {}
        compute = latency.get("p50") if isinstance(latency, dict) else latency
    changes: dict[str, Any] = {}
    if compute is not None:
        changes["profile_latency_ms"] = float(compute)
        changes["profile_here"] = here
    if overhead is not None:
        # The declared round trip (annotation, or the provider's node RTT) describes this
        # deployment; a profile may come from another. Neither can undercut the other.
        changes["rtt_ms"] = max(variant.rtt_ms, float(overhead))
    return dataclasses.replace(variant, **changes) if changes else variant


def _disambiguate(variants: list[Variant], gateway_names: Mapping[str, str]) -> list[Variant]:
    """The same function name on two gateways gets `name@gateway` keys; unique ones keep `name`."""
    counts = collections.Counter(v.name for v in variants)
    return [dataclasses.replace(v, key=v.name if counts[v.name] == 1 else f"{v.name}@{gateway_names[v.gateway]}")
            for v in variants]


def build_snapshot(listings: Sequence[tuple[str, str, Sequence[Any]]],
                   profiles: Mapping[str, Mapping[str, Any]], now: float, generation: int,
                   problems: Sequence[str] = (), profiles_here: bool = False) -> Snapshot:
    """A snapshot from each gateway's listing, `(url, name, functions)` in configuration
    order: the executors among them, with their profiles laid over, sorted by task and
    name. Entries that do not parse are skipped and named in `problems`."""
    found = list(problems)
    variants: list[Variant] = []
    for url, _, functions in listings:
        for status in functions:
            if not isinstance(status, Mapping) or not is_executor(status):
                continue
            try:
                variant = variant_from_status(status, url)
            except (InvalidVariant, KeyError, TypeError, ValueError) as exc:
                found.append(f"function {status.get('name')!r}: {exc}")
                continue
            variants.append(apply_profile(variant, profiles, profiles_here))
    names = {url: name for url, name, _ in listings}
    variants = _disambiguate(sorted(variants, key=lambda v: (v.task, v.name, v.gateway)), names)
    by_task: dict[str, list[Variant]] = collections.defaultdict(list)
    for variant in variants:
        by_task[variant.task].append(variant)
    return Snapshot(tuple(variants), {t: tuple(vs) for t, vs in by_task.items()},
                    {v.id: v for v in variants}, now, tuple(found), generation)


def snapshot_of(variants: Sequence[Variant], now: float = 0.0, generation: int = 1) -> Snapshot:
    """A snapshot of variants built in code (the simulator's, a test's), in the order a
    listing would give them (by task and name)."""
    ordered = sorted(variants, key=lambda v: (v.task, v.name, v.gateway))
    by_task: dict[str, list[Variant]] = collections.defaultdict(list)
    for variant in ordered:
        by_task[variant.task].append(variant)
    return Snapshot(tuple(ordered), {t: tuple(vs) for t, vs in by_task.items()},
                    {v.id: v for v in ordered}, now, (), generation)
