"""ONNX Runtime sessions on the provider a variant asked for, and proof of what it got."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import onnxruntime as ort

from faasml.errors import NotReady
from faasml.modelcard import DEFAULT_SESSION_OPTIONS

PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
GRAPH_OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
SWITCHES = {"on": True, "off": False}
# How cuDNN picks each convolution's algorithm, once per input shape (CUDA only): `exhaustive`
# times every candidate (ONNX Runtime's default; ~1 s per new shape for EfficientNet-Lite2
# on an H200), `heuristic` asks cuDNN's heuristics (0.1-0.5 s; the same speed at batch 1).
# ONNX Runtime's third choice, DEFAULT, is not offered: it ran that model hundreds of times
# slower (every convolution in a fallback mode).
CUDNN_CONV_ALGO_SEARCHES = {"exhaustive": "EXHAUSTIVE", "heuristic": "HEURISTIC"}


@dataclass(frozen=True)
class SessionTuning:
    """ONNX Runtime session options a variant is run with: its card's `session_options`,
    each overridable per function in stack.yml (FAASML_GRAPH_OPTIMIZATION, ...).

    The defaults are what measured fastest for the reference variants (docs/executors.md):
    full graph optimisation (int8 variants lose 1.3x at `extended`, 5x at `basic`), the
    CPU memory arena and memory patterns (no measurable difference either way for these
    fixed-shape models, so ONNX Runtime's defaults stay). Spinning only matters with more
    than one intra-op thread: idle threads then busy-wait for the next parallel region,
    which on a node shared with other functions burns CPU they could have used."""

    graph_optimization: str = DEFAULT_SESSION_OPTIONS["graph_optimization"]
    cpu_mem_arena: bool = DEFAULT_SESSION_OPTIONS["cpu_mem_arena"]
    intra_op_spinning: bool = DEFAULT_SESSION_OPTIONS["intra_op_spinning"]
    cudnn_conv_algo_search: str = DEFAULT_SESSION_OPTIONS["cudnn_conv_algo_search"]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def resolve(cls, card_options: dict[str, Any], overrides: dict[str, Any]) -> "SessionTuning":
        """The card's recorded options, then the function's settings that are set: a bad
        card is refused at load (ValueError), not half-applied."""
        options = {**card_options, **overrides}
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown session option(s) {', '.join(unknown)} in the card's session_options")
        tuning = cls(**options)
        if tuning.graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise ValueError(f"session_options.graph_optimization {tuning.graph_optimization!r} is not one "
                             f"of {', '.join(GRAPH_OPTIMIZATION_LEVELS)}")
        if not isinstance(tuning.cpu_mem_arena, bool) or not isinstance(tuning.intra_op_spinning, bool):
            raise ValueError("session_options.cpu_mem_arena and intra_op_spinning are true or false")
        if tuning.cudnn_conv_algo_search not in CUDNN_CONV_ALGO_SEARCHES:
            raise ValueError(f"session_options.cudnn_conv_algo_search {tuning.cudnn_conv_algo_search!r} is not "
                             f"one of {', '.join(CUDNN_CONV_ALGO_SEARCHES)}")
        return tuning


class ProviderUnavailable(NotReady):
    """503: the variant's execution provider cannot be had on this node."""

    code = "provider_unavailable"


def create_session(model_path: str, provider: str = "cpu", intra_op_threads: int = 0,
                   tuning: SessionTuning = SessionTuning()) -> tuple[ort.InferenceSession, str]:
    """Open `model_path` on `provider`; return the session and the provider it really uses.

    A `cuda` variant that cannot get CUDA raises instead of running on CPU: a GPU variant
    quietly running on CPU would break every latency promise the selector relies on.
    """
    wanted = PROVIDER_NAMES[provider]
    options = ort.SessionOptions()
    options.graph_optimization_level = GRAPH_OPTIMIZATION_LEVELS[tuning.graph_optimization]
    options.intra_op_num_threads = max(0, intra_op_threads)
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = tuning.cpu_mem_arena
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "1" if tuning.intra_op_spinning else "0")
    available = ort.get_available_providers()
    if wanted not in available:
        raise ProviderUnavailable(
            f"execution provider {wanted} is not available in this onnxruntime build "
            f"(available: {', '.join(available)}); install onnxruntime-gpu and run on a GPU node"
        )
    if provider == "cuda" and hasattr(ort, "preload_dlls"):
        # The GPU image has CUDA and cuDNN as PyPI wheels (nvidia-*), outside the loader's
        # search path: onnxruntime-gpu (>= 1.21) loads them from there before a session.
        ort.preload_dlls()
    if provider == "cpu":
        providers: list[Any] = [wanted]
    else:
        cuda_options = {"cudnn_conv_algo_search": CUDNN_CONV_ALGO_SEARCHES[tuning.cudnn_conv_algo_search]}
        providers = [(wanted, cuda_options), "CPUExecutionProvider"]
    session = ort.InferenceSession(model_path, sess_options=options, providers=providers)
    active = session.get_providers()
    if not active or active[0] != wanted:
        raise ProviderUnavailable(
            f"asked for {wanted} but the session runs on {active}; "
            "is a GPU visible to this process (drivers, CUDA/cuDNN libraries)?"
        )
    return session, active[0]
