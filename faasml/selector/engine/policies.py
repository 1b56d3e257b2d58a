"""Selection policies: the admitted candidates of one request, ranked (best first).

Mechanics (hard limits, health, admission, in-flight accounting, retries) live elsewhere;
a policy only orders what it is given, and the forwarder walks that order on failure. A
policy is a small class with one method, `rank(view, request) -> Ranked`, chosen by name
(`POLICIES`); the decider knows none by type. The candidates come as numpy columns (a
`View`), so one ranking costs a few vector operations whatever the registry's size.
Randomness comes from an injected `random.Random`, so tests and the simulator script it.
`tradeoff` is ours; the others are the baselines the evaluation compares against.
"""
from __future__ import annotations

import itertools
import math
import random
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from faasml.selector.engine.predict import AGED, UNKNOWN
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.settings import PolicySettings

# Below these spreads, differences are not worth a full point of score: without the
# floors, a 5% latency gap between near-identical variants would count as much as a
# 10x gap, and 0.1 points of accuracy as much as 10.
ACCURACY_RANGE_FLOOR = 0.01
LOG_LATENCY_RANGE_FLOOR = math.log(2.0)
# The origin prototype's latency buckets (ms); docs/architecture.md, "Selection model".
ORIGIN_BUCKETS_MS = np.array([10, 30, 60, 90, 150, 240, 390, 630, 1020], dtype=float)


class View:
    """The admitted candidates of one decision as columns: position i is the i-th
    admitted variant in registry order (sorted by name). Read-only for policies.

    `source` holds the task's columns (engine/predict.TaskTable: accuracy, log_idle,
    log_total, idle_ms, total_ms, utilization), `rows` the admitted rows of it (None:
    all). A column is gathered for the admitted rows only when a policy reads it, and
    `value` reads one position without gathering any."""

    __slots__ = ("_source", "rows", "keys", "_ranges", "_columns", "size", "_kept", "now", "dispatching")

    def __init__(self, source: Any, rows: np.ndarray | None, keys: Sequence[str],
                 ranges: Callable[[], tuple[float, float, float, float]] | None = None,
                 kept: dict[str, Any] | None = None, now: float = 0.0, dispatching: bool = True):
        self.now = now                    # the decision's time (seconds)
        self.dispatching = dispatching    # the first one will be sent (not an explain)
        self._source = source
        self.rows = rows
        self.keys = keys                  # variant ids, by position
        self._ranges = ranges
        self._columns: dict[str, np.ndarray] = {}
        self.size = len(keys)
        # Derived figures a policy may keep while the admitted set and its idle latencies
        # stand still (the engine hands the same dict to views of the same rows).
        self._kept = kept

    def kept(self, name: str, default: Any = None) -> Any:
        """What a policy kept under `name` for views of the same rows (`keep`), while
        nothing it may read (the ranges, accuracies, idle latencies) has moved."""
        return default if self._kept is None else self._kept.get(name, default)

    def keep(self, name: str, value: Any) -> Any:
        """Keep `value` (derived only from ranges, accuracies and idle latencies) for
        later views of the same rows; returns it."""
        if self._kept is not None:
            self._kept[name] = value
        return value

    def column(self, name: str) -> np.ndarray:
        column = self._columns.get(name)
        if column is None:
            full = getattr(self._source, name)
            column = self._columns[name] = full if self.rows is None else full[self.rows]
        return column

    def value(self, name: str, position: int) -> float:
        full = getattr(self._source, name)
        return float(full[position if self.rows is None else self.rows[position]])

    accuracy = property(lambda self: self.column("accuracy"))          # declared, 0..1
    log_idle = property(lambda self: self.column("log_idle"))          # log of the idle latency (rtt + service), ms
    log_total = property(lambda self: self.column("log_total"))        # log of the predicted latency under load
    idle_ms = property(lambda self: self.column("idle_ms"))
    total_ms = property(lambda self: self.column("total_ms"))
    utilization = property(lambda self: self.column("utilization"))    # in flight per slot
    unknown = property(lambda self: self.column("unknown"))            # 0 measured here, 1 aged, 2 never

    def ranges(self) -> tuple[float, float, float, float]:
        """(lowest, highest accuracy, lowest, highest log idle latency) of the view."""
        if self._ranges is not None:
            return self._ranges()
        return (float(self.accuracy.min()), float(self.accuracy.max()),
                float(self.log_idle.min()), float(self.log_idle.max()))


class Ranked:
    """A policy's order over a view's positions: the first at once, the rest (a full
    sort) only when something reads past the first (a fallback, explain)."""

    __slots__ = ("first", "scores", "_rest", "_order", "exploring")

    def __init__(self, first: int, order: Callable[[], Sequence[int]], scores: np.ndarray | None = None,
                 exploring: bool = False):
        self.first = first
        self.scores = scores          # higher is better, by position (score-based policies)
        self._rest = order
        self._order: list[int] | None = None
        self.exploring = exploring    # the first was chosen to learn its latency, not on its score

    @classmethod
    def of(cls, order: Sequence[int], scores: np.ndarray | None = None) -> "Ranked":
        order = list(order)
        return cls(order[0], lambda: order, scores)

    def order(self) -> list[int]:
        """Every position, best first (the first one at the front)."""
        if self._order is None:
            rest = [int(p) for p in self._rest() if p != self.first]
            self._order = [self.first] + rest
        return self._order


