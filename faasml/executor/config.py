"""The executor's settings, declared once: each field names its environment variable (set
per function in stack.yml), default, parser and meaning. `load(ExecutorConfig)` reads and
validates them at start; the handler stops on a bad one (faasml/settings.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from faasml.executor.image import MAX_IMAGE_PIXELS
from faasml.executor.session import CUDNN_CONV_ALGO_SEARCHES, GRAPH_OPTIMIZATION_LEVELS, SWITCHES
from faasml.modelcard import RESIZE_BACKENDS
from faasml.settings import existing_file, number, one_of, setting, whole_number

PROVIDERS = ("cpu", "cuda")
POSITIVE = whole_number(1)


@dataclass(frozen=True)
class ExecutorConfig:
    model: str = setting(
        "FAASML_MODEL", parse=existing_file,
        doc="the variant's .card.json (or the .onnx beside it), relative to the working directory: "
            "the function's folder in a container, the stack's folder under `faasml up`")
    provider: str = setting("FAASML_PROVIDER", "cpu", one_of(*PROVIDERS),
                            "execution provider the variant must run on; cuda never falls back to CPU")
    intra_op_threads: int = setting("FAASML_INTRA_OP_THREADS", 0, whole_number(0),
                                    "ONNX Runtime intra-op threads; 0 = every core it may run on")
    # The ONNX Runtime options default to the card's session_options ("card").
    graph_optimization: str = setting(
        "FAASML_GRAPH_OPTIMIZATION", "card", one_of("card", *GRAPH_OPTIMIZATION_LEVELS),
        "ONNX Runtime graph optimisation level (disable, basic, extended, all; card = the card's)")
    cpu_mem_arena: str = setting("FAASML_CPU_MEM_ARENA", "card", one_of("card", *SWITCHES),
                                 "ONNX Runtime's CPU memory arena (on/off; card = the card's)")
    intra_op_spinning: str = setting(
        "FAASML_INTRA_OP_SPINNING", "card", one_of("card", *SWITCHES),
        "idle intra-op threads busy-wait for work (on/off; card = the card's); off spares CPU "
        "on shared nodes")
    cudnn_conv_algo_search: str = setting(
        "FAASML_CUDNN_CONV_ALGO_SEARCH", "card", one_of("card", *CUDNN_CONV_ALGO_SEARCHES),
        "CUDA variants: how cuDNN picks convolution algorithms, once per input shape "
        "(exhaustive or heuristic; card = the card's)")
    image_resize_backend: str = setting(
        "FAASML_IMAGE_RESIZE_BACKEND", "card", one_of("card", *RESIZE_BACKENDS),
        "who resamples an image variant's centre crop: card = the card's image.resize_backend; "
        "opencv or pillow = that one instead (pillow: the antialiased filter models train with)")
    batch_max: int = setting(
        "FAASML_BATCH_MAX", 1, POSITIVE,
        "most concurrent requests run as one batch (1 = no batching); needs as many "
        "FAASML_SERVER_THREADS for requests to be concurrent")
    batch_wait_ms: float = setting(
        "FAASML_BATCH_WAIT_MS", 0.0, number(0.0),
        "longest a batch waits to fill after its first request (0: runs what is there)")
    max_body_bytes: int = setting("FAASML_MAX_BODY_BYTES", 20 * 1024 * 1024, POSITIVE,
                                  "larger bodies get a JSON 413 before they are read")
    # A 50 KB PNG can claim 100000x100000 pixels and would need 30 GB to decode.
    max_image_pixels: int = setting("FAASML_MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS, POSITIVE,
                                    "images claiming more pixels (width x height) get 413 before decoding")
    max_batch: int = setting("FAASML_MAX_BATCH", 64, POSITIVE, "most texts one request may embed")
    max_text_chars: int = setting("FAASML_MAX_TEXT_CHARS", 100_000, POSITIVE, "most characters per text")
    default_top_k: int = setting("FAASML_DEFAULT_TOP_K", 5, POSITIVE, "classes returned without top_k")

    @property
    def session_overrides(self) -> dict[str, object]:
        """The ONNX Runtime options this function sets over its card's (SessionTuning fields)."""
        overrides: dict[str, object] = {}
        if self.graph_optimization != "card":
            overrides["graph_optimization"] = self.graph_optimization
        for name in ("cpu_mem_arena", "intra_op_spinning"):
            if getattr(self, name) != "card":
                overrides[name] = SWITCHES[getattr(self, name)]
        if self.cudnn_conv_algo_search != "card":
            overrides["cudnn_conv_algo_search"] = self.cudnn_conv_algo_search
        return overrides
