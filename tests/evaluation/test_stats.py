"""Paired bootstrap verdicts on synthetic runs where the truth is known."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from faasml.evaluation.loadgen import Record
from faasml.evaluation.stats import blocks_of, compare_cell, paired_bootstrap


def rounds(seed: int, pairs: int, n: int, difference: float, run_sd: float, block_sd: float,
           duration_s: float = 10.0):
    """`pairs` rounds of two policies on one trace each: per request 0/1 with probability
    0.6 (+ `difference` for ours), moved per run by a run effect (sd `run_sd`: the machine
    that day) and per second by a block effect (sd `block_sd`: a burst meeting a queue)."""
    rng = np.random.default_rng(seed)
    ours, other, times = [], [], []
    for _ in range(pairs):
        t = np.sort(rng.random(n) * duration_s)
        second = np.floor(t).astype(int)

        def run(shift: float) -> np.ndarray:
            p = 0.6 + shift + rng.normal(0, run_sd) + rng.normal(0, block_sd, second.max() + 1)[second]
            return (rng.random(n) < np.clip(p, 0, 1)).astype(float)

        ours.append(run(difference))
        other.append(run(0.0))
        times.append(t)
    return ours, other, times


def verdicts(trials: int, **kw) -> Counter:
    return Counter(paired_bootstrap(*rounds(seed, **kw), resamples=1500, seed=seed).verdict
                   for seed in range(trials))


def test_identical_policies_tie_with_run_to_run_noise():
    # a run-to-run swing like the live one (sd 0.04 per run per policy), 5 rounds
    counts = verdicts(100, pairs=5, n=1000, difference=0.0, run_sd=0.04, block_sd=0.05)
    assert counts["tie"] >= 92, counts


def test_identical_policies_tie_with_one_run_each():
    counts = verdicts(100, pairs=1, n=1000, difference=0.0, run_sd=0.0, block_sd=0.05)
    assert counts["tie"] >= 90, counts


def test_a_real_difference_is_a_win_and_the_reverse_a_loss():
    wins = verdicts(60, pairs=5, n=4000, difference=0.05, run_sd=0.01, block_sd=0.03)
    assert wins["win"] >= 51 and wins["loss"] == 0, wins
    losses = verdicts(30, pairs=20, n=2000, difference=-0.05, run_sd=0.03, block_sd=0.05)
    assert losses["loss"] >= 27 and losses["win"] == 0, losses


def test_run_to_run_noise_widens_the_interval():
    quiet = paired_bootstrap(*rounds(3, pairs=5, n=2000, difference=0.0, run_sd=0.0, block_sd=0.02))
    noisy = paired_bootstrap(*rounds(3, pairs=5, n=2000, difference=0.0, run_sd=0.08, block_sd=0.02))
    assert (noisy.high - noisy.low) > 2 * (quiet.high - quiet.low)


def test_seeded_and_deterministic():
    data = rounds(7, pairs=4, n=500, difference=0.02, run_sd=0.02, block_sd=0.02)
    first, second = paired_bootstrap(*data, seed=11), paired_bootstrap(*data, seed=11)
    assert first == second
    assert first.low <= first.difference <= first.high and first.pairs == 4 and first.requests == 500


def test_pairs_must_hold_the_same_requests():
    with pytest.raises(ValueError, match="same requests"):
        paired_bootstrap([np.ones(3)], [np.ones(4)], [np.arange(3.0)])


def test_blocks_cut_the_trace_in_time():
    block = blocks_of(np.linspace(0, 10, 1000), block_s=1.0)
    assert block.max() + 1 == 10 and np.all(np.diff(block) >= 0)
    short = blocks_of(np.linspace(0, 2, 100), block_s=1.0)   # at least 10 blocks
    assert short.max() + 1 >= 10


def _records(policy: str, right: bool, seed: int, n: int = 400) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cls = "tight" if i % 3 == 0 else "loose"
        ok = bool(rng.random() < (0.9 if right else 0.5))
        out.append(Record(seq=i, cls=cls, policy=policy, t_s=i * 0.025, lateness_ms=0.0, outcome="200",
                          status=200, latency_ms=20.0 if ok else 80.0, deadline_ms=50.0, tradeoff=0.5,
                          variant="v", accuracy=0.8, correct=ok, in_time=ok, input_index=i % 50))
    return out[::-1]   # order must not matter: records pair by seq


def test_cell_comparison_from_records():
    runs = [{"tradeoff": _records("tradeoff", True, s), "random": _records("random", False, s + 100),
             "same": _records("same", True, s + 200)} for s in range(4)]
    result = compare_cell(runs, "tradeoff", "tight", resamples=1000)
    assert set(result) == {"random", "same"}
    assert set(result["random"]) == {"correct_in_time", "first_class_in_time", "utility"}
    for metric in result["random"].values():
        assert metric["verdict"] == "win" and metric["difference"] > 0 and metric["pairs"] == 4
    assert result["same"]["correct_in_time"]["verdict"] == "tie"
    assert result["random"]["correct_in_time"]["difference"] == pytest.approx(0.4, abs=0.06)
