"""An executor runs one inference before it reports ready, so a replica's first real
request does not pay ONNX Runtime's first-run allocations (and look stalled)."""
from __future__ import annotations

import logging

import pytest

from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService


@pytest.mark.parametrize("kind", ["image", "text"])
def test_one_inference_runs_before_readiness(tiny_models, caplog, kind):
    service = ExecutorService(ExecutorConfig(model=str(tiny_models[kind])))
    with caplog.at_level(logging.INFO, logger="faasml.executor"):
        service.load()
    assert service.variant is not None
    assert any("warm-up inference in" in r.getMessage() for r in caplog.records)
    assert not any("warm-up inference failed" in r.getMessage() for r in caplog.records)