def _by(*keys: np.ndarray) -> list[int]:
    """Positions sorted by the keys (the first most significant), position breaking ties."""
    size = len(keys[0])
    return np.lexsort((np.arange(size),) + tuple(reversed(keys))).tolist()


class Policy:
    name: ClassVar[str] = ""

    def __init__(self, rng: random.Random, settings: PolicySettings):
        self.rng = rng
        self.settings = settings

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        raise NotImplementedError


class TradeoffPolicy(Policy):
    """Ours: score = w * accuracy + (1 - w) * speed, w being the client's trade-off.

    Accuracy is min-max scaled over the candidates. Speed is the log of the *queue-aware*
    predicted latency, on the scale the candidates span when idle: 1 for the fastest idle
    variant, 0 for the slowest idle one, and below 0 once a variant's queue makes it
    slower than that, so load keeps lowering a score instead of saturating at the bottom
    of a min-max scale. Near-ties go to the less loaded of two random picks (power of two
    choices), so concurrent requests spread instead of herding onto one variant.
    """

    name = "tradeoff"
    tie_margin = 0.02
    # Exploration: a variant this selector has never seen answer (its figure is a profile,
    # perhaps from another machine, or an annotation) is tried now and then, one whose
    # observations aged out (or whose profile was measured on this kind of machine) more
    # rarely, until its latency here is known (a dozen answers replace the profile
    # entirely, predict.py). The cost is bounded: one request in EXPLORE_SHARE at most,
    # one exploration of an unknown variant per task every `explore_unknown_s` (of an aged
    # one, every `explore_aged_s`), one request at a time per variant, and only requests
    # that set no latency limit; the answer says so (X-Faasml-Exploring).
    EXPLORE_SHARE = 0.1

    def __init__(self, rng: random.Random, settings: PolicySettings):
        super().__init__(rng, settings)
        self._explored: dict[tuple[str, str], float] = {}   # (unknown | aged, task) -> last explored

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        if request.max_latency_ms is not None and self.settings.sure_share > 0:
            scores = self.limited_scores(view, request.tradeoff, request.max_latency_ms)
        else:
            scores = self.scores(view, request.tradeoff)
        best = int(scores.argmax())
        tied = (scores >= scores[best] - self.tie_margin).nonzero()[0]
        if len(tied) >= 2:
            best = self._draw(view, scores, tied.tolist())
        explored = None
        if request.max_latency_ms is None and view.size > 1:
            explored = self._explore(view, best, request.task or "")
        order = lambda: np.argsort(-scores, kind="stable").tolist()  # noqa: E731
        if explored is not None:
            return Ranked(explored, order, scores, exploring=True)
        return Ranked(best, order, scores)

    def _explore(self, view: View, best: int, task: str) -> int | None:
        """A variant due for exploration (not known here, idle, not the best), or None.
        Nine decisions in ten stop at the first line: exploring costs the others nothing."""
        if self.rng.random() >= self.EXPLORE_SHARE:
            return None
        settings, now, explored = self.settings, view.now, self._explored
        unknown_due = (settings.explore_unknown_s > 0
                       and now - explored.get(("unknown", task), float("-inf")) >= settings.explore_unknown_s)
        aged_due = (settings.explore_aged_s > 0
                    and now - explored.get(("aged", task), float("-inf")) >= settings.explore_aged_s)
        if not unknown_due and not aged_due:
            return None
        unknown = view.unknown
        if not unknown.any():
            return None
        wanted = (unknown == UNKNOWN) if unknown_due else np.zeros(view.size, dtype=bool)
        if aged_due:
            wanted = wanted | (unknown == AGED)
        wanted &= view.utilization == 0
        wanted[best] = False
        due = wanted.nonzero()[0]
        if not len(due):
            if view.dispatching:   # none of that kind to explore now: look again next interval
                for kind, was_due in (("unknown", unknown_due), ("aged", aged_due)):
                    if was_due:
                        explored[(kind, task)] = now
            return None
        chosen = int(due[int(self.rng.random() * len(due))])
        if view.dispatching:
            explored[("unknown" if unknown[chosen] == UNKNOWN else "aged", task)] = now
        return chosen

    @staticmethod
    def scales(view: View) -> tuple[np.ndarray, float, float]:
        """(accuracy on its range's scale, 0..1; the highest log idle latency; its range)."""
        acc_low, acc_high, idle_low, idle_high = view.ranges()
        acc_span = max(acc_high - acc_low, ACCURACY_RANGE_FLOOR)
        idle_span = max(idle_high - idle_low, LOG_LATENCY_RANGE_FLOOR)
        return (view.accuracy - acc_low) / acc_span, idle_high, idle_span

    def scores(self, view: View, weight: float) -> np.ndarray:
        kept = view.kept(self.name, None)
        accuracy, idle_high, idle_span = kept if kept is not None else view.keep(self.name, self.scales(view))
        speed = (1.0 - weight) / idle_span
        # w * accuracy + speed * (idle_high - log_total), with one temporary fewer
        scores = view.log_total * -speed
        scores += speed * idle_high
        scores += weight * accuracy
        return scores

    # With a limit, accuracy still breaks ties among the variants sure to meet it, even
    # at tradeoff 0: the client asked for an answer within its limit, and the more
    # accurate of two that both make it serves it better.
    LIMITED_ACCURACY_FLOOR = 0.1

    def limited_scores(self, view: View, weight: float, limit_ms: float) -> np.ndarray:
        """Ours for a request with a latency limit (`sure_share` on): speed is headroom
        against the limit, full for a variant predicted within `sure_share` of it and
        falling to 0 at the limit; accuracy weighs at least LIMITED_ACCURACY_FLOOR."""
        kept = view.kept(self.name, None)
        accuracy, _, _ = kept if kept is not None else view.keep(self.name, self.scales(view))
        sure = self.settings.sure_share
        headroom = np.clip((limit_ms - view.total_ms) / (limit_ms * max(1.0 - sure, 1e-9)), 0.0, 1.0)
        return (1.0 - weight) * headroom + max(weight, self.LIMITED_ACCURACY_FLOOR) * accuracy

    def _draw(self, view: View, scores: np.ndarray, tied: list[int]) -> int:
        """Of the near-tied (best first, equal scores in registry order), the less loaded
        of two taken at random: a uniform pair from two draws (random.sample cost more
        than the rest of the pick), the first on equal load."""
        if len(tied) == 2:   # the usual tie: no sort
            a, b = tied
            if scores[b] > scores[a]:
                tied = [b, a]
        else:
            values = scores[tied].tolist()   # stable: registry order on equal scores
            tied = [position for _, position in sorted(zip((-v for v in values), tied))]
        count = len(tied)
        i = int(self.rng.random() * count)
        j = int(self.rng.random() * (count - 1))
        first, second = tied[i], tied[j + 1 if j >= i else j]
        load = lambda p: (view.value("utilization", p), view.value("total_ms", p))  # noqa: E731
        return second if load(second) < load(first) else first


