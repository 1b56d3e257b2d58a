"""Building the EfficientNet-Lite variants: export fp32, then static int8 from it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faasml.models.accuracy import efficientnet_published, image_accuracy
from faasml.models.calibration import (IMAGE_RECIPE, calibration_feeds, calibration_files,
                                       calibration_source, load_ranges, ranges_file)
from faasml.modelcard import (ImagePreprocessing, ModelCard, card_path_for, file_sha256, load_card,
                              stamp_file)
from faasml.models.export import IMAGE_INPUT, IMAGE_OUTPUT, export_image_classifier, exporter_source
from faasml.models.imagenet import imagenet_labels
from faasml.models.progress import Progress
from faasml.models.quantize import RangesMismatch, StaticRecipe, calibrate_ranges, quantize_from_ranges
from faasml.models.variants import Variant
from faasml.models.weights import EFFICIENTNET_LITE, efficientnet_source, load_efficientnet_lite

# An int8 model that agrees with fp32 on fewer of the calibration photos than this is
# broken (wrong ranges, wrong input layout), not merely less accurate: fail the build.
MIN_CALIBRATION_AGREEMENT = 0.5


def _card(variant: Variant, image: ImagePreprocessing, source: dict[str, Any]) -> ModelCard:
    return ModelCard(name=variant.name, task=variant.task, family=variant.family,
                     precision=variant.precision, file=f"{variant.name}.onnx",
                     input_names=[IMAGE_INPUT], output_names=[IMAGE_OUTPUT],
                     image=image, labels=imagenet_labels(), source=source)


def _finish(card: ModelCard, out: Path, measured: dict[str, Any] | None) -> ModelCard:
    stamp_file(card, out)
    card.accuracy = image_accuracy(efficientnet_published(card.family, card.precision),
                                   measured, card.sha256)
    return card


def build_image_fp32(variant: Variant, out: Path, progress: Progress,
                     measured: dict[str, Any] | None) -> ModelCard:
    lite = EFFICIENTNET_LITE[variant.family]
    progress.phase("loading weights")
    model = load_efficientnet_lite(lite)
    progress.phase(f"exporting to ONNX ({lite.size}x{lite.size})")
    diff = export_image_classifier(model, lite.size, out / f"{variant.name}.onnx")
    source = {**efficientnet_source(lite), **exporter_source(),
              "export_check": f"max |onnxruntime - torch| on a probe batch: {diff:.2e}"}
    return _finish(_card(variant, ImagePreprocessing(size=lite.size), source), out, measured)


def _top1_agreement(fp32: Any, int8_path: Path, feeds: list[dict[str, np.ndarray]]) -> float:
    from faasml.executor.session import create_session

    session, _ = create_session(str(int8_path), "cpu", 0)
    same = [int(np.argmax(fp32.run(f))) == int(np.argmax(session.run(None, f)[0])) for f in feeds]
    return sum(same) / len(same)


def _from_recorded(variant: Variant, src: Path, dest: Path, base_sha256: str,
                   progress: Progress) -> dict[str, Any] | None:
    """Quantize from the family's recorded ranges; None when none fit this fp32 file."""
    record = load_ranges(variant.family)
    if record is None:
        return None
    recipe = StaticRecipe.from_dict(record["recipe"])
    progress.phase(f"quantizing from the recorded ranges ({recipe.label})")
    ranges = {name: (float(low), float(high)) for name, (low, high) in record["ranges"].items()}
    try:
        quantization = quantize_from_ranges(src, dest, ranges, recipe)
    except RangesMismatch:
        return None
    quantization.update({
        "calibration_set": record["calibration_set"],
        "evaluation_set": record["evaluation_set"],
        "ranges": f"faasml/models/data/calibration/{ranges_file(variant.family).name}, recorded "
                  f"{record['date']} on {record['cpu']} by `{record['command']}`",
        "ranges_sha256": file_sha256(ranges_file(variant.family)),
    })
    if record["fp32_sha256"] != base_sha256:
        quantization["note"] = ("ranges recorded on an fp32 file with another sha256 (same graph, other "
                                "bits): rerun `faasml models calibrate` to record them for this one")
    return quantization


def build_image_int8(variant: Variant, out: Path, progress: Progress,
                     measured: dict[str, Any] | None) -> ModelCard:
    from faasml.executor.variant import load_variant

    base_path = card_path_for(out, variant.base or "")
    base = load_card(base_path)
    src, dest = out / base.file, out / f"{variant.name}.onnx"
    quantization = _from_recorded(variant, src, dest, base.sha256, progress)
    fp32 = load_variant(base_path, provider="cpu", intra_op_threads=0)
    files = calibration_files()
    feeds = calibration_feeds(fp32, files)
    if quantization is None:   # no recorded ranges fit: calibrate here, on scikit-image's photos
        progress.phase(f"calibrating and quantizing ({len(files)} scikit-image photos)")
        ranges = calibrate_ranges(src, feeds, IMAGE_RECIPE)
        quantization = quantize_from_ranges(src, dest, ranges, IMAGE_RECIPE)
        quantization.update({"calibration_set": calibration_source(files),
                             "note": "no recorded ranges fit this fp32 file: calibrated at build time on "
                                     "this CPU, so the bytes depend on it (quantize.py)"})
    progress.phase("checking int8 against fp32")
    agreement = _top1_agreement(fp32, dest, feeds)
    if agreement < MIN_CALIBRATION_AGREEMENT:
        dest.unlink()
        raise RuntimeError(f"{variant.name}: int8 top-1 agrees with fp32 on only "
                           f"{agreement:.0%} of the scikit-image photos; quantization is broken")
    source = {**base.source, "quantization": {
        **quantization, "top1_agreement_with_fp32_on_scikit_image_photos": agreement},
        "quantized_from": {"variant": base.name, "sha256": base.sha256}}
    source.pop("export_check", None)
    return _finish(_card(variant, base.image, source), out, measured)
