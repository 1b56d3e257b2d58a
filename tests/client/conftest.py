"""One running platform for the client and CLI tests, shared by the package (~10 s to start)."""
from __future__ import annotations

import pytest

from .platform import start_platform


@pytest.fixture(scope="package")
def platform(tmp_path_factory, tiny_models):
    stage = start_platform(tmp_path_factory.mktemp("platform"), tiny_models["image"])
    yield stage
    stage.stop()
