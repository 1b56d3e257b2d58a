"""Building the sentence-embedding variants: all-MiniLM-L6-v2 fp32, its int8, and hub models.

The ONNX graph outputs token states (`last_hidden_state`); mean pooling over the
attention mask and L2 normalization happen in the executor, as the card's `text` block
says, so one graph serves any pooling the card asks for.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from faasml.models.accuracy import MINILM_PUBLISHED
from faasml.models.agreement import PAIRS_FILE, agreement, load_pairs
from faasml.modelcard import (TASK_SENTENCE_EMBEDDING, ModelCard, TextPreprocessing,
                                card_path_for, load_card, stamp_file)
from faasml.models.export import TEXT_OUTPUT, export_token_encoder, exporter_source
from faasml.models.files import atomic_path
from faasml.models.progress import Progress
from faasml.models.quantize import quantize_dynamic_int8
from faasml.models.variants import MINILM_TOKENIZER_DIR, Variant
from faasml.models.weights import minilm_folder, minilm_source, package_version

DEFAULT_MAX_LENGTH = 256
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # an OpenFaaS function name


class HubUnavailable(RuntimeError):
    """The model could not be fetched from the Hugging Face hub (offline, unknown id, auth)."""


def max_length(folder: Path | None, tokenizer: Any, model: Any) -> int:
    """Sequence limit: sentence-transformers' own setting when the folder has one."""
    config = folder / "sentence_bert_config.json" if folder else None
    if config and config.is_file():
        return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])
    limits = [DEFAULT_MAX_LENGTH, getattr(model.config, "max_position_embeddings", 10**9),
              tokenizer.model_max_length]
    return int(min(limits))


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """The tokenizer's files, tokenizer.json always among them: executors read that file
    with `tokenizers` alone (no transformers in their images), so a model that ships only
    a slow tokenizer is converted here, at build time."""
    tokenizer.save_pretrained(str(folder))
    if not (folder / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(folder), use_fast=True).backend_tokenizer.save(
            str(folder / "tokenizer.json"))


def _export_fp32(name: str, family: str, tokenizer: Any, model: Any, out: Path,
                 progress: Progress, tokenizer_dir: str, limit: int,
                 source: dict[str, Any], accuracy: dict[str, Any]) -> ModelCard:
    progress.phase("saving tokenizer")
    with atomic_path(out / tokenizer_dir) as tmp:
        save_tokenizer(tokenizer, Path(tmp))
    progress.phase("exporting to ONNX")
    names, diff = export_token_encoder(model, tokenizer, out / f"{name}.onnx")
    card = ModelCard(name=name, task=TASK_SENTENCE_EMBEDDING, family=family, precision="fp32",
                     file=f"{name}.onnx", input_names=names, output_names=[TEXT_OUTPUT],
                     text=TextPreprocessing(tokenizer=tokenizer_dir, max_length=limit),
                     embedding_dim=int(model.config.hidden_size), accuracy=accuracy,
                     source={**source, **exporter_source(), "export_check":
                             f"max |onnxruntime - torch| of mean-pooled probe embeddings: {diff:.2e}"})
    return stamp_file(card, out)


def build_text_fp32(variant: Variant, out: Path, progress: Progress) -> ModelCard:
    from transformers import AutoModel, AutoTokenizer

    progress.phase("loading weights")
    folder = minilm_folder()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    accuracy = {**MINILM_PUBLISHED, "basis": "published", "published": dict(MINILM_PUBLISHED)}
    return _export_fp32(variant.name, variant.family, tokenizer, model, out, progress,
                        MINILM_TOKENIZER_DIR, max_length(folder, tokenizer, model),
                        minilm_source(), accuracy)


def _int8_accuracy(published: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    rho = measured["spearman_pair_similarity"]
    value = round(published["value"] * rho, 4)
    return {
        "value": value, "metric": published["metric"], "basis": "estimate",
        "source": (f"estimate, not a benchmark run: the published fp32 figure "
                   f"{published['value']} x the Spearman rank agreement {rho} between int8 "
                   f"and fp32 similarities of {measured['pairs']} sentence pairs "
                   f"(faasml/models/data/{PAIRS_FILE.name}), measured at build time"),
        "published": dict(published), "agreement_with_fp32": measured,
    }


def build_text_int8(variant: Variant, out: Path, progress: Progress) -> ModelCard:
    from faasml.executor.variant import load_variant

    base_path = card_path_for(out, variant.base or "")
    base = load_card(base_path)
    progress.phase("quantizing (dynamic int8 weights)")
    dest = out / f"{variant.name}.onnx"
    quantization = quantize_dynamic_int8(out / base.file, dest)
    card = ModelCard(**{**base.__dict__, "name": variant.name, "precision": "int8",
                        "file": dest.name, "accuracy": {}})
    card.source = {**base.source, "quantization": quantization,
                   "quantized_from": {"variant": base.name, "sha256": base.sha256}}
    card.source.pop("export_check", None)
    stamp_file(card, out)
    progress.phase("measuring agreement with fp32")
    # load_variant reads a card file; a hidden pending card (not *.card.json, so never
    # listed or trusted) lets us measure through the executor before the real card exists.
    pending = out / f".{variant.name}.pending.json"
    pending.write_text(json.dumps(card.to_dict()), encoding="utf-8")
    try:
        fp32 = load_variant(base_path, provider="cpu", intra_op_threads=0)
        int8 = load_variant(pending, provider="cpu", intra_op_threads=0)
        measured = agreement(lambda texts: fp32.embed(texts)[0], lambda texts: int8.embed(texts)[0],
                             load_pairs())
    finally:
        pending.unlink(missing_ok=True)
    card.accuracy = _int8_accuracy(base.accuracy.get("published", base.accuracy), measured)
    return card


def build_from_hub(model_id: str, name: str, out: Path, progress: Progress) -> ModelCard:
    """fp32 sentence-embedding variant `name` from a Hugging Face hub model (needs network)."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"--name {name!r} must be a function name: lowercase letters, digits, '-'")
    from transformers import AutoModel, AutoTokenizer

    progress.phase(f"fetching {model_id} from the Hugging Face hub")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
        model = AutoModel.from_pretrained(model_id).eval()
    except (OSError, ValueError) as exc:  # offline, unknown id, gated repo: all arrive as these
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        hint = " (HF_HUB_OFFLINE is set)" if offline else ""
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubUnavailable(f"cannot load {model_id!r} from the Hugging Face hub{hint}: "
                             f"{first_line}") from None
    accuracy = {"basis": "unknown",
                "source": f"not known: exported from the Hugging Face hub model {model_id}; "
                          "no figure is published in faasml for it"}
    source = {"weights": f"Hugging Face hub {model_id}",
              "loader": f"transformers=={package_version('transformers')} AutoModel/AutoTokenizer"}
    return _export_fp32(name, model_id, tokenizer, model, out, progress, f"{name}.tokenizer",
                        max_length(None, tokenizer, model), source, accuracy)
