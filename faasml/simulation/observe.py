"""What a simulated run shows beyond the evaluation's metrics: how the calls spread over
the variants over time (herding), the queues, and the selector replicas' choices.

Herding is several selectors (or one selector's stale load view) sending a burst of
calls to the same variant, because it looked best to all of them at once, until the
next load sample says it is full and they all move to the next one. It shows as shares
that swing from one short bin to the next, and as queues that build and drain. So:

* `swing`: per bin of `bin_s` (0.25 s) with at least MIN_BIN_CALLS calls, the total
  variation distance between that bin's shares of calls per variant and the run's
  shares, averaged over bins weighted by calls. 0: every bin like the run; 1: every bin
  on variants the run as a whole hardly used. A Poisson trace's own sampling noise puts a
  floor under it (a few tenths at tens of calls per bin), so compare runs of one trace
  (1, 4 and 16 selector replicas).
* `peak_share_p95`: the 95th percentile over bins of the largest variant's share.
* queues: per variant, the calls in flight at its gateway per replica (one replica's
  queue, its request in service included), sampled every 0.5 s: mean, 95th percentile and
  maximum, and the largest of every variant's 95th percentiles.
* `replica_disagreement`: how far each selector replica's shares of first calls are from
  the shares of all replicas together (mean total variation distance); 0 for one replica.
* `prediction`: actual / predicted latency of the answers, as the selector measures both
  (its `GET /decisions` summary): median and 90th percentile.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from faasml.stats import percentile

MIN_BIN_CALLS = 8


def total_variation(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)


def shares(counts: Mapping[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def herding(dispatch: Mapping[str, Sequence[int]], bin_s: float) -> dict:
    """Swing and peak share of the calls per bin (see the module's docstring)."""
    bins = max((len(v) for v in dispatch.values()), default=0)
    overall = shares({k: float(sum(v)) for k, v in dispatch.items()})
    weighted = total = 0.0
    peaks = []
    used = 0
    for b in range(bins):
        counts = {k: float(v[b]) for k, v in dispatch.items() if b < len(v) and v[b]}
        calls = sum(counts.values())
        if calls < MIN_BIN_CALLS:
            continue
        here = shares(counts)
        weighted += calls * total_variation(here, overall)
        total += calls
        peaks.append(max(here.values()))
        used += 1
    return {"bin_s": bin_s, "bins": used, "swing": round(weighted / total, 4) if total else None,
            "peak_share_p95": round(percentile(peaks, 95), 4) if peaks else None}


def queues(samples: Mapping[str, Sequence[float]]) -> dict:
    per = {}
    for key, values in samples.items():
        if not values:
            continue
        per[key] = {"mean": round(sum(values) / len(values), 3), "p95": round(percentile(values, 95), 2),
                    "max": max(values)}
    worst = max((v["p95"] for v in per.values()), default=0.0)
    return {"worst_p95": worst, "per_variant": per}


def replica_disagreement(first_calls: Sequence[Mapping[str, int]]) -> float | None:
    if len(first_calls) < 2:
        return 0.0 if first_calls else None
    together: dict[str, float] = {}
    for counts in first_calls:
        for k, v in counts.items():
            together[k] = together.get(k, 0.0) + v
    overall = shares(together)
    distances = [total_variation(shares({k: float(v) for k, v in c.items()}), overall) for c in first_calls if c]
    return round(sum(distances) / len(distances), 4) if distances else None


def by_function(values: Mapping[str, float]) -> dict[str, float]:
    """Keys `name@site` summed per function name (a generated cluster's many sites)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = key.split("@", 1)[0]
        out[name] = round(out.get(name, 0.0) + value, 4)
    return dict(sorted(out.items()))


def share_series(dispatch: Mapping[str, Sequence[int]], group: bool, step_bins: int = 4) -> tuple[list[float], dict[str, list[float]]]:
    """Shares of calls per variant (per function when `group`) over windows of `step_bins` bins."""
    series: dict[str, list[float]] = {}
    keyed: dict[str, list[int]] = {}
    for key, counts in dispatch.items():
        name = key.split("@", 1)[0] if group else key
        row = keyed.setdefault(name, [])
        if len(row) < len(counts):
            row.extend([0] * (len(counts) - len(row)))
        for i, c in enumerate(counts):
            row[i] += c
    bins = max((len(v) for v in keyed.values()), default=0)
    windows = range(0, bins, step_bins)
    for name, row in keyed.items():
        series[name] = []
    totals = []
    for start in windows:
        total = sum(sum(row[start:start + step_bins]) for row in keyed.values())
        totals.append(total)
        for name, row in keyed.items():
            series[name].append(sum(row[start:start + step_bins]) / total if total else 0.0)
    return [w for w in windows], series


def prediction(ratios: Sequence[float]) -> dict:
    if not ratios:
        return {"answered": 0, "actual_over_predicted_p50": None, "actual_over_predicted_p90": None}
    return {"answered": len(ratios), "actual_over_predicted_p50": round(percentile(ratios, 50), 3),
            "actual_over_predicted_p90": round(percentile(ratios, 90), 3)}
