"""Building the EfficientNet-Lite variants: export fp32, then static int8 from it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faasml.models.accuracy import efficientnet_published, image_accuracy
from faasml.models.calibration import calibration_feeds, calibration_files, calibration_source
from faasml.modelcard import ImagePreprocessing, ModelCard, card_path_for, load_card, stamp_file
from faasml.models.export import IMAGE_INPUT, IMAGE_OUTPUT, export_image_classifier, exporter_source
from faasml.models.imagenet import imagenet_labels
from faasml.models.progress import Progress
from faasml.models.quantize import quantize_static_qdq
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


def build_image_int8(variant: Variant, out: Path, progress: Progress,
                     measured: dict[str, Any] | None) -> ModelCard:
    from faasml.executor.variant import load_variant

    base_path = card_path_for(out, variant.base or "")
    # Calibrated on Pillow's pixels, as the int8 files always were: their activation
    # ranges (and so their bytes, which measured_accuracy.json names by sha256) stay the
    # same whichever resize backend the executors serve with; the ranges differ by less
    # than the two resamplers do (accuracy of both: docs/executors.md).
    fp32 = load_variant(base_path, provider="cpu", intra_op_threads=0, resize_backend="pillow")
    files = calibration_files()
    progress.phase(f"preprocessing calibration photos ({len(files)} images)")
    feeds = calibration_feeds(fp32, files)
    progress.phase(f"calibrating and quantizing ({len(files)} images)")
    dest = out / f"{variant.name}.onnx"
    quantization = quantize_static_qdq(out / fp32.card.file, dest, feeds)
    progress.phase("checking int8 against fp32")
    agreement = _top1_agreement(fp32, dest, feeds)
    if agreement < MIN_CALIBRATION_AGREEMENT:
        dest.unlink()
        raise RuntimeError(f"{variant.name}: int8 top-1 agrees with fp32 on only "
                           f"{agreement:.0%} of the calibration photos; quantization is broken")
    base = fp32.card
    source = {**base.source, "quantization": {
        **quantization, "calibration_set": calibration_source(files),
        "top1_agreement_with_fp32_on_calibration_photos": agreement},
        "quantized_from": {"variant": base.name, "sha256": base.sha256}}
    source.pop("export_check", None)
    # int8 is fed exactly what fp32 is: the base card's own preprocessing block (not the
    # Pillow override the calibration loaded it with)
    return _finish(_card(variant, load_card(base_path).image, source), out, measured)
