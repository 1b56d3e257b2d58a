"""ONNX Runtime sessions on the provider a variant asked for, and proof of what it got."""
from __future__ import annotations

import onnxruntime as ort

from faasml.errors import NotReady

PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class ProviderUnavailable(NotReady):
    """503: the variant's execution provider cannot be had on this node."""

    code = "provider_unavailable"


def create_session(model_path: str, provider: str = "cpu",
                   intra_op_threads: int = 0) -> tuple[ort.InferenceSession, str]:
    """Open `model_path` on `provider`; return the session and the provider it really uses.

    A `cuda` variant that cannot get CUDA raises instead of running on CPU: a GPU variant
    quietly running on CPU would break every latency promise the selector relies on.
    """
    wanted = PROVIDER_NAMES[provider]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, intra_op_threads)
    options.inter_op_num_threads = 1
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
    providers = [wanted] if provider == "cpu" else [wanted, "CPUExecutionProvider"]
    session = ort.InferenceSession(model_path, sess_options=options, providers=providers)
    active = session.get_providers()
    if not active or active[0] != wanted:
        raise ProviderUnavailable(
            f"asked for {wanted} but the session runs on {active}; "
            "is a GPU visible to this process (drivers, CUDA/cuDNN libraries)?"
        )
    return session, active[0]
