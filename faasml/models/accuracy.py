"""Accuracy figures for the cards: published ones (with where they come from) and measured ones.

The selector ranks variants of a task by `accuracy.value`, so every value says exactly
what it is. Image variants use top-1 measured with `faasml models eval` on the 1000-image
ImageNet sample once recorded (fp32 and int8 then stand on the same footing), else the
published fp32 figure. Measurements are recorded in the committed
`data/measured_accuracy.json`, so a build on a machine without the sample gets the same
numbers, tied to the sha256 of the .onnx they were measured on.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faasml.modelcard import ModelCard
from faasml.models.files import atomic_path

DATA_DIR = Path(__file__).parent / "data"
MEASURED_FILE = DATA_DIR / "measured_accuracy.json"
SAMPLE_DATASET = ("measured on the 1000-image ImageNet sample (one photo per class; "
                  "not the ImageNet validation set)")
IMAGE_METRIC_MEASURED = "top-1 accuracy (measured; the source names the images)"

_LITE_README = ("tensorflow/tpu, models/official/efficientnet/lite/README.md (table columns "
                "'FP32 accuracy' and 'INT8 accuracy'), "
                "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite")
# family -> (fp32 top-1, TFLite post-training int8 top-1), ImageNet-1k validation set.
EFFICIENTNET_LITE_PUBLISHED = {
    "efficientnet-lite0": (0.751, 0.744),
    "efficientnet-lite1": (0.767, 0.759),
    "efficientnet-lite2": (0.776, 0.770),
}
MINILM_PUBLISHED = {
    "value": 0.6806,
    "metric": "average performance on 14 sentence-embedding tasks (sentence-transformers "
              "benchmark, 68.06 on a 0-100 scale)",
    "source": "sentence-transformers pretrained-models table, "
              "https://www.sbert.net/docs/sentence_transformer/pretrained_models.html "
              "(data: UKPLab/sentence-transformers docs/_static/html/"
              "models_en_sentence_embeddings.html, all-MiniLM-L6-v2 sentence_performance)",
}


def efficientnet_published(family: str, precision: str) -> dict[str, Any]:
    fp32, tflite_int8 = EFFICIENTNET_LITE_PUBLISHED[family]
    block: dict[str, Any] = {"value": fp32, "metric": "ImageNet-1k validation top-1 (fp32 model)",
                             "source": _LITE_README}
    if precision == "int8":
        # Published for TFLite's own post-training quantization, not for this ONNX Runtime
        # int8 model: shown for comparison, never used as this variant's value.
        block["tflite_int8_value"] = tflite_int8
    return block


def load_recorded(path: Path = MEASURED_FILE) -> dict[str, dict[str, Any]]:
    """Recorded measurements per variant name ({} when none were recorded)."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("variants", {})


def save_recorded(measurements: dict[str, dict[str, Any]], path: Path = MEASURED_FILE) -> None:
    """Merge `measurements` into the recorded file (variants not measured now are kept)."""
    variants = load_recorded(path)
    variants.update(measurements)
    body = {"about": "top-1/top-5 of the reference image variants, written by "
                     "`faasml models eval --record`; merged into cards by `faasml models build`",
            "variants": dict(sorted(variants.items()))}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def published_for(card: ModelCard) -> dict[str, Any] | None:
    """The card's published block, or the reference one for its family, or None."""
    if card.accuracy.get("published"):
        return card.accuracy["published"]
    if card.family in EFFICIENTNET_LITE_PUBLISHED:
        return efficientnet_published(card.family, card.precision)
    return None


def image_accuracy(published: dict[str, Any] | None, measured: dict[str, Any] | None,
                   sha256: str) -> dict[str, Any]:
    """The card's accuracy block for an image variant: measured top-1 when recorded."""
    extra = {"published": published} if published else {}
    if measured is None:
        if not published:
            return {"basis": "unknown", "source": "not measured, and no published figure"}
        return {"value": published["value"], "metric": published["metric"], "basis": "published",
                "source": "published fp32 figure (" + published["source"] + "); "
                          "not measured for this variant", **extra}
    measured = dict(measured, matches_this_file=measured.get("onnx_sha256") == sha256)
    source = (f"{measured.get('dataset', 'measured')}, n={measured.get('n')}, "
              f"{measured.get('date', 'undated')}, with `faasml models eval`")
    if not measured["matches_this_file"]:
        source += ("; note: measured on a file with a different sha256 (an export with other "
                   "library versions), this file was not measured itself")
    return {"value": measured["top1"], "metric": IMAGE_METRIC_MEASURED, "basis": "measured",
            "source": source, **extra, "measured": measured}


def apply_measurement(card: ModelCard, measured: dict[str, Any]) -> None:
    """Put a fresh measurement into an image card (keeps its published block)."""
    card.accuracy = image_accuracy(published_for(card), measured, card.sha256)
