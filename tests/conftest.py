"""Fixtures shared across the suite."""
from __future__ import annotations

import pytest

from tests.executor.tiny_models import make_image_variant, make_text_variant


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny real ONNX variants (image + text) with cards, generated once per session."""
    folder = tmp_path_factory.mktemp("tiny-models")
    return {"image": make_image_variant(folder), "text": make_text_variant(folder)}
