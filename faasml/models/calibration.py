"""Calibration for static int8: the recorded activation ranges of the reference models,
and the photos they (or a user's model's) come from.

The reference EfficientNet-Lite int8 files are quantized from ranges recorded once per
family in `data/calibration/<family>.json` by `faasml models calibrate --data
<labelled sample>`: the calibration half of the 1000-image ImageNet sample (split.py),
through the executor's own preprocessing, by the recipe `IMAGE_RECIPE` that
`faasml models ladder` measured best. A build reads the ranges and runs no inference, so
it needs no photos and gives the same file on every x86 CPU (quantize.py). Where no
ranges are recorded (a new family), the build falls back to the 8 scikit-image photos
below and says so in the card.
`chelsea` and `coffee` are left out of those on purpose: the tests check int8 against
fp32 on them, and calibrating on a test image would flatter the int8 model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faasml.models.quantize import StaticRecipe
from faasml.models.weights import package_version

# What `faasml models ladder` measured best for EfficientNet-Lite on the sample's halves
# (docs/models.md, "The int8 ladder"); `models add` uses it for users' image classifiers.
IMAGE_RECIPE = StaticRecipe("minmax", keep_fp32=("classifier",))
CALIBRATION_PHOTOS = 128        # of the calibration half, spread evenly over its classes
RANGES_DIR = Path(__file__).parent / "data" / "calibration"

CALIBRATION_IMAGES = (
    "astronaut.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png",
    "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "camera.png",
)
EXCLUDED_TEST_IMAGES = ("chelsea.png", "coffee.png")


def skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def calibration_files(names: tuple[str, ...] = CALIBRATION_IMAGES) -> list[Path]:
    folder = skimage_data_dir()
    paths = [folder / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"scikit-image data files missing: {', '.join(missing)}")
    return paths


def calibration_feeds(fp32_variant: Any, files: list[Path]) -> list[dict[str, np.ndarray]]:
    """One feed per photo, preprocessed by the loaded fp32 variant exactly as it serves."""
    name = fp32_variant.input_names[0]
    return [{name: fp32_variant.image_tensor(path.read_bytes())} for path in files]


def calibration_source(files: list[Path]) -> str:
    names = ", ".join(p.stem for p in files)
    return (f"{len(files)} photos shipped with scikit-image=={package_version('scikit-image')} "
            f"({names}); chelsea and coffee excluded (test images)")


def ranges_file(family: str) -> Path:
    return RANGES_DIR / f"{family}.json"


def load_ranges(family: str) -> dict[str, Any] | None:
    """The recorded ranges of a family (with their recipe and provenance), or None."""
    import json

    path = ranges_file(family)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def save_ranges(family: str, record: dict[str, Any]) -> Path:
    import json

    from faasml.models.files import atomic_path

    path = ranges_file(family)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path
