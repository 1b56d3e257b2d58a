"""The reference variants faasml ships: names (also OpenFaaS function names), task, precision.

int8 variants are made from their fp32 `base`, so a build orders each base first.
"""
from __future__ import annotations

from dataclasses import dataclass

from faasml.modelcard import TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING

MINILM_FAMILY = "all-MiniLM-L6-v2"
MINILM_TOKENIZER_DIR = "minilm-l6.tokenizer"  # shared by both MiniLM cards, beside them


@dataclass(frozen=True)
class Variant:
    name: str
    task: str
    family: str
    precision: str
    base: str | None = None  # the fp32 variant an int8 one is quantized from


def _pair(prefix: str, task: str, family: str) -> tuple[Variant, Variant]:
    fp32 = Variant(f"{prefix}-fp32", task, family, "fp32")
    return fp32, Variant(f"{prefix}-int8", task, family, "int8", base=fp32.name)


REFERENCE_VARIANTS: tuple[Variant, ...] = (
    *_pair("efficientnet-lite0", TASK_IMAGE_CLASSIFICATION, "efficientnet-lite0"),
    *_pair("efficientnet-lite1", TASK_IMAGE_CLASSIFICATION, "efficientnet-lite1"),
    *_pair("efficientnet-lite2", TASK_IMAGE_CLASSIFICATION, "efficientnet-lite2"),
    *_pair("minilm-l6", TASK_SENTENCE_EMBEDDING, MINILM_FAMILY),
)
BY_NAME = {v.name: v for v in REFERENCE_VARIANTS}
