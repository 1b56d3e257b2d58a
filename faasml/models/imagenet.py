"""The 1000 ImageNet-1k classes, in classifier output order (sorted WordNet ids)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CLASSES_FILE = Path(__file__).parent / "data" / "imagenet_classes.tsv"


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    label: str


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    rows = []
    for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        index, wnid, label = line.split("\t")
        rows.append(ImageNetClass(int(index), wnid, label))
    # The file's order must be the sorted-wnid order classifiers are trained with.
    if [r.index for r in rows] != list(range(len(rows))) or \
            [r.wnid for r in rows] != sorted(r.wnid for r in rows):
        raise ValueError(f"{CLASSES_FILE}: rows must be numbered 0.. in sorted wnid order")
    return tuple(rows)


def imagenet_labels() -> list[str]:
    return [c.label for c in imagenet_classes()]


def wnid_index() -> dict[str, int]:
    return {c.wnid: c.index for c in imagenet_classes()}
