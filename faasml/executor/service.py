"""The executor's request handling: readiness, health, prediction. No web framework.

The model loads in a background thread as soon as the service is created, so the
process answers at once: 503 on the readiness path until the session exists (of-watchdog's
`ready_path` and `faasml up` probe it), then predictions.
"""
from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import fields
from typing import Any

import numpy as np
from PIL import Image

from faasml import errors as codes
from faasml.errors import (BadRequest, FaasmlError, MethodNotAllowed, NotReady, UnsupportedMediaType,
                           internal_error)
from faasml.executor import image as image_io
from faasml.executor import oip
from faasml.executor import text as text_io
from faasml.executor.config import ExecutorConfig
from faasml.executor.session import SessionTuning
from faasml.executor.variant import LoadedVariant, Timing, load_variant
from faasml.http import Request, Response
from faasml.modelcard import TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING, TASK_TENSOR

log = logging.getLogger("faasml.executor")

READY_PATH = "/ready"
HEALTH_PATH = "/health"


class ExecutorService:
    def __init__(self, config: ExecutorConfig):
        self.config = config
        self.variant: LoadedVariant | None = None
        self.load_error: FaasmlError | None = None
        self.started_at = time.time()
        self.load_seconds: float | None = None
        self._loaded = threading.Event()
        self.protocol = oip.OpenInference(lambda: self.variant, self._not_ready_error, config.default_top_k,
                                          config.max_image_pixels, config.max_batch, config.max_text_chars)

    def start_loading(self) -> "ExecutorService":
        """Load in a background thread so the server answers (503) while it loads."""
        threading.Thread(target=self.load, name="model-loader", daemon=True).start()
        return self

    def load(self) -> None:
        start = time.perf_counter()
        try:
            backend = self.config.image_resize_backend
            variant = load_variant(self.config.model, self.config.provider, self.config.intra_op_threads,
                                   resize_backend=None if backend == "card" else backend,
                                   session_overrides=self.config.session_overrides)
            warm_up(variant, self.config.batch_max)
            # After the warm-up, so the batching counters count only requests.
            variant.enable_batching(self.config.batch_max, self.config.batch_wait_ms / 1e3)
            self.variant = variant   # ready from here on
            self.load_seconds = time.perf_counter() - start
            log.info("loaded %s on %s in %.2fs", self.variant.card.name, self.variant.provider,
                     self.load_seconds)
        except FaasmlError as exc:  # e.g. the provider is not available on this node
            self.load_error = NotReady(f"model failed to load: {exc.message}", code=exc.code)
            log.error("model failed to load: %s", exc.message)
        except FileNotFoundError as exc:  # the file went away since the settings were read
            self.load_error = NotReady(f"model failed to load: {exc}", code=codes.MODEL_NOT_FOUND)
            log.error("model failed to load: %s", exc)
        except Exception as exc:  # any loader failure must surface as 503, not kill the process
            self.load_error = NotReady(f"model failed to load: {type(exc).__name__}: {exc}",
                                       code=codes.LOAD_FAILED)
            log.exception("model failed to load")
        finally:
            self._loaded.set()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    # request handling
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except FaasmlError as exc:
            return Response.error(exc)
        except Exception as exc:  # the process must survive any request
            log.exception("unexpected error")
            return Response.error(internal_error(exc))

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == READY_PATH:
            if self.variant is None:
                raise self._not_ready_error()
            return Response.json({"status": "ready"})
        if path == HEALTH_PATH:
            return Response.json(self.health(), status=200 if self.variant else 503)
        if oip.is_protocol_path(path):
            return self.protocol.handle(request, path)
        if request.method != "POST":
            raise MethodNotAllowed(f"{request.method} {request.path}: POST the input to predict, "
                                   f"GET {HEALTH_PATH} for the model card, /v2/... for the Open "
                                   "Inference Protocol",
                                   headers={"Allow": "POST"})
        variant = self._require_variant()
        timing = Timing()
        if variant.card.task == TASK_IMAGE_CLASSIFICATION:
            payload = self._classify(variant, request, timing)
        elif variant.card.task == TASK_SENTENCE_EMBEDDING:
            payload = self._embed(variant, request, timing)
        else:  # a tensor variant's simple body is the protocol's inference request
            payload = self._tensor(variant, request, timing)
        headers = {"X-Faasml-Compute-Ms": f"{timing.compute_ms:.3f}", "X-Faasml-Variant": variant.card.name}
        if variant.batcher is not None:
            headers["X-Faasml-Batch-Size"] = str(timing.batch_size)
        return Response.json(payload, headers=headers)

    def _not_ready_error(self) -> FaasmlError:
        return self.load_error or NotReady("model is loading", code=codes.LOADING,
                                           headers={"Retry-After": "1"})

    def _require_variant(self) -> LoadedVariant:
        if self.variant is None:
            raise self._not_ready_error()
        return self.variant

    def _classify(self, variant: LoadedVariant, request: Request, timing: Timing) -> dict[str, Any]:
        image_io.check_image_media_type(request.content_type)
        k = parse_top_k(request.param("top_k", "X-Faasml-Top-K"), self.config.default_top_k,
                        variant.num_classes)
        predictions = variant.classify(request.body, k, self.config.max_image_pixels, timing)
        return {"task": variant.card.task, "variant": variant.card.name, "predictions": predictions}

    def _tensor(self, variant: LoadedVariant, request: Request, timing: Timing) -> dict[str, Any]:
        if request.content_type not in ("", "application/json"):
            raise UnsupportedMediaType(f"content type {request.content_type!r}: a tensor variant takes "
                                       "an Open Inference Protocol request (application/json)")
        body = oip.tensors.parse_request(request.body)
        payload: dict[str, Any] = {"model_name": variant.card.name, "model_version": oip.VERSION}
        if "id" in body:
            payload["id"] = body["id"]
        payload["outputs"] = oip.run_graph(variant, [oip.tensors.parse_tensor(t) for t in body["inputs"]],
                                           body, timing)
        return payload

    def _embed(self, variant: LoadedVariant, request: Request, timing: Timing) -> dict[str, Any]:
        texts, single = text_io.parse_texts(request.body, request.content_type,
                                            self.config.max_batch, self.config.max_text_chars)
        vectors, truncated = variant.embed(texts, timing)
        rounded = vectors.round(7).tolist()
        payload: dict[str, Any] = {"task": variant.card.task, "variant": variant.card.name,
                                   "dim": int(vectors.shape[1])}
        if single:
            payload.update(embedding=rounded[0], truncated=truncated[0])
        else:
            payload.update(embeddings=rounded, truncated=truncated)
        return payload

    def health(self) -> dict[str, Any]:
        state = "ready" if self.variant else ("failed" if self.load_error else "loading")
        body: dict[str, Any] = {"status": state, "uptime_s": round(time.time() - self.started_at, 3),
                                "requested_provider": self.config.provider,
                                "session_options": {"intra_op_threads": self.config.intra_op_threads,
                                                    **self._session_options()}}
        if self.load_error is not None:
            body["error"] = self.load_error.to_dict()["error"]
        if self.variant is not None:
            body.update(provider=self.variant.provider, load_s=round(self.load_seconds or 0, 3),
                        card=self.variant.card.to_dict())
            batcher = self.variant.batcher
            if batcher is not None:
                body["batching"] = {"max_batch": batcher.max_batch, "max_wait_ms": batcher.max_wait_s * 1e3,
                                    "batches": batcher.batches, "requests": batcher.items}
        return body


    def _session_options(self) -> dict[str, Any]:
        """What the session runs with once loaded; before, what the settings ask for."""
        if self.variant is not None:
            return self.variant.tuning.to_dict()
        return {option.name: getattr(self.config, option.name) for option in fields(SessionTuning)}


