"""Paired comparisons of policies on identical traces: a difference, its 95% interval, a verdict.

Per cell (scenario x load), every policy against ours (`tradeoff`), on the same requests:
- the difference of a per-request metric's mean (ours minus the other): correct-in-time
  rate, deadline attainment of the first (latency-critical) class, mean utility;
- a 95% confidence interval from a hierarchical paired bootstrap;
- a verdict: **win** (the interval above 0), **loss** (below 0), **tie** (it holds 0).

Why two levels. A live run's result swings from run to run (0.05-0.15 here for one policy
on one trace: the machine, the moment a burst meets a queue), far more than the requests of
one run say. So a cell is replayed several times, every policy in each round (A B C,
A B C, ..., the order rotated), and round i of ours is paired with round i of the other.
Each bootstrap draw:
1. resamples the pairs (rounds, or seeds in the simulator) with replacement: that is what
   carries the run-to-run noise into the interval;
2. within each drawn pair, resamples the trace's requests in time blocks (`block_s`
   seconds; the same blocks for both policies, since both saw the same requests), which
   keeps the dependence between neighbouring requests (a queue built up spoils many);
3. takes the mean over the drawn pairs of (ours' mean - other's mean) over the drawn
   requests.
With few pairs a bootstrap is too narrow (5 values with replacement miss the tails a
t-distribution has), so the draws' spread around their centre is widened by
t(R-1) / z * sqrt(R / (R-1)) for R >= 2 pairs. Resampling both levels also counts the
within-run noise twice, so the interval errs wide: a **win** or **loss** is a difference
the noise cannot explain. With a single pair (one run per policy) only step 2 is left,
and the interval covers the noise of the requests, not that of the run.

Deterministic: a seed gives the same draws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

WIN, TIE, LOSS = "win", "tie", "loss"


@dataclass
class Comparison:
    difference: float        # mean over pairs of (ours - other), per request
    low: float
    high: float
    verdict: str
    pairs: int
    requests: int            # per pair (of the first)

    def to_dict(self) -> dict:
        return {"difference": _r(self.difference), "ci95": [_r(self.low), _r(self.high)],
                "verdict": self.verdict, "pairs": self.pairs, "requests": self.requests}


def _r(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def verdict(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return TIE
    return WIN if low > 0 else LOSS if high < 0 else TIE


def blocks_of(times_s: np.ndarray, block_s: float, min_blocks: int = 10) -> np.ndarray:
    """Block index per request: consecutive `block_s` seconds of arrivals (narrower when the
    trace would have fewer than `min_blocks`)."""
    times_s = np.asarray(times_s, dtype=float)
    if len(times_s) == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(times_s.max() - times_s.min())
    width = min(block_s, span / min_blocks) if span > 0 else 1.0
    width = width if width > 0 else 1.0
    last = max(1, math.ceil(span / width - 1e-9)) - 1   # the last arrival closes the last block
    raw = np.minimum(np.floor((times_s - times_s.min()) / width).astype(np.int64), last)
    return np.unique(raw, return_inverse=True)[1].reshape(-1)


def paired_bootstrap(ours: Sequence[np.ndarray], other: Sequence[np.ndarray], times_s: Sequence[np.ndarray],
                     block_s: float = 1.0, resamples: int = 4000, seed: int = 0, confidence: float = 0.95,
                     small_sample: bool = True) -> Comparison:
    """ours[i], other[i]: a per-request metric (NaN where it does not apply, e.g. another
    class) of pair i, on the same requests in the same order; times_s[i] their arrivals."""
    from scipy import stats as scipy_stats

    pairs, span = [], 0.0
    for a, b, t in zip(ours, other, times_s):
        a, b, t = np.asarray(a, dtype=float), np.asarray(b, dtype=float), np.asarray(t, dtype=float)
        if not (len(a) == len(b) == len(t)):
            raise ValueError("a pair must hold the same requests for both policies")
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.any():   # the widest a difference of means can be
            span = max(span, float(a[keep].max() - b[keep].min()), float(b[keep].max() - a[keep].min()))
        if not keep.any():
            continue
        block = blocks_of(t, block_s)[keep]
        k = int(block.max()) + 1
        pairs.append((np.bincount(block, weights=(a - b)[keep], minlength=k),
                      np.bincount(block, minlength=k).astype(float), int(keep.sum())))
    if not pairs:
        return Comparison(math.nan, math.nan, math.nan, TIE, 0, 0)
    point = float(np.mean([s.sum() / c.sum() for s, c, _ in pairs]))
    rng = np.random.default_rng(seed)
    r = len(pairs)
    chosen = rng.integers(0, r, size=(resamples, r)) if r > 1 else np.zeros((resamples, 1), dtype=np.int64)
    draws = np.zeros((resamples, chosen.shape[1]))
    for i, (sums, counts, _) in enumerate(pairs):
        where = chosen == i
        m = int(where.sum())
        if m == 0:
            continue
        pick = rng.integers(0, len(sums), size=(m, len(sums)))
        total = counts[pick].sum(axis=1)
        draws[where] = np.where(total > 0, sums[pick].sum(axis=1) / np.maximum(total, 1e-12), 0.0)
    means = draws.mean(axis=1)
    alpha = 1.0 - confidence
    if small_sample and r >= 2:
        widen = scipy_stats.t.ppf(1 - alpha / 2, r - 1) / scipy_stats.norm.ppf(1 - alpha / 2) * math.sqrt(r / (r - 1))
        centre = float(np.median(means))
        means = centre + (means - centre) * widen
    low, high = (float(x) for x in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    # a difference of two per-request means in [0, 1] lies in [-1, 1] (widening may overshoot)
    low, high = max(low, -span), min(high, span)
    return Comparison(point, low, high, verdict(low, high), r, pairs[0][2])


# ---------------------------------------------------------------- from records
def per_request(records: Sequence, metric: str, first_class: str | None = None) -> np.ndarray:
    """A run's records (in trace order) as one number per request: `correct_in_time`
    (0/1), `first_class_in_time` (0/1, NaN for other classes) or `utility`."""
    from faasml.evaluation.metrics import utility

    if metric == "correct_in_time":
        return np.array([float(r.correct_in_time) for r in records])
    if metric == "first_class_in_time":
        return np.array([float(r.in_time) if r.cls == first_class else math.nan for r in records])
    if metric == "utility":
        return np.array([utility(r) for r in records])
    raise ValueError(f"unknown metric {metric!r}")


METRICS = ("correct_in_time", "first_class_in_time", "utility")


def compare_cell(runs: Sequence[dict[str, Sequence]], ours: str, first_class: str, block_s: float = 1.0,
                 resamples: int = 4000, seed: int = 0) -> dict:
    """runs[i][policy] = the records of round i; every policy against `ours`, per metric."""
    policies = [p for p in (runs[0] if runs else {}) if p != ours]
    out: dict[str, dict] = {}
    for policy in policies:
        rounds = [_aligned(run[ours], run[policy]) for run in runs if ours in run and policy in run]
        out[policy] = {}
        for j, metric in enumerate(METRICS):
            a = [per_request(mine, metric, first_class) for mine, _ in rounds]
            b = [per_request(theirs, metric, first_class) for _, theirs in rounds]
            t = [np.array([r.t_s for r in mine]) for mine, _ in rounds]
            out[policy][metric] = paired_bootstrap(a, b, t, block_s, resamples, seed + j).to_dict()
    return out


def _aligned(mine: Sequence, theirs: Sequence) -> tuple[list, list]:
    """The requests both runs recorded, in trace order (a replay records every arrival, so
    normally all of them)."""
    by_seq = {r.seq: r for r in theirs}
    first = sorted((r for r in mine if r.seq in by_seq), key=lambda r: r.seq)
    return first, [by_seq[r.seq] for r in first]