class MostAccuratePolicy(Policy):
    """Static baseline: always the most accurate variant (fastest among equals)."""

    name = "most-accurate"

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        return Ranked.of(_by(-view.accuracy, view.idle_ms))


class FastestPolicy(Policy):
    """Static baseline: always the variant with the lowest idle latency (round trip included)."""

    name = "fastest"

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        return Ranked.of(_by(view.idle_ms, -view.accuracy))


class RandomPolicy(Policy):
    """Baseline: uniform random order."""

    name = "random"

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        order = list(range(view.size))
        self.rng.shuffle(order)
        return Ranked.of(order)


class RoundRobinPolicy(Policy):
    """Baseline: each task's variants in turn, by name."""

    name = "round-robin"

    def __init__(self, rng: random.Random, settings: PolicySettings):
        super().__init__(rng, settings)
        self._turns: dict[str, itertools.count] = {}

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        ordered = sorted(range(view.size), key=lambda p: view.keys[p])
        turn = next(self._turns.setdefault(request.task or "", itertools.count()))
        start = turn % len(ordered)
        return Ranked.of(ordered[start:] + ordered[:start])


class WeightedBucketPolicy(Policy):
    """The origin prototype (docs/architecture.md, "Selection model"): w_acc * acc/acc_max
    + w_lat * bucket(latency), latency = round trip + service time, with no queue term: it
    has no live load signal.
    """

    name = "weighted-bucket"

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        best_accuracy = float(view.accuracy.max()) or 1.0
        buckets = np.searchsorted(ORIGIN_BUCKETS_MS, view.idle_ms, side="left")
        speed = 1.0 - buckets / len(ORIGIN_BUCKETS_MS)
        scores = request.tradeoff * view.accuracy / best_accuracy + (1.0 - request.tradeoff) * speed
        return Ranked.of(_by(-scores), scores)


class SloGreedyPolicy(Policy):
    """INFaaS-style: the most accurate variant whose predicted latency meets the limit;
    if none does (or no limit is set and nothing qualifies), the fastest first.
    """

    name = "slo-greedy"

    def rank(self, view: View, request: SelectionRequest) -> Ranked:
        limit = request.max_latency_ms if request.max_latency_ms is not None else math.inf
        missing = (view.total_ms > limit).astype(float)
        # Those meeting the limit first, most accurate first; then the rest, fastest first.
        return Ranked.of(_by(missing, np.where(missing > 0, 0.0, -view.accuracy), view.total_ms))


POLICIES: dict[str, type[Policy]] = {cls.name: cls for cls in (
    TradeoffPolicy, MostAccuratePolicy, FastestPolicy, RandomPolicy, RoundRobinPolicy,
    WeightedBucketPolicy, SloGreedyPolicy)}
DEFAULT_POLICY = TradeoffPolicy.name


def make_policies(rng: random.Random, settings: PolicySettings) -> dict[str, Policy]:
    """One instance of every policy, sharing one random source."""
    return {name: cls(rng, settings) for name, cls in POLICIES.items()}
