"""Executor overhead: raw `session.run` against the full handler, side by side.

For each variant, the same input goes through (a) only `session.run` on a tensor that
was preprocessed once, (b) only the preparation (decode + preprocess, or tokenize), and
(c) the whole request path of the executor service (decode, preprocess, run, postprocess,
JSON), in turn, so all three see the same machine noise.
"""
from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from faasml.stats import summary
from faasml.executor.config import ExecutorConfig
from faasml.executor.image import check_preprocessing
from faasml.executor.service import ExecutorService
from faasml.executor.session import SessionTuning
from faasml.executor.variant import load_variant
from faasml.http import Headers, Request
from faasml.modelcard import TASK_IMAGE_CLASSIFICATION, list_cards, card_path_for

SENTENCE = "A man is playing a guitar on a stage in front of a small crowd."


def sample_photo() -> bytes:
    """scikit-image's `chelsea` photo (451x300) as a JPEG, the size of a typical upload."""
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def bench_variant(card_path: Path, iterations: int, threads: int) -> dict[str, Any]:
    """One variant with its card's own preprocessing (see `bench_pipelines`)."""
    return bench_pipelines(card_path, iterations, threads)[0]


def bench_pipelines(card_path: Path, iterations: int, threads: int,
                    resize_backends: list[str] | None = None, provider: str = "cpu") -> list[dict[str, Any]]:
    """One row per image resize backend (default: the card's), all over ONE session: each
    iteration runs `session.run`, then each backend's preparation and full handler, in an
    order that flips every iteration, so the backends share the model and the noise."""
    service = ExecutorService(ExecutorConfig(model=str(card_path), intra_op_threads=threads, provider=provider))
    service.load()
    variant = service.variant
    if variant is None:
        raise SystemExit(f"{card_path}: {service.load_error.message}")
    if variant.card.task == TASK_IMAGE_CLASSIFICATION:
        body, content_type = sample_photo(), "image/jpeg"
        feeds = {variant.input_names[0]: variant.image_tensor(body)}
        services = {b: with_resize_backend(service, b) for b in resize_backends or [None]}
    else:
        body, content_type = SENTENCE.encode(), "text/plain"
        feeds, _ = variant.tokenize([SENTENCE])
        services = {None: service}
    request = Request("POST", "/", {}, Headers({"Content-Type": content_type}), body)
    for _ in range(5):  # warm-up: first runs allocate arenas and pick kernels
        variant.session.run(None, feeds)
        for each in services.values():
            each.handle(request)
    raw_ms: list[float] = []
    full_ms: dict[str | None, list[float]] = {b: [] for b in services}
    prepare_ms: dict[str | None, list[float]] = {b: [] for b in services}
    for index in range(iterations):
        start = time.perf_counter()
        variant.session.run(None, feeds)
        raw_ms.append((time.perf_counter() - start) * 1e3)
        for backend in (list(services) if index % 2 == 0 else list(services)[::-1]):
            each = services[backend]
            start = time.perf_counter()
            prepare(each.variant, body)
            prepare_ms[backend].append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            response = each.handle(request)
            full_ms[backend].append((time.perf_counter() - start) * 1e3)
            assert response.status == 200, response.body
    raw = summary(raw_ms)
    rows = []
    for backend, each in services.items():
        full, prepared = summary(full_ms[backend]), summary(prepare_ms[backend])
        image = each.variant.card.image
        rows.append({"variant": variant.card.name, "precision": variant.card.precision,
                     "resize_backend": image.resize_backend if image else None, "raw": raw,
                     "full": full, "prepare": prepared, "prepare_over_run_p50": prepared["p50"] / raw["p50"],
                     "ratio_p50": full["p50"] / raw["p50"], "ratio_p95": full["p95"] / raw["p95"]})
    return rows


def with_resize_backend(service: ExecutorService, backend: str | None) -> ExecutorService:
    """A service over the same loaded session whose image variant resamples with `backend`
    (None: the card's own)."""
    variant = service.variant
    if backend is None or variant.card.image.resize_backend == backend:
        return service
    image = replace(variant.card.image, resize_backend=backend)
    check_preprocessing(image)
    other = ExecutorService(service.config)
    other.variant = replace(variant, card=replace(variant.card, image=image))
    return other


def prepare(variant: Any, body: bytes) -> None:
    """What the handler does before `session.run`: decode + preprocess, or tokenize."""
    if variant.card.task == TASK_IMAGE_CLASSIFICATION:
        variant.image_tensor(body)
    else:
        variant.tokenize([body.decode()])