def warm_up(variant: LoadedVariant, batch_max: int = 1) -> None:
    """One inference before readiness: ONNX Runtime allocates its arenas on the first run,
    and a first request that pays for it looks stalled to the selector (stalls.py), which
    would give up on a healthy replica just restarted. A failure here is only logged: the
    requests will say what is wrong.

    A micro-batched image variant also runs every batch size it can form: each new input
    shape pays again, on CUDA a cuDNN algorithm search per convolution (tenths of a second
    per shape for EfficientNet-Lite2 on an H200; docs/executors.md), which under load
    would stall every request of the first batch of each size."""
    started = time.perf_counter()
    try:
        if variant.card.task == TASK_IMAGE_CLASSIFICATION:
            variant.classify(_WARM_UP_IMAGE, top_k=1)
            if batch_max > 1:
                one = variant.image_tensor(_WARM_UP_IMAGE)
                for size in range(2, batch_max + 1):
                    variant.run({variant.input_names[0]: np.repeat(one, size, axis=0)})
        elif variant.card.task == TASK_SENTENCE_EMBEDDING:
            variant.embed(["warm up"])
        else:
            variant.session.run(None, zero_feeds(variant.session))
    except Exception as exc:  # noqa: BLE001 - never fatal; see above
        log.warning("warm-up inference failed: %s: %s", type(exc).__name__, exc)
        return
    log.info("warm-up inference in %.0f ms", (time.perf_counter() - started) * 1000.0)


def zero_feeds(session: Any) -> dict[str, np.ndarray]:
    """Zeros of every input's declared type and shape, dynamic dimensions at 1."""
    feeds = {}
    for node in session.get_inputs():
        kind = oip.tensors.DATATYPES[oip.tensors.ONNX_DATATYPES[node.type]]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in node.shape or []]
        feeds[node.name] = np.full(shape, "" if kind is np.object_ else 0, dtype=kind)
    return feeds


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, "PNG")
    return buffer.getvalue()


_WARM_UP_IMAGE = _png(256, 256)


def parse_top_k(raw: str | None, default: int, num_classes: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"top_k must be an integer, got {raw[:40]!r}", code=codes.BAD_PARAMETER) from None
    if not 1 <= value <= num_classes:
        raise BadRequest(f"top_k must be between 1 and {num_classes}, got {value}",
                         code=codes.BAD_PARAMETER)
    return value
