"""Export torch modules to ONNX and check the export against torch before trusting it.

The TorchScript exporter (`dynamo=False`) is used on purpose: it writes one self-contained
.onnx (no external-data side file) in about a second for these models, and its graphs
quantize cleanly with ONNX Runtime. Every export is run once in ONNX Runtime on a probe
batch with a *different* batch size (and, for text, sequence length) than the one traced,
so a dynamic axis that got frozen, or a numeric mismatch, fails the build instead of
shipping a model that answers wrongly.
"""
from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from faasml.models.files import atomic_path
from faasml.models.weights import package_version

OPSET = 17
IMAGE_INPUT, IMAGE_OUTPUT = "input", "logits"
TEXT_OUTPUT = "last_hidden_state"
# Largest |onnx - torch| accepted on the probe: fp32 kernels differ by ~1e-5 on logits of
# magnitude ~10 and on hidden states of magnitude ~1; a broken export differs by whole units.
MAX_ABS_DIFF = 1e-3


class ExportMismatch(RuntimeError):
    """The exported model disagrees with torch on the probe input."""


def exporter_source() -> dict[str, Any]:
    return {"exporter": f"torch=={package_version('torch')} torch.onnx.export (dynamo=False)",
            "opset": OPSET}


def _session(path: Path) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _check(diff: float, what: str) -> float:
    if not np.isfinite(diff) or diff > MAX_ABS_DIFF:
        raise ExportMismatch(f"{what}: ONNX Runtime differs from torch by {diff:.3g} "
                             f"(limit {MAX_ABS_DIFF})")
    return diff


def export_image_classifier(model: Any, size: int, dest: Path) -> float:
    """Write `dest` (input NCHW float32 `input`, output `logits`); return the probe max |diff|."""
    import torch

    dynamic = {IMAGE_INPUT: {0: "batch"}, IMAGE_OUTPUT: {0: "batch"}}
    probe = torch.from_numpy(np.random.default_rng(0).standard_normal(
        (3, 3, size, size), dtype=np.float32))
    with atomic_path(dest) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter would break the progress line
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(tmp), dynamo=False,
                          opset_version=OPSET, input_names=[IMAGE_INPUT],
                          output_names=[IMAGE_OUTPUT], dynamic_axes=dynamic)
        expected = model(probe).numpy()
        got = _session(tmp).run([IMAGE_OUTPUT], {IMAGE_INPUT: probe.numpy()})[0]
        return _check(float(np.abs(got - expected).max()), dest.name)


def text_input_names(model: Any) -> list[str]:
    """input_ids, attention_mask, and token_type_ids when the model's forward takes it."""
    accepted = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in accepted:
        names.append("token_type_ids")
    return names


def _token_encoder(model: Any, input_names: list[str]) -> Any:
    """Wrap a Hugging Face encoder so the graph has positional inputs and one output."""
    import torch

    class TokenEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(input_names, inputs))).last_hidden_state

    return TokenEncoder().eval()


def _mean_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    return (states * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)


TRACE_TEXTS = ["A short sentence.", "A somewhat longer sentence, padded against the first."]
PROBE_TEXTS = ["Probe one.", "The probe batch has three texts of different lengths, so "
               "both the batch and the sequence axes must be dynamic in the export.", "Three"]


def export_token_encoder(model: Any, tokenizer: Any, dest: Path) -> tuple[list[str], float]:
    """Export token-level states (`last_hidden_state`) with dynamic batch and sequence axes.

    Returns the input names and the probe's max |diff| of mean-pooled embeddings (what the
    executor serves), computed over real tokens only.
    """
    import torch

    names = text_input_names(model)
    wrapper = _token_encoder(model, names)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in [*names, TEXT_OUTPUT]}
    trace = tokenizer(TRACE_TEXTS, padding=True, return_tensors="pt")
    probe = tokenizer(PROBE_TEXTS, padding=True, return_tensors="pt")
    with atomic_path(dest) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, tuple(trace[n] for n in names), str(tmp), dynamo=False,
                          opset_version=OPSET, input_names=names, output_names=[TEXT_OUTPUT],
                          dynamic_axes=dynamic)
        mask = probe["attention_mask"].numpy()
        expected = _mean_pool(wrapper(*(probe[n] for n in names)).numpy(), mask)
        feeds = {n: probe[n].numpy().astype(np.int64) for n in names}
        got = _mean_pool(_session(tmp).run([TEXT_OUTPUT], feeds)[0], mask)
        return names, _check(float(np.abs(got - expected).max()), dest.name)
