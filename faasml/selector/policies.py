"""Selection policies: candidates + request -> ranked list (best first).

Mechanics (hard limits, saturation, in-flight accounting, retries) live elsewhere; a
policy only orders the candidates it is given, and the forwarder walks that order on
failure. Randomness comes from an injected `random.Random` so tests script it.
`tradeoff` is ours; the others are the baselines the evaluation compares against.
"""
from __future__ import annotations

import bisect
import itertools
import math
import random
import threading
from typing import Callable, ClassVar, Sequence, TypeVar

import numpy as np

from faasml.selector.candidate import Candidate
from faasml.selector.params import SelectionRequest

# Below these spreads, differences are not worth a full point of score: without the
# floors, a 5% latency gap between near-identical variants would count as much as a
# 10x gap, and 0.1 points of accuracy as much as 10.
ACCURACY_RANGE_FLOOR = 0.01
LOG_LATENCY_RANGE_FLOOR = math.log(2.0)
T = TypeVar("T")
# The origin prototype's latency buckets (ms); docs/architecture.md, "Selection model".
ORIGIN_BUCKETS_MS = (10, 30, 60, 90, 150, 240, 390, 630, 1020)


def _score(candidate: Candidate) -> float:
    return candidate.score  # type: ignore[return-value]  # set just before sorting


class Policy:
    name: ClassVar[str] = ""

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.Random()

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        raise NotImplementedError


class TradeoffPolicy(Policy):
    """Ours: score = w * accuracy + (1 - w) * speed, w being the client's trade-off.

    Accuracy is min-max scaled over the candidates. Speed is the log of the *queue-aware*
    predicted latency, on the scale the candidates span when idle: 1 for the fastest idle
    variant, 0 for the slowest idle one, and below 0 once a variant's queue makes it slower
    than that, so load keeps lowering a score instead of saturating at the bottom of a
    min-max scale. Near-ties go to the less loaded of two random picks (power of two
    choices), so concurrent requests spread instead of herding onto one variant.
    """

    name = "tradeoff"
    tie_margin = 0.02

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        if not candidates:
            return []
        weight = request.tradeoff
        # One pass for the ranges; the logs come with the predictions (computed once
        # per change of a variant's load, not once per decision).
        acc_low = acc_high = candidates[0].variant.accuracy
        idle_low = idle_high = candidates[0].prediction.log_idle_ms
        for candidate in candidates:
            accuracy, idle = candidate.variant.accuracy, candidate.prediction.log_idle_ms
            if accuracy < acc_low:
                acc_low = accuracy
            elif accuracy > acc_high:
                acc_high = accuracy
            if idle < idle_low:
                idle_low = idle
            elif idle > idle_high:
                idle_high = idle
        accuracy_weight, speed_weight = self.weights(weight, acc_low, acc_high, idle_low, idle_high)
        for candidate in candidates:
            candidate.score = (accuracy_weight * (candidate.variant.accuracy - acc_low)
                               + speed_weight * (idle_high - candidate.prediction.log_total_ms))
        ranked = sorted(candidates, key=_score, reverse=True)
        return self._break_near_tie(ranked)

    @staticmethod
    def spans(acc_low: float, acc_high: float, idle_low: float, idle_high: float) -> tuple[float, float]:
        """The ranges the two weights divide by, each kept off zero."""
        return max(acc_high - acc_low, ACCURACY_RANGE_FLOOR), max(idle_high - idle_low, LOG_LATENCY_RANGE_FLOOR)

    @staticmethod
    def weights(weight: float, acc_low: float, acc_high: float, idle_low: float,
                idle_high: float) -> tuple[float, float]:
        """(per point of accuracy, per unit of log latency) for these ranges."""
        acc_span, idle_span = TradeoffPolicy.spans(acc_low, acc_high, idle_low, idle_high)
        return weight / acc_span, (1.0 - weight) / idle_span

    @staticmethod
    def score_columns(weight: float, acc_shift: np.ndarray, log_total: np.ndarray, idle_high: float,
                      spans: tuple[float, float]) -> np.ndarray:
        """`rank`'s scores for columns (the decider's table): `acc_shift` is accuracy minus
        the lowest accuracy, `spans` what `spans` gives for the columns' ranges (kept with
        them). The same operations in the same order, so the same floats."""
        return weight / spans[0] * acc_shift + (1.0 - weight) / spans[1] * (idle_high - log_total)

    def _break_near_tie(self, ranked: list[Candidate]) -> list[Candidate]:
        best = ranked[0].score
        tied = [c for c in ranked if c.score >= best - self.tie_margin]
        if len(tied) < 2:
            return ranked
        winner = self.pick(tied, lambda c: (c.prediction.utilization, c.prediction.total_ms))
        return [winner] + [c for c in ranked if c is not winner]

    def pick(self, tied: list[T], load: Callable[[T], tuple[float, float]]) -> T:
        """Of the near-tied (best first), the less loaded of two taken at random: a
        uniform pair from two draws (random.sample cost more than the rest of the pick,
        a third of a decision's tail at 50 variants), the first on equal load."""
        count = len(tied)
        i = int(self.rng.random() * count)
        j = int(self.rng.random() * (count - 1))
        first, second = tied[i], tied[j + 1 if j >= i else j]
        return second if load(second) < load(first) else first


