"""A variant as one decision saw it: its prediction, its score, and why it may be out.

Built only where read (the ranked ones the forwarder tries, every one for `?explain=1`):
a decision ranks rows of numpy columns (predict.py, policies.py)."""
from __future__ import annotations

from dataclasses import dataclass

from faasml.selector.engine.predict import Prediction
from faasml.selector.engine.variant import Variant


@dataclass(slots=True)
class Candidate:
    variant: Variant
    prediction: Prediction
    score: float | None = None     # set by score-based policies (higher is better)
    excluded: str | None = None    # why it cannot take this request (explain=1 shows it)

    @property
    def key(self) -> str:
        return self.variant.id

    def as_dict(self) -> dict[str, object]:
        row: dict[str, object] = {
            "variant": self.variant.id, "node_class": self.variant.node_class,
            "precision": self.variant.precision, "accuracy": self.variant.accuracy,
            "accuracy_source": self.variant.accuracy_source,
        }
        row.update(self.prediction.as_dict())
        row["score"] = None if self.score is None else round(self.score, 4)
        row["excluded"] = self.excluded
        return row
