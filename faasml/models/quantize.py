"""int8 variants with ONNX Runtime quantization: static QDQ for CNNs, dynamic for transformers.

Static quantization fixes activation ranges from calibration inputs, which suits
convolutional nets (ReLU6 activations have tight ranges); dynamic quantization computes
activation ranges per call, which suits transformer MatMuls whose ranges vary with the
input. Both run ONNX Runtime's shape-inference/optimisation pre-pass first, as its docs
recommend, so quantization sees fused Conv/BN and known shapes.
"""
from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from faasml.models.files import atomic_path
from faasml.models.weights import package_version

Feeds = dict[str, np.ndarray]


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice on the root logger; it would break progress lines."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


@contextmanager
def _pre_processed(src: Path, symbolic_shapes: bool = True) -> Iterator[Path]:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="faasml-quant-") as folder:
        out = Path(folder) / "pre.onnx"
        quant_pre_process(str(src), str(out), skip_symbolic_shape=not symbolic_shapes)
        yield out


def _calibration_reader(feeds: Sequence[Feeds]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(feeds)

        def get_next(self) -> Feeds | None:
            return next(self._items, None)

    return Reader()


def quantize_static_qdq(src: Path, dest: Path, calibration: Sequence[Feeds]) -> dict[str, Any]:
    """Write an int8 QDQ model of `src` to `dest`; return what was done, for the card."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("static quantization needs at least one calibration input")
    with _quiet_root_logger(), _pre_processed(src) as pre, atomic_path(dest) as tmp:
        quantize_static(str(pre), str(tmp), _calibration_reader(calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return {
        "method": f"onnxruntime=={package_version('onnxruntime')} quantize_static "
                  "after quant_pre_process",
        "format": "QDQ",
        "weights": "int8, per-channel",
        "activations": "uint8, per-tensor, MinMax ranges from the calibration inputs",
        "calibration_inputs": len(calibration),
    }


def quantize_dynamic_int8(src: Path, dest: Path) -> dict[str, Any]:
    """Write a dynamically quantized (int8 weights) model of `src` to `dest`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Symbolic shape inference cannot resolve the attention-mask arithmetic of traced
    # transformers ("Incomplete symbolic shape inference"); ONNX's own inference suffices.
    with _quiet_root_logger(), _pre_processed(src, symbolic_shapes=False) as pre, \
            atomic_path(dest) as tmp:
        # Per-channel weight scales: on all-MiniLM-L6-v2 they raise the mean fp32/int8
        # cosine from 0.966 (per-tensor) to 0.993 at the same speed.
        quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    return {
        "method": f"onnxruntime=={package_version('onnxruntime')} quantize_dynamic "
                  "after quant_pre_process",
        "format": "QOperator (dynamic)",
        "weights": "int8 (QInt8), per-channel",
        "activations": "quantized per call from their observed range (no calibration set)",
    }
