"""Whether this machine can really run a CUDA session: onnxruntime-gpu installed AND a GPU
visible. Listing CUDAExecutionProvider is not enough (onnxruntime-gpu lists it on a machine
with no GPU), so this opens a session on a one-node model, once per test session."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def cuda_session_works() -> bool:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any failure to open means "no usable GPU here"
        return False
    return session.get_providers()[0] == "CUDAExecutionProvider"


WITHOUT_GPU_ONLY = "this machine runs CUDA sessions; the test checks behaviour without a GPU"
GPU_ONLY = "needs onnxruntime-gpu and a visible GPU (run on a GPU node: docs/deployment.md)"
