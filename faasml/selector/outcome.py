"""What one table decision saw, and the candidates built from it only when read.

A table decision ranks rows; the forwarder reads the first few ranked candidates and
`?explain=1` the whole table. Building all 500 `Candidate`s (with their reasons) per
request cost more than the decision itself, so `Ranking` and `CandidateList` build them
on first read, from a frozen copy of what the decision saw: later decisions rewrite the
table's rows, never this copy, so a late reader (explain, a test) sees this decision.
"""
from __future__ import annotations

from typing import AbstractSet, Iterator, Sequence, overload

import numpy as np

from faasml.selector.candidate import Candidate
from faasml.selector.params import SelectionRequest
from faasml.selector.predictor import Prediction
from faasml.selector.variant import Variant
from faasml.selector.verdicts import admission_verdict, health_reason, limit_reason


class Seen:
    """One decision's view of a table: rows, predictions, the request, its verdicts."""

    def __init__(self, variants: Sequence[Variant], predictions: list[Prediction],
                 request: SelectionRequest, down: AbstractSet[str], max_queue_per_slot: float,
                 max_queue_ms: float):
        self.variants = variants
        self.predictions = predictions       # a copy: the table's list moves on
        self.request = request
        self.down = down
        self.max_queue_per_slot = max_queue_per_slot
        self.max_queue_ms = max_queue_ms
        self.rows: np.ndarray | None = None       # the admitted rows, ascending; None: all
        self.guard_reasons: dict[int, str] | None = None   # rows kept out by the node budgets
        self.scores: np.ndarray | None = None     # by admitted position (tradeoff)
        self._built: dict[int, Candidate] | None = None   # (dicts made on first use: most
        # decisions build one candidate and keep no reason)
        self.winner: tuple[int, int] | None = None   # (row, position), known at ranking

    def candidate(self, row: int) -> Candidate:
        """The row's candidate, built once, with its score or the reason it is out."""
        if self._built is None:
            self._built = {}
        built = self._built.get(row)
        if built is None:
            built = self._built[row] = Candidate(self.variants[row], self.predictions[row])
            position = self._position(row)
            if position is None:
                built.excluded = self._reason(row, built)
            elif self.scores is not None:
                built.score = float(self.scores[position])
        return built

    def admitted_candidates(self) -> list[Candidate]:
        """A candidate for every admitted row, in registry order (for a policy that ranks
        candidates itself), built in one go: no row needs looking up."""
        rows = range(len(self.variants)) if self.rows is None else self.rows.tolist()
        built = [Candidate(self.variants[row], self.predictions[row]) for row in rows]
        self._built = dict(zip(rows, built))
        return built

    def kept_out(self, row: int, reason: str) -> None:
        """Record that the node budgets keep `row` out, and why."""
        if self.guard_reasons is None:
            self.guard_reasons = {}
        self.guard_reasons[row] = reason

    def candidate_unjudged(self, row: int) -> Candidate:
        """A fresh candidate for the row, neither scored nor judged, not kept: for the
        node budgets to read while the passes are still running."""
        return Candidate(self.variants[row], self.predictions[row])

    def _position(self, row: int) -> int | None:
        """The row's place among the admitted rows (where its score is); None if out."""
        if self.rows is None:
            return row
        if self.winner is not None and self.winner[0] == row:
            return self.winner[1]
        position = int(np.searchsorted(self.rows, row))
        return position if position < len(self.rows) and self.rows[position] == row else None

    def _reason(self, row: int, c: Candidate) -> str | None:
        request = self.request
        verdict = admission_verdict(c, request.max_latency_ms, self.max_queue_per_slot,
                                    self.max_queue_ms, pinned=False)
        return (limit_reason(c, request.min_accuracy, request.max_latency_ms)
                or health_reason(c, self.down)
                or (verdict[0] if verdict is not None else None)
                or (self.guard_reasons or {}).get(row))


class CandidateList(Sequence[Candidate]):
    """Every variant's candidate in registry order, built on first read."""

    def __init__(self, seen: Seen):
        self._seen = seen
        self._list: list[Candidate] | None = None

    def _all(self) -> list[Candidate]:
        if self._list is None:
            self._list = [self._seen.candidate(row) for row in range(len(self._seen.variants))]
        return self._list

    def __len__(self) -> int:
        return len(self._seen.variants)

    @overload
    def __getitem__(self, index: int) -> Candidate: ...
    @overload
    def __getitem__(self, index: slice) -> list[Candidate]: ...

    def __getitem__(self, index: int | slice) -> Candidate | list[Candidate]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._all())


class Ranking(Sequence[Candidate]):
    """The admitted candidates, best first: the winner at once, the order behind it (a
    full sort of the scores) only when something reads past the first."""

    def __init__(self, seen: Seen, winner: int):
        assert seen.scores is not None
        self._seen = seen
        self._winner = winner
        self._count = len(seen.scores)
        self._rows: list[int] | None = None

    def _ranked_rows(self) -> list[int]:
        if self._rows is None:
            # Best first, equal scores in registry order (stable, as `sorted` is); the
            # winner of a near tie moved to the front.
            by_score = np.argsort(-self._seen.scores, kind="stable")
            rows = self._seen.rows
            order = (by_score if rows is None else rows[by_score]).tolist()
            self._rows = [self._winner] + [row for row in order if row != self._winner]
        return self._rows

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Candidate: ...
    @overload
    def __getitem__(self, index: slice) -> list[Candidate]: ...

    def __getitem__(self, index: int | slice) -> Candidate | list[Candidate]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("ranking index out of range")
        row = self._winner if index == 0 else self._ranked_rows()[index]
        return self._seen.candidate(row)

    def __iter__(self) -> Iterator[Candidate]:
        return (self._seen.candidate(row) for row in self._ranked_rows())
