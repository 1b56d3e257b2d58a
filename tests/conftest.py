"""Fixtures shared across the suite."""
from __future__ import annotations

import pytest

from tests.executor.tiny_models import make_image_variant, make_tensor_variant, make_text_variant
from tests.fuzzing import load_profile

load_profile()   # hypothesis: few examples by default, many under `make fuzz`


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny real ONNX variants (image + text) with cards, generated once per session."""
    folder = tmp_path_factory.mktemp("tiny-models")
    return {"image": make_image_variant(folder), "text": make_text_variant(folder),
            "tensor": make_tensor_variant(folder)}


@pytest.fixture(scope="session")
def reference_models():
    """The real reference variants in models/: built by `faasml models build` when absent,
    reused (a fast no-op) when `make models` already ran."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "faasml", "models", "build", "--out", str(root / "models")],
                   check=True, cwd=root)
    return root / "models"