def run(models_dir: str, names: list[str] | None, iterations: int, threads: int,
        resize_backends: list[str] | None = None, provider: str = "cpu") -> list[dict[str, Any]]:
    cards = [c for c in list_cards(models_dir) if not names or c.name in names]
    if not cards:
        raise SystemExit(f"no variants in {models_dir}; run `faasml models build` first")
    print(f"executor overhead: {iterations} alternating runs per variant, "
          f"intra-op threads={threads or 'all'}, provider={provider}; ms")
    print("  prep = decode + preprocess (or tokenize) alone; prep/run = its cost against the model's;"
          " resize = the image resize backend (rows of one variant share one session.run column)")
    header = (f"{'variant':<26}{'resize':>8}{'run p50':>9}{'run p95':>9}{'prep p50':>10}{'prep/run':>9}"
              f"{'full p50':>10}{'full p95':>10}{'x p50':>7}{'x p95':>7}")
    print(header)
    print("-" * len(header))
    rows = []
    for card in cards:
        for row in bench_pipelines(card_path_for(models_dir, card.name), iterations, threads, resize_backends,
                                   provider):
            rows.append(row)
            print(f"{row['variant']:<26}{row['resize_backend'] or '-':>8}"
                  f"{row['raw']['p50']:>9.2f}{row['raw']['p95']:>9.2f}"
                  f"{row['prepare']['p50']:>10.2f}{row['prepare_over_run_p50']:>9.2f}"
                  f"{row['full']['p50']:>10.2f}{row['full']['p95']:>10.2f}"
                  f"{row['ratio_p50']:>7.2f}{row['ratio_p95']:>7.2f}", flush=True)
    return rows


# ONNX Runtime session options against the default (faasml/executor/session.py), per variant.
SESSION_OPTIONS = {
    "default (all, arena, spinning)": SessionTuning(),
    "graph optimisation extended": SessionTuning(graph_optimization="extended"),
    "graph optimisation basic": SessionTuning(graph_optimization="basic"),
    "no CPU memory arena": SessionTuning(cpu_mem_arena=False),
    "no spinning": SessionTuning(intra_op_spinning=False),
}


def bench_session_options(models_dir: str, names: list[str] | None, iterations: int,
                          threads: int) -> list[dict[str, Any]]:
    """`session.run` p50 under each option set, in turn on the same prepared input, as a
    ratio to the default: what the per-function settings would buy."""
    cards = [c for c in list_cards(models_dir) if not names or c.name in names]
    print(f"ONNX Runtime session options: session.run p50 ms (x default), {iterations} runs each "
          f"in turn, intra-op threads={threads or 'all'}")
    rows = []
    for card in cards:
        path = card_path_for(models_dir, card.name)
        variants = {label: load_variant(path, intra_op_threads=threads, tuning=tuning)
                    for label, tuning in SESSION_OPTIONS.items()}
        first = next(iter(variants.values()))
        if first.card.task == TASK_IMAGE_CLASSIFICATION:
            feeds = {first.input_names[0]: first.image_tensor(sample_photo())}
        else:
            feeds, _ = first.tokenize([SENTENCE])
        times: dict[str, list[float]] = {label: [] for label in variants}
        for index in range(iterations + 5):
            for label, variant in variants.items():
                start = time.perf_counter()
                variant.session.run(None, feeds)
                if index >= 5:
                    times[label].append((time.perf_counter() - start) * 1e3)
        p50 = {label: summary(values)["p50"] for label, values in times.items()}
        default = p50[next(iter(p50))]
        row = {"variant": card.name, "p50_ms": p50, "x_default": {k: v / default for k, v in p50.items()}}
        rows.append(row)
        print(f"  {card.name}: " + "; ".join(f"{label} {ms:.2f} (x{ms / default:.2f})" for label, ms in p50.items()),
              flush=True)
    return rows


# cuDNN's convolution algorithm searches (CUDA only; on CPU the option changes nothing).
CUDNN_SEARCHES = {mode: SessionTuning(cudnn_conv_algo_search=mode) for mode in ("exhaustive", "heuristic")}


def bench_cudnn_search(models_dir: str, names: list[str] | None, iterations: int, batch_sizes: list[int],
                       provider: str = "cuda") -> list[dict[str, Any]]:
    """Per image variant and search mode, one session after the other in this process: the
    session's opening, its first run at each batch size (each new input shape is searched
    once) and then its warm `session.run` p50 at each size. The first session opened also
    pays the process's CUDA start-up."""
    cards = [c for c in list_cards(models_dir) if (not names or c.name in names)
             and c.task == TASK_IMAGE_CLASSIFICATION]
    print(f"cuDNN convolution search, provider={provider}: open s; first run and warm p50 ms by "
          f"batch size ({iterations} warm runs each)")
    rows = []
    for card in cards:
        for mode, tuning in CUDNN_SEARCHES.items():
            started = time.perf_counter()
            variant = load_variant(card_path_for(models_dir, card.name), provider, 0, tuning=tuning)
            opened_s = time.perf_counter() - started
            one = variant.image_tensor(sample_photo())
            first_ms, warm_ms = {}, {}
            for size in batch_sizes:
                feeds = {variant.input_names[0]: np.repeat(one, size, axis=0)}
                start = time.perf_counter()
                variant.session.run(None, feeds)
                first_ms[size] = (time.perf_counter() - start) * 1e3
                runs = []
                for _ in range(iterations):
                    start = time.perf_counter()
                    variant.session.run(None, feeds)
                    runs.append((time.perf_counter() - start) * 1e3)
                warm_ms[size] = summary(runs)["p50"]
            rows.append({"variant": card.name, "search": mode, "open_s": opened_s,
                         "first_run_ms": first_ms, "warm_p50_ms": warm_ms})
            print(f"  {card.name} {mode}: open {opened_s:.2f} s; first "
                  + " ".join(f"{s}:{ms:.0f}" for s, ms in first_ms.items()) + "; warm "
                  + " ".join(f"{s}:{ms:.2f}" for s, ms in warm_ms.items()), flush=True)
    return rows
