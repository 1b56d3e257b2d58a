"""The GPU variants on a real GPU: a CUDA session through the executor service, answering
as the CPU session of the same model does. Skipped where no CUDA session can open (every
machine without onnxruntime-gpu and a visible GPU, CI included); run on a GPU node with
`pytest tests/executor/test_cuda.py` (docs/deployment.md, "GPU image")."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.http import Headers, Request
from tests.executor.test_reference_models import CAT_CLASSES, COFFEE_CLASSES, classify, embed, jpeg
from tests.gpu import GPU_ONLY, cuda_session_works

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not cuda_session_works(), reason=GPU_ONLY)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "efficientnet-lite2-fp32"   # what stack.yml's efficientnet-lite2-fp32-gpu serves
TEXT = "minilm-l6-fp32"             # minilm-l6-fp32-gpu
SENTENCES = ["A man is playing a guitar.", "The new movie is awesome.",
             "A cat sleeps on the warm windowsill.", "Stocks fell sharply on Monday."]


def _sample_photos(limit: int = 100) -> list[bytes]:
    """Up to `limit` ImageNet sample photos (FAASML_IMAGENET_SAMPLE, else ../shared/data's),
    plus scikit-image's photos, so the check runs on a GPU node without the sample too."""
    from skimage import data

    photos = [jpeg(data.chelsea()), jpeg(data.coffee()), jpeg(data.astronaut()), jpeg(data.rocket())]
    folder = Path(os.environ.get("FAASML_IMAGENET_SAMPLE", ROOT.parent / "shared/data/imagenet-sample"))
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        photos += [p.read_bytes() for p in files[:limit]]
    return photos


@pytest.fixture(scope="module")
def models(request) -> Path:
    folder = ROOT / "models"
    if all((folder / f"{name}.card.json").exists() for name in (IMAGE, TEXT)):
        return folder
    return request.getfixturevalue("reference_models")


def _service(models: Path, name: str, provider: str, **settings) -> ExecutorService:
    service = ExecutorService(ExecutorConfig(model=str(models / f"{name}.card.json"), provider=provider,
                                             **settings))
    service.load()
    assert service.variant is not None, service.load_error
    return service


@pytest.fixture(scope="module")
def image_services(models):
    return {p: _service(models, IMAGE, p) for p in ("cpu", "cuda")}


@pytest.fixture(scope="module")
def text_services(models):
    return {p: _service(models, TEXT, p) for p in ("cpu", "cuda")}


def test_cuda_variant_is_ready_and_says_it_runs_on_cuda(image_services):
    service = image_services["cuda"]
    assert service.handle(Request("GET", "/ready", {}, Headers(), b"")).status == 200
    health = json.loads(service.handle(Request("GET", "/health", {}, Headers(), b"")).body)
    assert health["provider"] == "CUDAExecutionProvider", health
    assert health["requested_provider"] == "cuda"


def test_cuda_classifies_as_the_cpu_does(image_services):
    from skimage import data

    cat = classify(image_services["cuda"], jpeg(data.chelsea()))
    coffee = classify(image_services["cuda"], jpeg(data.coffee()))
    assert cat[0]["index"] in CAT_CLASSES and coffee[0]["index"] in COFFEE_CLASSES, (cat, coffee)
    # Top-1 and the winning probability against the CPU session on every photo. Not bit
    # equality: cuDNN picks its own convolution algorithms (TF32 on Hopper/Ampere).
    photos = _sample_photos()
    same, worst = 0, 0.0
    for photo in photos:
        cpu, gpu = classify(image_services["cpu"], photo, 1)[0], classify(image_services["cuda"], photo, 1)[0]
        same += cpu["index"] == gpu["index"]
        if cpu["index"] == gpu["index"]:
            worst = max(worst, abs(cpu["score"] - gpu["score"]))
    print(f"\ncuda vs cpu, {IMAGE}: top-1 agrees on {same}/{len(photos)} photos; "
          f"largest top-1 probability gap {worst:.5f}")
    assert same >= 0.98 * len(photos)
    assert worst < 0.02


def test_cuda_embeds_as_the_cpu_does(text_services):
    cpu, gpu = embed(text_services["cpu"], SENTENCES), embed(text_services["cuda"], SENTENCES)
    cosine = (cpu * gpu).sum(1) / (np.linalg.norm(cpu, axis=1) * np.linalg.norm(gpu, axis=1))
    print(f"\ncuda vs cpu, {TEXT}: cosine min {cosine.min():.6f}")
    assert cosine.min() > 0.999, cosine


def test_cuda_micro_batches_answer_as_single_requests_do(models, image_services):
    """Concurrent requests batched into one CUDA run get the answers they get alone."""
    from skimage import data

    photos = [jpeg(data.chelsea()), jpeg(data.coffee()), jpeg(data.astronaut()), jpeg(data.rocket())] * 4
    alone = [classify(image_services["cuda"], photo, 3) for photo in photos]
    batched_service = _service(models, IMAGE, "cuda", batch_max=16, batch_wait_ms=20.0)
    answers: list = [None] * len(photos)
    start = threading.Barrier(len(photos))

    def send(index: int) -> None:
        start.wait()
        answers[index] = classify(batched_service, photos[index], 3)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(photos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for one, batched in zip(alone, answers):
        assert [p["index"] for p in one] == [p["index"] for p in batched]
        assert abs(one[0]["score"] - batched[0]["score"]) < 0.02
