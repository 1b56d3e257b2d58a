from __future__ import annotations

import io

import pytest
from PIL import Image

from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService


def loaded_service(model, **limits) -> ExecutorService:
    service = ExecutorService(ExecutorConfig(model=str(model), **limits))
    service.load()
    assert service.variant is not None, service.load_error
    return service


@pytest.fixture(scope="session")
def image_service(tiny_models):
    return loaded_service(tiny_models["image"], max_body_bytes=200_000, max_image_pixels=1_000_000)


@pytest.fixture(scope="session")
def tensor_service(tiny_models):
    return loaded_service(tiny_models["tensor"])


@pytest.fixture(scope="session")
def text_service(tiny_models):
    return loaded_service(tiny_models["text"], max_batch=4, max_text_chars=1000)


def encode(colour, fmt="JPEG", size=(32, 24), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format=fmt)
    return buf.getvalue()
