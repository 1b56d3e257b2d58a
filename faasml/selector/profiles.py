"""Latency profiles measured by `faasml profile`, which the registry lays over annotations.

File format (JSON):
  {"measured_on": "...", "measured_at": "...", "method": "...",
   "variants": {"<function name>": {"latency_ms": {"p50","p95","p99"}, "compute_ms": p50,
                "overhead_ms": p50 of wall - compute, "saturation_rps": ..., ...}}}
A profile's compute p50 becomes the variant's service time and its overhead the round
trip, so the predictor never counts the gateway hop twice.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

from faasml.selector.variant import Variant


def load_profiles(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Variant name -> profile; {} when there is no file (annotations then stand alone)."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    variants = data.get("variants") if isinstance(data, dict) else None
    if not isinstance(variants, dict):
        raise ValueError(f"{path}: no 'variants' object")
    return variants


class ProfileFile:
    """The profiles file, re-read when it changes (a new `faasml profile` run takes
    effect at the next registry refresh, without restarting the selector)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._stamp: tuple[int, int] | None = None
        self._profiles: dict[str, dict[str, Any]] = {}

    def current(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return {}
        try:
            stat = self.path.stat()
        except OSError:
            self._stamp, self._profiles = None, {}
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._profiles, self._stamp = load_profiles(self.path), stamp
        return self._profiles


def save_profiles(path: str | Path, header: Mapping[str, Any], variants: Mapping[str, Any]) -> None:
    """Merge into an existing file, so profiling one gateway keeps the others' entries."""
    path = Path(path)
    existing = load_profiles(path) if path.exists() else {}
    existing.update(variants)
    payload = dict(header)
    payload["variants"] = dict(sorted(existing.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def apply_profile(variant: Variant, profiles: Mapping[str, Mapping[str, Any]]) -> Variant:
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
    if overhead is not None:
        # The declared round trip (annotation, or the provider's node RTT) describes this
        # deployment; a profile may come from another. Neither can undercut the other.
        changes["rtt_ms"] = max(variant.rtt_ms, float(overhead))
    return dataclasses.replace(variant, **changes) if changes else variant