class MostAccuratePolicy(Policy):
    """Static baseline: always the most accurate variant (fastest among equals)."""

    name = "most-accurate"

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (-c.variant.accuracy, c.prediction.idle_ms, c.key))


class FastestPolicy(Policy):
    """Static baseline: always the variant with the lowest idle latency (round trip included)."""

    name = "fastest"

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (c.prediction.idle_ms, -c.variant.accuracy, c.key))


class RandomPolicy(Policy):
    """Baseline: uniform random order."""

    name = "random"

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        ranked = list(candidates)
        self.rng.shuffle(ranked)
        return ranked


class RoundRobinPolicy(Policy):
    """Baseline: each task's variants in turn, by name."""

    name = "round-robin"

    def __init__(self, rng: random.Random | None = None):
        super().__init__(rng)
        self._counters: dict[str, itertools.count] = {}
        self._lock = threading.Lock()

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        ordered = sorted(candidates, key=lambda c: c.key)
        if not ordered:
            return []
        with self._lock:
            turn = next(self._counters.setdefault(request.task or "", itertools.count()))
        start = turn % len(ordered)
        return ordered[start:] + ordered[:start]


class WeightedBucketPolicy(Policy):
    """The origin prototype (docs/architecture.md, "Selection model"): w_acc * acc/acc_max
    + w_lat * bucket(latency), latency = round trip + service time, with no queue term: it
    has no live load signal.
    """

    name = "weighted-bucket"

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        if not candidates:
            return []
        best_accuracy = max(c.variant.accuracy for c in candidates) or 1.0
        for candidate in candidates:
            bucket = bisect.bisect_left(ORIGIN_BUCKETS_MS, candidate.prediction.idle_ms)
            speed = 1.0 - bucket / len(ORIGIN_BUCKETS_MS)
            candidate.score = (request.tradeoff * candidate.variant.accuracy / best_accuracy
                               + (1.0 - request.tradeoff) * speed)
        return sorted(candidates, key=lambda c: (-c.score, c.key))


class SloGreedyPolicy(Policy):
    """INFaaS-style: the most accurate variant whose predicted latency meets the limit;
    if none does (or no limit is set and nothing qualifies), the fastest first.
    """

    name = "slo-greedy"

    def rank(self, candidates: Sequence[Candidate], request: SelectionRequest) -> list[Candidate]:
        limit = request.max_latency_ms if request.max_latency_ms is not None else math.inf
        meeting = [c for c in candidates if c.prediction.total_ms <= limit]
        missing = [c for c in candidates if c.prediction.total_ms > limit]
        meeting.sort(key=lambda c: (-c.variant.accuracy, c.prediction.total_ms, c.key))
        missing.sort(key=lambda c: (c.prediction.total_ms, c.key))
        return meeting + missing


POLICIES: dict[str, type[Policy]] = {cls.name: cls for cls in (
    TradeoffPolicy, MostAccuratePolicy, FastestPolicy, RandomPolicy, RoundRobinPolicy,
    WeightedBucketPolicy, SloGreedyPolicy)}
DEFAULT_POLICY = TradeoffPolicy.name


def make_policy(name: str, rng: random.Random | None = None) -> Policy:
    try:
        return POLICIES[name](rng)
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None
