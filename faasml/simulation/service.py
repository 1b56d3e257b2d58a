"""What a request costs and whether its answer is right: the measured inputs of the model.

* **Service times**: each variant's empirical distribution of compute time, as
  `faasml profile` (or the evaluation's idle phase) measured it through the platform:
  the profiles file's `compute_ms_samples` (sorted). A request's time is drawn by inverse
  transform: its own uniform number `u` read through the variant's quantile function
  (linear between order statistics). Every policy is given the same `u` per request and
  attempt (common random numbers), so differences between policies are differences of
  choice, not of luck. A profile with no samples (an older file) gives its `compute_ms`
  every time, and the report says so.
* **Correctness**: each variant's answer on each labelled photo, measured with the
  executor's own code (`faasml bench correctness`, correctness.py): a request answered
  by variant v on input i is right exactly when v is right on that photo, so "correct in
  time" means what it means live, and the variants' agreement on hard photos is kept.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

GOLDEN = 0.6180339887498949   # a retry's uniform: u + k * golden (mod 1), well spread


class ProfileError(ValueError):
    pass


class ServiceTimes:
    """One variant's compute-time distribution (ms), read by quantile."""

    __slots__ = ("samples", "_last", "constant", "median_ms")

    def __init__(self, samples_ms: Sequence[float]):
        values = sorted(float(v) for v in samples_ms if v is not None and v >= 0)
        if not values:
            raise ProfileError("no compute-time samples")
        self.samples = values
        self._last = len(values) - 1
        self.constant = len(values) == 1
        self.median_ms = values[self._last // 2] if len(values) % 2 else \
            (values[self._last // 2] + values[self._last // 2 + 1]) / 2

    def quantile(self, u: float) -> float:
        """The u-quantile (0 <= u < 1), linear between order statistics."""
        if self.constant:
            return self.samples[0]
        position = u * self._last
        i = int(position)
        if i >= self._last:
            return self.samples[-1]
        low = self.samples[i]
        return low + (position - i) * (self.samples[i + 1] - low)

    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)


def retry_uniform(u: float, attempt: int) -> float:
    return (u + attempt * GOLDEN) % 1.0


def service_times(profiles: Mapping[str, Mapping[str, Any]]) -> dict[str, ServiceTimes]:
    """Function name -> its distribution, from a profiles file's `variants` mapping."""
    found = {}
    for name, profile in profiles.items():
        samples = profile.get("compute_ms_samples")
        if not samples:
            compute = profile.get("compute_ms")
            if compute is None:
                latency = profile.get("latency_ms") or {}
                compute = latency.get("p50") if isinstance(latency, dict) else latency
            if compute is None:
                continue
            samples = [compute]
        found[name] = ServiceTimes(samples)
    return found


def load_profiles_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"cannot read profiles {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict):
        raise ProfileError(f"{path}: no 'variants' object")
    return data


@dataclass(frozen=True)
class Correctness:
    """Per model, whether it answers each photo right (photos in the sorted order of the
    labelled folder, named)."""

    photos: tuple[str, ...]
    rows: Mapping[str, tuple[bool, ...]]
    header: Mapping[str, Any]

    def top1(self, model: str) -> float:
        row = self.rows[model]
        return sum(row) / len(row)

    def for_pool(self, names: Sequence[str]) -> dict[str, list[bool]]:
        """Per model, a list over the input pool (the photo names the live harness loads,
        `faasml.evaluation.inputs`): pool index -> right or not."""
        position = {name: i for i, name in enumerate(self.photos)}
        missing = [n for n in names if n not in position]
        if missing:
            raise ProfileError(f"correctness table has no photo {missing[0]!r} (of {len(missing)} missing): "
                               f"measured on another folder? re-run `faasml bench correctness`")
        index = [position[n] for n in names]
        return {model: [row[i] for i in index] for model, row in self.rows.items()}


def encode_bits(bits: Sequence[bool]) -> str:
    """Booleans as hex, 4 per digit, first photo in the highest bit of the first digit."""
    padded = list(bits) + [False] * (-len(bits) % 4)
    return "".join(f"{8 * a + 4 * b + 2 * c + d:x}" for a, b, c, d in zip(*[iter(padded)] * 4))


def decode_bits(text: str, count: int) -> tuple[bool, ...]:
    bits = []
    for digit in text:
        value = int(digit, 16)
        bits.extend((bool(value & 8), bool(value & 4), bool(value & 2), bool(value & 1)))
    if len(bits) < count:
        raise ProfileError(f"bit string holds {len(bits)} bits, {count} expected")
    return tuple(bits[:count])


def load_correctness(path: Path) -> Correctness:
    try:
        data = json.loads(Path(path).read_text())
        photos = tuple(data["photos"])
        rows = {model: decode_bits(entry["bits"], len(photos)) for model, entry in data["models"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProfileError(f"cannot read correctness table {path}: {exc}") from None
    header = {k: v for k, v in data.items() if k not in ("photos", "models")}
    return Correctness(photos, rows, header)
