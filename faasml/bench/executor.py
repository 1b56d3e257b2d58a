"""Executor overhead: raw `session.run` against the full handler, side by side.

For each variant, the same input goes through (a) only `session.run` on a tensor that
was preprocessed once, (b) only the preparation (decode + preprocess, or tokenize), and
(c) the whole request path of the executor service (decode, preprocess, run, postprocess,
JSON), in turn, so all three see the same machine noise.
"""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from faasml.bench.stats import summary
from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.executor.session import SessionTuning
from faasml.executor.variant import load_variant
from faasml.http import Headers, Request
from faasml.models.card import TASK_IMAGE_CLASSIFICATION, list_cards, card_path_for

SENTENCE = "A man is playing a guitar on a stage in front of a small crowd."


def sample_photo() -> bytes:
    """scikit-image's `chelsea` photo (451x300) as a JPEG, the size of a typical upload."""
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def bench_variant(card_path: Path, iterations: int, threads: int) -> dict[str, Any]:
    service = ExecutorService(ExecutorConfig(model=str(card_path), intra_op_threads=threads))
    service.load()
    variant = service.variant
    if variant is None:
        raise SystemExit(f"{card_path}: {service.load_error.message}")
    if variant.card.task == TASK_IMAGE_CLASSIFICATION:
        body, content_type = sample_photo(), "image/jpeg"
        feeds = {variant.input_names[0]: variant.image_tensor(body)}
    else:
        body, content_type = SENTENCE.encode(), "text/plain"
        feeds, _ = variant.tokenize([SENTENCE])
    request = Request("POST", "/", {}, Headers({"Content-Type": content_type}), body)
    for _ in range(5):  # warm-up: first runs allocate arenas and pick kernels
        variant.session.run(None, feeds)
        service.handle(request)
    raw_ms, full_ms, prepare_ms = [], [], []
    for _ in range(iterations):
        start = time.perf_counter()
        variant.session.run(None, feeds)
        raw_ms.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        prepare(variant, body)
        prepare_ms.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        response = service.handle(request)
        full_ms.append((time.perf_counter() - start) * 1e3)
        assert response.status == 200, response.body
    raw, full, prepared = summary(raw_ms), summary(full_ms), summary(prepare_ms)
    return {"variant": variant.card.name, "precision": variant.card.precision, "raw": raw,
            "full": full, "prepare": prepared, "prepare_over_run_p50": prepared["p50"] / raw["p50"], "ratio_p50": full["p50"] / raw["p50"], "ratio_p95": full["p95"] / raw["p95"]}


def prepare(variant: Any, body: bytes) -> None:
    """What the handler does before `session.run`: decode + preprocess, or tokenize."""
    if variant.card.task == TASK_IMAGE_CLASSIFICATION:
        variant.image_tensor(body)
    else:
        variant.tokenize([body.decode()])


def run(models_dir: str, names: list[str] | None, iterations: int, threads: int) -> list[dict[str, Any]]:
    cards = [c for c in list_cards(models_dir) if not names or c.name in names]
    if not cards:
        raise SystemExit(f"no variants in {models_dir}; run `faasml models build` first")
    print(f"executor overhead: {iterations} alternating runs per variant, "
          f"intra-op threads={threads or 'all'}; ms")
    print("  prep = decode + preprocess (or tokenize) alone; prep/run = its cost against the model's")
    header = (f"{'variant':<26}{'run p50':>9}{'run p95':>9}{'prep p50':>10}{'prep/run':>9}"
              f"{'full p50':>10}{'full p95':>10}{'x p50':>7}{'x p95':>7}")
    print(header)
    print("-" * len(header))
    rows = []
    for card in cards:
        row = bench_variant(card_path_for(models_dir, card.name), iterations, threads)
        rows.append(row)
        print(f"{row['variant']:<26}{row['raw']['p50']:>9.2f}{row['raw']['p95']:>9.2f}"
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
