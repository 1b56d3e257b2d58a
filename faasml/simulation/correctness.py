"""`faasml bench correctness`: every image model on every labelled photo, with the
executor's own code, written as the table the simulator draws correctness from.

Each model is loaded as an executor loads it (`faasml.executor.variant.load_variant`,
one intra-op thread, the card's preprocessing) and classifies every photo of the
labelled folder, read as the evaluation's load generator reads it
(`faasml.evaluation.inputs.image_inputs`); a photo is right when the top-1 index is its
label. The table: per model, one bit per photo (hex), its top-1 rate, and the SHA-256 of
the model file it measured, so a table measured on other model files is recognisable.
Re-running merges: models measured again replace their rows, the others stay.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Sequence

from faasml.simulation.service import encode_bits

TASK = "image-classification"


def image_cards(models: Path, only: Sequence[str] = ()) -> list[Path]:
    """The image-classification cards in `models` (all, or those named)."""
    cards = []
    for card in sorted(Path(models).glob("*.card.json")):
        name = card.name[: -len(".card.json")]
        if only and name not in only:
            continue
        try:
            task = json.loads(card.read_text()).get("task")
        except (OSError, ValueError):
            continue
        if task == TASK:
            cards.append(card)
    return cards


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def measure_model(card: Path, inputs, progress: Callable[[str], None] | None = None) -> dict:
    from faasml.executor.variant import load_variant

    variant = load_variant(card, "cpu", 1)
    bits = []
    started = time.perf_counter()
    for i, item in enumerate(inputs):
        predictions = variant.classify(item.body, 1)
        bits.append(bool(predictions) and predictions[0]["index"] == item.label)
        if progress and (i + 1) % 250 == 0:
            progress(f"{card.name}: {i + 1}/{len(inputs)}")
    model_file = card.parent / variant.card.file
    return {"bits": encode_bits(bits), "top1": round(sum(bits) / len(bits), 4), "photos": len(bits),
            "model_sha256": file_digest(model_file), "seconds": round(time.perf_counter() - started, 1)}


def measure(models: Path, data: Path, out: Path, only: Sequence[str] = (),
            progress: Callable[[str], None] = print) -> dict:
    from faasml.evaluation.inputs import image_inputs
    from faasml.evaluation.runner import machine_info

    inputs = image_inputs(data)
    cards = image_cards(models, only)
    if not cards:
        raise FileNotFoundError(f"no image-classification model cards in {models} (build them: make models)")
    table: dict = {}
    if out.is_file():
        table = json.loads(out.read_text())
        if table.get("photos") != [i.name for i in inputs]:
            progress(f"{out} was measured on other photos: starting a new table")
            table = {}
    models_rows = dict(table.get("models") or {})
    for card in cards:
        name = card.name[: -len(".card.json")]
        progress(f"{name}: classifying {len(inputs)} photos")
        models_rows[name] = measure_model(card, inputs, progress)
        progress(f"{name}: top-1 {models_rows[name]['top1']:.4f} ({models_rows[name]['seconds']:.0f} s)")
    machine = machine_info()
    table = {
        "measured_on": f"{machine['cpu_model']}, {machine['usable_cpus']} CPUs",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": "faasml bench correctness: the executor's load_variant (1 intra-op thread) classifies every "
                  "photo of the labelled folder (read as the evaluation reads it); bit = top-1 index == label; "
                  "photos in sorted file order, first photo in the highest bit of the first hex digit",
        "data": Path(data).name,
        "photos": [i.name for i in inputs],
        "models": dict(sorted(models_rows.items())),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1) + "\n")
    return table
