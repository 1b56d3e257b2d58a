"""Reading a labelled image folder: which file shows which ImageNet class.

Two layouts are accepted:
- flat: `<wnid>_<label>.<ext>` (e.g. `n02124075_Egyptian_cat.JPEG`), as in the shared
  1000-image ImageNet sample;
- class folders: `<wnid>/<anything>.<ext>`, as in the ImageNet training layout.
The class index is the position of the wnid among the sorted 1000 wnids.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faasml.models.imagenet import wnid_index

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".webp")


class LabelledFolderError(ValueError):
    """The folder is missing, empty, or holds files whose class cannot be told."""


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    index: int  # true class index


def _wnid_of(path: Path, root: Path) -> str:
    if path.parent != root:
        return path.parent.name
    return path.name.split("_", 1)[0]


def read_labelled_folder(root: Path | str) -> list[LabelledImage]:
    """All images under `root` with their true class, sorted by path (deterministic)."""
    root = Path(root)
    if not root.is_dir():
        raise LabelledFolderError(f"{root} is not a folder")
    index = wnid_index()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise LabelledFolderError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    unknown = [p for p in files if _wnid_of(p, root) not in index]
    if unknown:
        raise LabelledFolderError(
            f"{len(unknown)} files in {root} are not named <wnid>_<label>.<ext> nor inside a "
            f"<wnid>/ folder of a known ImageNet class, e.g. {unknown[0].relative_to(root)}")
    return [LabelledImage(p, index[_wnid_of(p, root)]) for p in files]


def spread_subset(images: list[LabelledImage], limit: int | None) -> list[LabelledImage]:
    """At most `limit` images, evenly spaced, so a quick run still covers all class groups
    (the sorted list starts with 300 animal classes)."""
    if not limit or limit >= len(images):
        return images
    step = len(images) / limit
    return [images[int(i * step)] for i in range(limit)]
