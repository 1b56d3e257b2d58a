"""A loaded model variant: card + ONNX Runtime session + the task's pipeline.

Used by the executor service on every request and by `faasml models eval`, so the
accuracy we record is measured on exactly the code that serves.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from faasml.executor import image as image_io
from faasml.executor import text as text_io
from faasml.executor.batching import MicroBatcher
from faasml.executor.session import SessionTuning, create_session
from faasml.executor.tokenizer import encode, load_tokenizer
from faasml.modelcard import (TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING, TASK_TENSOR,
                              ModelCard, load_card)


@dataclass
class Timing:
    """Milliseconds spent per stage of one prediction."""

    decode_ms: float = 0.0
    inference_ms: float = 0.0   # batched: the whole batch's run (its wait for a batch is queueing)
    post_ms: float = 0.0
    batch_size: int = 1

    @property
    def compute_ms(self) -> float:
        return self.decode_ms + self.inference_ms + self.post_ms


@dataclass
class LoadedVariant:
    card: ModelCard
    card_path: Path
    session: Any
    provider: str
    tokenizer: Any = None
    input_names: list[str] = field(default_factory=list)
    batcher: MicroBatcher | None = None
    tuning: SessionTuning = SessionTuning()   # the ONNX Runtime options the session runs with

    @property
    def num_classes(self) -> int:
        return len(self.card.labels)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feeds)[0]

    def enable_batching(self, max_batch: int, max_wait_s: float = 0.0) -> None:
        """Concurrent requests share one `session.run` (faasml/executor/batching.py);
        a max_batch of 1 leaves every request to run alone."""
        if max_batch <= 1 or self.card.task == TASK_TENSOR:  # tensor requests run as sent
            self.batcher = None
            return
        run_batch = self._run_image_batch if self.card.task == TASK_IMAGE_CLASSIFICATION else self._run_text_batch
        self.batcher = MicroBatcher(run_batch, max_batch, max_wait_s)

    def _run_image_batch(self, tensors: list[np.ndarray]) -> list[np.ndarray]:
        batch = tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
        return list(self.run({self.input_names[0]: batch}))

    def _run_text_batch(self, requests: list[list[str]]) -> list[tuple[np.ndarray, list[bool]]]:
        texts = [text for request in requests for text in request]
        vectors, truncated = self._embed_texts(texts, Timing())
        results, start = [], 0
        for request in requests:
            end = start + len(request)
            results.append((vectors[start:end], truncated[start:end]))
            start = end
        return results

    # image-classification
    def image_tensor(self, data: bytes, max_pixels: int = image_io.MAX_IMAGE_PIXELS) -> np.ndarray:
        return image_io.image_tensor(data, self.card.image, max_pixels)

    def classify(self, data: bytes, top_k: int = 5, max_pixels: int = image_io.MAX_IMAGE_PIXELS,
                 timing: Timing | None = None) -> list[dict[str, Any]]:
        timing = timing if timing is not None else Timing()
        start = time.perf_counter()
        tensor = self.image_tensor(data, max_pixels)
        decoded = time.perf_counter()
        if self.batcher is not None:
            outcome = self.batcher.submit(tensor)
            logits, timing.batch_size = outcome.result, outcome.batch_size
        else:
            logits = self.run({self.input_names[0]: tensor})[0]
        ran = time.perf_counter()
        probabilities = image_io.softmax(logits.astype(np.float32))
        predictions = [
            {"label": self.card.labels[i] if i < self.num_classes else str(i),
             "index": int(i), "score": round(float(probabilities[i]), 6)}
            for i in image_io.top_k(probabilities, top_k)
        ]
        timing.decode_ms, timing.inference_ms = (decoded - start) * 1e3, (ran - decoded) * 1e3
        if self.batcher is not None:
            timing.inference_ms = outcome.run_ms
        timing.post_ms = (time.perf_counter() - ran) * 1e3
        return predictions

    # sentence-embedding
    def tokenize(self, texts: list[str]) -> tuple[dict[str, np.ndarray], list[bool]]:
        encoded, truncated = encode(self.tokenizer, texts)
        feeds = {name: encoded[name] for name in self.input_names if name in encoded}
        for name in self.input_names:  # any other input the model declares: zeros
            feeds.setdefault(name, np.zeros_like(feeds["input_ids"]))
        return feeds, truncated

    def embed(self, texts: list[str], timing: Timing | None = None) -> tuple[np.ndarray, list[bool]]:
        """(n, dim) sentence vectors, and whether each text was cut at the token limit."""
        timing = timing if timing is not None else Timing()
        if self.batcher is not None:  # tokenizing happens in the batch, over every request's texts
            outcome = self.batcher.submit(texts)
            timing.inference_ms, timing.batch_size = outcome.run_ms, outcome.batch_size
            return outcome.result
        return self._embed_texts(texts, timing)

    def _embed_texts(self, texts: list[str], timing: Timing) -> tuple[np.ndarray, list[bool]]:
        start = time.perf_counter()
        feeds, truncated = self.tokenize(texts)
        tokenized = time.perf_counter()
        states = self.run(feeds)
        ran = time.perf_counter()
        vectors = text_io.pool(states.astype(np.float32), feeds["attention_mask"], self.card.text.pooling)
        if self.card.text.normalize:
            vectors = text_io.l2_normalize(vectors)
        timing.decode_ms, timing.inference_ms = (tokenized - start) * 1e3, (ran - tokenized) * 1e3
        timing.post_ms = (time.perf_counter() - ran) * 1e3
        return vectors, truncated


def beside_card(card_path: Path, relative: str, field: str) -> Path:
    """A file a card names, which must lie in the card's own folder (the models folder):
    a card is data, and data must not make the executor open `/etc/...` or `../..`. The
    check is on the names (a link the operator put in the folder is theirs to place)."""
    folder = Path(os.path.normpath(card_path.parent.absolute()))
    path = Path(os.path.normpath(folder / relative))
    if not path.is_relative_to(folder) or path == folder:
        raise ValueError(f"{card_path}: {field} {relative!r} lies outside the models folder {folder}")
    return path


def load_variant(card_path: str | Path, provider: str = "cpu", intra_op_threads: int = 0,
                 tuning: SessionTuning | None = None, resize_backend: str | None = None,
                 session_overrides: dict[str, Any] | None = None) -> LoadedVariant:
    """Load a variant from its card (or the .onnx beside it) on the given provider.

    ONNX Runtime options: `tuning` if given (the benchmarks compare option sets), else the
    card's session_options with `session_overrides` (the function's settings) over them.
    `resize_backend` ("opencv"/"pillow") replaces the card's image.resize_backend for this
    process (FAASML_IMAGE_RESIZE_BACKEND; the benchmarks and the evaluation compare both).
    A missing file is a FileNotFoundError and an unknown task or a bad card a ValueError:
    the caller's configuration is wrong, which is no HTTP error (the executor answers 503)."""
    card_path = Path(card_path)
    if not card_path.exists():
        raise FileNotFoundError(f"model not found: {card_path} (build it with `faasml models build`)")
    card = load_card(card_path)
    if card.image is not None:
        if resize_backend:
            card.image = replace(card.image, resize_backend=resize_backend)
        image_io.check_preprocessing(card.image)
    if card_path.suffix == ".onnx":
        card_path = card_path.with_name(card_path.stem + ".card.json")
    model_file = beside_card(card_path, card.file, "file")
    if tuning is None:
        tuning = SessionTuning.resolve(card.session_options, session_overrides or {})
    session, active = create_session(str(model_file), provider, intra_op_threads, tuning)
    variant = LoadedVariant(card=card, card_path=card_path, session=session, provider=active,
                            input_names=[i.name for i in session.get_inputs()], tuning=tuning)
    if card.task == TASK_SENTENCE_EMBEDDING:
        tokenizer = beside_card(card_path, card.text.tokenizer, "text.tokenizer")
        variant.tokenizer = load_tokenizer(tokenizer, card.text.max_length)
    elif card.task not in (TASK_IMAGE_CLASSIFICATION, TASK_TENSOR):
        raise ValueError(f"unknown task {card.task!r} in {card_path}")
    return variant
