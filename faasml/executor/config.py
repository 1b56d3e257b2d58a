"""Executor configuration, read once from the function's environment (stack.yml)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from faasml.errors import BadRequest

PROVIDERS = ("cpu", "cuda")


@dataclass(frozen=True)
class ExecutorConfig:
    # The variant to serve: the .onnx file or its .card.json (relative to the working
    # directory: the function's folder in a container, the stack's folder under `faasml up`).
    model: str
    # Execution provider the variant must run on. `cuda` never silently falls back to CPU.
    provider: str = "cpu"
    # ONNX Runtime intra-op threads; 0 lets ONNX Runtime use every core it may run on.
    intra_op_threads: int = 0
    # Bodies above this many bytes get a JSON 413 before any decoding.
    max_body_bytes: int = 20 * 1024 * 1024
    # Images above this many pixels (width x height) are refused before decoding:
    # a 50 KB PNG can claim 100000x100000 pixels and would need 30 GB to decode.
    max_image_pixels: int = 50_000_000
    # Most texts one request may embed, and most characters per text.
    max_batch: int = 64
    max_text_chars: int = 100_000
    # Default number of classes returned when the request gives no top_k.
    default_top_k: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ExecutorConfig":
        env = os.environ if env is None else env
        model = env.get("FAASML_MODEL", "")
        if not model:
            folder = env.get("FAASML_MODEL_DIR", "models")
            name = env.get("FAASML_VARIANT", "")
            model = os.path.join(folder, f"{name}.card.json") if name else ""
        provider = env.get("FAASML_PROVIDER", "cpu").strip().lower()
        if provider not in PROVIDERS:
            raise BadRequest(f"FAASML_PROVIDER must be one of {PROVIDERS}, got {provider!r}")
        return cls(
            model=model,
            provider=provider,
            intra_op_threads=_int(env, "FAASML_INTRA_OP_THREADS", 0),
            max_body_bytes=_int(env, "FAASML_MAX_BODY_BYTES", cls.max_body_bytes),
            max_image_pixels=_int(env, "FAASML_MAX_IMAGE_PIXELS", cls.max_image_pixels),
            max_batch=_int(env, "FAASML_MAX_BATCH", cls.max_batch),
            max_text_chars=_int(env, "FAASML_MAX_TEXT_CHARS", cls.max_text_chars),
            default_top_k=_int(env, "FAASML_DEFAULT_TOP_K", cls.default_top_k),
        )


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{key} must be an integer, got {raw!r}") from None
