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


class _RecordingSession:
    """The real session, recording each run's input batch size."""

    def __init__(self, session):
        self.session, self.batches = session, []

    def run(self, outputs, feeds):
        self.batches.append(next(iter(feeds.values())).shape[0])
        return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


@pytest.mark.parametrize("batch_max, sizes", [(1, [1]), (4, [1, 2, 3, 4])])
def test_a_batched_image_variant_runs_every_batch_size_before_readiness(tiny_models, monkeypatch, batch_max, sizes):
    """Each new input shape pays a first run (on CUDA a cuDNN algorithm search): the
    warm-up pays it for every batch the batcher can form, not the first requests."""
    import faasml.executor.service as service_module
    from faasml.executor.variant import load_variant

    recorded = []

    def loading(*args, **kwargs):
        variant = load_variant(*args, **kwargs)
        variant.session = _RecordingSession(variant.session)
        recorded.append(variant.session)
        return variant

    monkeypatch.setattr(service_module, "load_variant", loading)
    service = ExecutorService(ExecutorConfig(model=str(tiny_models["image"]), batch_max=batch_max))
    service.load()
    assert service.variant is not None and recorded[0].batches == sizes
