"""Calibration inputs for static int8 quantization: real photos scikit-image ships.

Real photos (not noise) give activation ranges like the ones served. They go through the
executor's own decode + preprocess (via the fp32 variant's `image_tensor`, with the Pillow
resize the int8 files were first built with: build_image.py), so the ranges are
calibrated on the tensors the int8 model sees.
`chelsea` and `coffee` are left out on purpose: the tests check int8 against fp32 on them,
and calibrating on a test image would flatter the int8 model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faasml.models.weights import package_version

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
