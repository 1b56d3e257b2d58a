"""The labelled sample's two named halves: one to calibrate int8 on, one to measure on.

An int8 model calibrated on the very photos its accuracy is measured on is flattered, so
the 1000-image ImageNet sample is split once, by position in its sorted file list: the
even positions (classes 0, 2, ..., 998) calibrate, the odd ones (1, 3, ..., 999) measure.
Both halves are named in every card that uses them. A split by position is deterministic
on any copy of the folder and keeps each half spread over every class group (the sorted
list starts with 400 animal classes).
"""
from __future__ import annotations

from faasml.models.labelled import LabelledImage

HALVES = ("calibration", "evaluation")
HALF_RULES = {
    "calibration": "the even positions (0, 2, ...) of the sorted file list",
    "evaluation": "the odd positions (1, 3, ...) of the sorted file list",
}


def half(images: list[LabelledImage], name: str | None) -> list[LabelledImage]:
    """The named half of `images` (sorted by path, as read_labelled_folder returns them);
    None or "all": every image."""
    if name in (None, "all"):
        return images
    if name not in HALVES:
        raise ValueError(f"unknown half {name!r}; one of {', '.join(HALVES)} or all")
    start = HALVES.index(name)
    return images[start::2]


def describe(name: str | None, dataset: str) -> str:
    """How a card names the images a figure comes from."""
    if name in (None, "all"):
        return dataset
    return f"{dataset}, {name} half ({HALF_RULES[name]}, {{n}} images)"
