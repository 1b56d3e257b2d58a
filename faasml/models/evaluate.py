"""Top-1/top-5 of an image variant on a labelled folder, through the executor's own pipeline.

`classify` is the served code path (`LoadedVariant.classify`: decode + preprocess + run +
postprocess), so the figure describes what clients get, not a separate eval pipeline.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

from faasml.models.accuracy import SAMPLE_DATASET
from faasml.models.labelled import LabelledImage

Classify = Callable[..., list[dict[str, Any]]]  # (image bytes, top_k=5) -> predictions
OnProgress = Callable[[int, int], None]          # (done, total)


@dataclass
class EvalResult:
    n: int = 0
    top1_hits: int = 0
    top5_hits: int = 0
    seconds: float = 0.0
    top1_predictions: list[int] = field(default_factory=list)  # per image, in order
    top1_correct: list[bool] = field(default_factory=list)

    @property
    def top1(self) -> float:
        return self.top1_hits / self.n if self.n else float("nan")

    @property
    def top5(self) -> float:
        return self.top5_hits / self.n if self.n else float("nan")

    @staticmethod
    def standard_error(p: float, n: int) -> float:
        """Binomial standard error of a proportion: sqrt(p(1-p)/n)."""
        return math.sqrt(p * (1 - p) / n) if n else float("nan")

    @property
    def top1_stderr(self) -> float:
        return self.standard_error(self.top1, self.n)

    @property
    def top5_stderr(self) -> float:
        return self.standard_error(self.top5, self.n)

    def add(self, true_index: int, predicted: list[int]) -> None:
        self.n += 1
        correct = bool(predicted) and predicted[0] == true_index
        self.top1_hits += correct
        self.top5_hits += true_index in predicted[:5]
        self.top1_predictions.append(predicted[0] if predicted else -1)
        self.top1_correct.append(correct)


def paired_comparison(reference: EvalResult, candidate: EvalResult) -> dict[str, Any]:
    """How an int8 variant differs from its fp32 base on the *same* images.

    Per-figure standard errors (~1.3 points at n=1000) overstate the uncertainty of a
    difference between two models measured on the same images; the discordant counts
    (images only one of them gets right) are what a difference rests on (McNemar).
    """
    if reference.n != candidate.n:
        raise ValueError("paired comparison needs both models evaluated on the same images")
    pairs = list(zip(reference.top1_correct, candidate.top1_correct))
    same = sum(a == b for a, b in zip(reference.top1_predictions, candidate.top1_predictions))
    return {"n": reference.n,
            "top1_agreement": round(same / reference.n, 4) if reference.n else float("nan"),
            "only_reference_correct": sum(a and not b for a, b in pairs),
            "only_candidate_correct": sum(b and not a for a, b in pairs)}


def evaluate(classify: Classify, images: list[LabelledImage],
             on_progress: OnProgress | None = None) -> EvalResult:
    result = EvalResult()
    start = time.perf_counter()
    for done, image in enumerate(images, 1):
        predictions = classify(image.path.read_bytes(), top_k=5)
        result.add(image.index, [int(p["index"]) for p in predictions])
        if on_progress:
            on_progress(done, len(images))
    result.seconds = time.perf_counter() - start
    return result


def measurement_record(result: EvalResult, onnx_sha256: str, command: str,
                       dataset: str = SAMPLE_DATASET) -> dict[str, Any]:
    """What `--record` keeps per variant (and what cards carry as `accuracy.measured`)."""
    return {
        "top1": round(result.top1, 4),
        "top5": round(result.top5, 4),
        "n": result.n,
        "top1_stderr": round(result.top1_stderr, 4),
        "top5_stderr": round(result.top5_stderr, 4),
        "dataset": dataset,
        "date": date.today().isoformat(),
        "onnx_sha256": onnx_sha256,
        "command": command,
    }
