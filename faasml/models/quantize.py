"""int8 variants with ONNX Runtime quantization: static QDQ for CNNs, dynamic for transformers.

Static quantization fixes activation ranges from calibration inputs, which suits
convolutional nets (ReLU6 activations have tight ranges); dynamic quantization computes
activation ranges per call, which suits transformer MatMuls whose ranges vary with the
input. Both run ONNX Runtime's shape-inference/optimisation pre-pass first, as its docs
recommend, so quantization sees fused Conv/BN and known shapes.
"""
from __future__ import annotations

import inspect
import logging
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
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


# static int8 from recorded ranges ------------------------------------------------------
#
# A static int8 model is its fp32 graph plus one (low, high) range per activation tensor.
# Calibration (running the fp32 model on photos) is the only CPU-dependent step: ONNX
# Runtime's kernels dispatch on the CPU's instructions (AVX2, AVX-512, VNNI), so the same
# photos give ranges that differ in their last bits from one x86 CPU to another, and so do
# the int8 files. `calibrate_ranges` runs once, on the calibration half of the labelled
# sample, and its ranges are committed (faasml/models/data/calibration/); a build
# quantizes from them, which is pure arithmetic on the weights (numpy), the same on every
# CPU. The recipe says how the ranges were taken and which layers stay in float.

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
QUANT_FORMATS = ("QDQ", "QOperator")
# Node groups a recipe may keep in fp32, found by their place in the graph (node_groups).
NODE_GROUPS = ("stem", "classifier", "head", "depthwise", "squeeze-excite")


@dataclass(frozen=True)
class StaticRecipe:
    """How a static int8 model is made: the range method and what stays in float."""

    method: str = "minmax"           # how each activation's range is taken from the photos
    percentile: float = 99.999       # for "percentile": share of |values| the range covers
    per_channel: bool = True         # one weight scale per output channel (else per tensor)
    quant_format: str = "QDQ"        # QDQ (Q/DQ pairs, fused at load) or QOperator (QLinearConv...)
    keep_fp32: tuple[str, ...] = ()  # NODE_GROUPS left unquantized

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method {self.method!r} is not one of {CALIBRATION_METHODS}")
        if self.quant_format not in QUANT_FORMATS:
            raise ValueError(f"format {self.quant_format!r} is not one of {QUANT_FORMATS}")
        unknown = sorted(set(self.keep_fp32) - set(NODE_GROUPS))
        if unknown:
            raise ValueError(f"unknown node group(s) {', '.join(unknown)}; known: {', '.join(NODE_GROUPS)}")

    @property
    def label(self) -> str:
        method = f"percentile {self.percentile:g}" if self.method == "percentile" else self.method
        words = [method, "per-channel" if self.per_channel else "per-tensor", self.quant_format]
        if self.keep_fp32:
            words.append("fp32 " + "+".join(self.keep_fp32))
        return ", ".join(words)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "percentile": self.percentile, "per_channel": self.per_channel,
                "quant_format": self.quant_format, "keep_fp32": list(self.keep_fp32)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StaticRecipe":
        return cls(method=data["method"], percentile=float(data.get("percentile", 99.999)),
                   per_channel=bool(data.get("per_channel", True)),
                   quant_format=data.get("quant_format", "QDQ"),
                   keep_fp32=tuple(data.get("keep_fp32", ())))


Ranges = dict[str, tuple[float, float]]


class RangesMismatch(ValueError):
    """Recorded ranges do not name this graph's tensors (an fp32 export of other versions)."""


def node_groups(model: Any) -> dict[str, list[str]]:
    """Node names of each NODE_GROUPS group in an ONNX model (after pre-processing).

    stem: the first Conv fed by a graph input; classifier: the Gemm/MatMul nodes that
    write a graph output; head: the last Conv before the classifier; depthwise: Conv
    nodes with one group per input channel; squeeze-excite: the nodes between an inner
    global pooling and the Sigmoid/HardSigmoid that gates its block (none in
    EfficientNet-Lite, which dropped squeeze-excite for integer hardware)."""
    nodes = list(model.graph.node)
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    convs = [n for n in nodes if n.op_type == "Conv"]
    groups: dict[str, list[str]] = {g: [] for g in NODE_GROUPS}
    groups["stem"] = [n.name for n in convs if inputs & set(n.input)][:1]
    groups["classifier"] = [n.name for n in nodes
                            if n.op_type in ("Gemm", "MatMul") and outputs & set(n.output)]
    groups["head"] = [convs[-1].name] if convs else []
    groups["depthwise"] = [n.name for n in convs if _group(n) > 1]
    groups["squeeze-excite"] = _squeeze_excite(nodes)
    return groups


