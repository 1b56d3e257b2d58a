"""Request bodies with what a right answer is: labelled photos, or the shipped sentences.

Images come from a labelled folder (`--data`, e.g. ../shared/data/imagenet-sample), read
with `faasml.models.labelled` (file `<wnid>_<label>.JPEG`; the class index is the wnid's
position among the sorted 1000 wnids), so the top-1 answer is checked against the truth.
Sentences come from `faasml/models/data/sentence_pairs.tsv`; there is no label for an
embedding, so a text answer counts as correct when it is HTTP 200 with a 384-d embedding.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


@dataclass(frozen=True)
class Input:
    body: bytes
    content_type: str
    label: int | None      # true ImageNet class index; None for sentences
    name: str


def image_inputs(folder: Path | str, limit: int | None = None) -> list[Input]:
    """At most `limit` labelled photos spread evenly over the sorted folder (all classes groups)."""
    from faasml.models.labelled import read_labelled_folder, spread_subset

    images = spread_subset(read_labelled_folder(folder), limit)
    return [Input(img.path.read_bytes(), "image/jpeg" if img.path.suffix.lower() in (".jpg", ".jpeg")
                  else f"image/{img.path.suffix.lower().lstrip('.')}", img.index, img.path.name)
            for img in images]


def sentence_inputs(limit: int | None = None) -> list[Input]:
    from faasml.models.agreement import load_pairs

    sentences: list[str] = []
    for pair in load_pairs():
        for text in (pair.first, pair.second):
            if text not in sentences:
                sentences.append(text)
    if limit:
        sentences = sentences[:limit]
    return [Input(s.encode("utf-8"), "text/plain; charset=utf-8", None, s[:40]) for s in sentences]


def load_inputs(kind: str, data: Path | str, limit: int | None = None) -> list[Input]:
    if kind == "images":
        return image_inputs(data, limit)
    if kind == "sentences":
        return sentence_inputs(limit)
    raise ValueError(f"unknown input kind {kind!r}")


def judge(item: Input, status: int, body: bytes) -> bool:
    """Is this answer right? Images: top-1 index equals the label. Sentences: a 384-d embedding."""
    if status != 200:
        return False
    import json

    try:
        answer = json.loads(body)
    except ValueError:
        return False
    if not isinstance(answer, dict):
        return False
    if item.label is not None:
        predictions = answer.get("predictions")
        return bool(predictions) and isinstance(predictions[0], dict) and \
            predictions[0].get("index") == item.label
    embedding = answer.get("embedding")
    return isinstance(embedding, list) and len(embedding) == EMBEDDING_DIM
