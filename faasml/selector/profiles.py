"""Latency profiles measured by `faasml profile`, which the registry lays over annotations.

File format (JSON):
  {"measured_on": "...", "measured_at": "...", "method": "...",
   "variants": {"<function name>": {"latency_ms": {"p50","p95","p99"}, "compute_ms": p50,
                "overhead_ms": p50 of wall - compute, "saturation_rps": ..., ...}}}
A profile's compute p50 becomes the variant's service time and its overhead the round
trip, so the predictor never counts the gateway hop twice (engine/registry.py lays them
over the annotations; this module reads and writes the file).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping


def this_cpu() -> str:
    """This machine's CPU model, as /proc/cpuinfo names it ("" where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def measured_here(header: Mapping[str, Any], cpu: str | None = None) -> bool:
    """Whether a profiles file says it was measured on this kind of machine: its
    `measured_on` names this machine's CPU model (`faasml profile` and the evaluation
    write it). Profiles from elsewhere are a prior only: the selector explores those
    variants until it knows their latency here (engine/policies.py)."""
    cpu = this_cpu() if cpu is None else cpu
    return bool(cpu) and cpu in str(header.get("measured_on") or "")


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
        self.here = False     # whether the file was measured on this kind of machine

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
            try:
                self.here = measured_here(json.loads(self.path.read_text()))
            except (OSError, ValueError, AttributeError):
                self.here = False
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