def _group(node: Any) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def _squeeze_excite(nodes: list[Any]) -> list[str]:
    consumers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    pools = [n for n in nodes if n.op_type in ("GlobalAveragePool", "ReduceMean")]
    found: list[str] = []
    for pool in pools[:-1] if len(pools) > 1 else []:   # the last one feeds the classifier
        path, frontier = [], list(pool.output)
        for _ in range(8):  # an SE branch is a handful of nodes long
            nxt = [c for name in frontier for c in consumers.get(name, [])]
            if not nxt:
                break
            path.extend(nxt)
            if any(c.op_type in ("Sigmoid", "HardSigmoid") for c in nxt):
                found.extend(n.name for n in [pool, *path])
                break
            frontier = [o for c in nxt for o in c.output]
    return sorted(set(found))


def calibrate_ranges(src: Path, feeds: Sequence[Feeds], recipe: StaticRecipe) -> Ranges:
    """Each activation tensor's (low, high) over `feeds`, by the recipe's method, on the
    pre-processed graph of `src` (whose tensor names quantize_from_ranges uses)."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    if not feeds:
        raise ValueError("calibration needs at least one input")
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[recipe.method]
    # Ranges follow the data, not zero: ReLU6 outputs are >= 0, and a range symmetric
    # about zero would leave half of uint8's 256 steps unused.
    options: dict[str, Any] = {"symmetric": False}
    if recipe.method == "percentile":
        options["percentile"] = recipe.percentile
    with _quiet_root_logger(), _pre_processed(src) as pre, \
            tempfile.TemporaryDirectory(prefix="faasml-calib-") as folder:
        calibrator = create_calibrator(pre, None, str(Path(folder) / "augmented.onnx"),
                                       calibrate_method=method, extra_options=options)
        # A few feeds per call: each call folds its outputs into the ranges (or histograms)
        # and drops them, so memory stays bounded over hundreds of photos. (Not ONNX
        # Runtime's max_intermediate_outputs, which in 1.32 drops full chunks unmerged.)
        for start in range(0, len(feeds), 4):
            calibrator.collect_data(_calibration_reader(feeds[start:start + 4]))
        data = calibrator.compute_data()
    ranges: Ranges = {}
    for name, tensor in data.items():
        low, high = tensor.range_value
        low, high = (float(np.asarray(v, dtype=np.float32).reshape(-1)[0]) for v in (low, high))
        ranges[name] = (low, high)
    return dict(sorted(ranges.items()))


def quantize_from_ranges(src: Path, dest: Path, ranges: Ranges, recipe: StaticRecipe) -> dict[str, Any]:
    """Write the static int8 model of `src` with the given activation ranges to `dest`.

    No inference runs: ONNX Runtime's quantizer takes the ranges as a calibration cache,
    so the file depends on `src`, the ranges and the library versions only."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise RuntimeError("building int8 from recorded ranges needs onnxruntime>=1.32 "
                           f"(this is {package_version('onnxruntime')})")
    with _quiet_root_logger(), _pre_processed(src) as pre, atomic_path(dest) as tmp:
        model = onnx.load(str(pre))
        missing = sorted({o for n in model.graph.node for o in n.output} - set(ranges)
                         - {o.name for o in model.graph.output})
        if missing:
            raise RangesMismatch(f"the ranges lack {len(missing)} of this graph's activation tensors "
                                 f"(e.g. {missing[0]}): they were taken on another fp32 graph")
        groups = node_groups(model)
        excluded = sorted({name for g in recipe.keep_fp32 for name in groups[g]})
        data = TensorsData(CalibrationMethod.MinMax, {
            name: TensorData(lowest=np.float32(low), highest=np.float32(high))
            for name, (low, high) in ranges.items()})
        cache = pre.with_name("ranges.json")
        save_tensors_data(data, cache)
        fmt = QuantFormat.QDQ if recipe.quant_format == "QDQ" else QuantFormat.QOperator
        quantize_static(str(pre), str(tmp), None, quant_format=fmt, per_channel=recipe.per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.MinMax,
                        calibration_cache_path=str(cache))
    return {
        "method": f"onnxruntime=={package_version('onnxruntime')} quantize_static after "
                  "quant_pre_process, from recorded activation ranges (no inference at build)",
        "format": recipe.quant_format,
        "weights": "int8, " + ("per-channel" if recipe.per_channel else "per-tensor"),
        "activations": f"uint8, per-tensor, {recipe.label.split(',')[0]} ranges",
        "kept_fp32": {g: groups[g] for g in recipe.keep_fp32},
        "recipe": recipe.to_dict(),
    }
