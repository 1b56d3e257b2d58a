"""`faasml models build`: decide what is missing or stale, build it, write the cards last.

A variant is up to date when its card parses and its .onnx matches the card's size and
sha256 (`card_problem`); then nothing heavy is imported and the build is a no-op. The
card is written after its .onnx, and both atomically, so an interrupted build leaves
either a finished variant or one that the next build redoes.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from faasml.models.accuracy import image_accuracy, load_recorded, published_for
from faasml.modelcard import (TASK_IMAGE_CLASSIFICATION, ModelCard, card_path_for, card_problem,
                                load_card, save_card)
from faasml.models.files import remove_stale_temporaries
from faasml.models.progress import Progress
from faasml.models.variants import BY_NAME, REFERENCE_VARIANTS, Variant


class UnknownVariant(ValueError):
    """--only named a variant that is not one of the reference variants."""


@dataclass(frozen=True)
class PlannedBuild:
    variant: Variant
    reason: str  # why it is (re)built: "no card", "sha256 differs", "--force", ...


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    refreshed_accuracy: list[str] = field(default_factory=list)
    seconds: float = 0.0


def select(only: list[str] | None) -> list[Variant]:
    if not only:
        return list(REFERENCE_VARIANTS)
    unknown = [name for name in only if name not in BY_NAME]
    if unknown:
        raise UnknownVariant(f"unknown variant(s) {', '.join(unknown)}; "
                             f"known: {', '.join(BY_NAME)}")
    return [v for v in REFERENCE_VARIANTS if v.name in only]


def plan_builds(out: Path, only: list[str] | None = None, force: bool = False) -> list[PlannedBuild]:
    """What to build, bases first. An int8 variant pulls in its fp32 base when that is not
    intact, and is rebuilt whenever its base is (it must be quantized from that file)."""
    selected = select(only)
    selected_names = {v.name for v in selected}
    needed_bases = {v.base for v in selected if v.base}
    plan: list[PlannedBuild] = []
    for variant in REFERENCE_VARIANTS:  # bases come before their int8 variants
        rebuilt = {p.variant.name for p in plan}
        if variant.name in selected_names:
            reason = "--force" if force else card_problem(out, variant.name)
            if not reason and variant.base in rebuilt:
                reason = f"its base {variant.base} is rebuilt"
        elif variant.name in needed_bases:
            problem = card_problem(out, variant.name)
            reason = f"base of a selected variant: {problem}" if problem else None
        else:
            reason = None
        if reason:
            plan.append(PlannedBuild(variant, reason))
    return plan


def _builder(variant: Variant) -> Callable[..., ModelCard]:
    if variant.task == TASK_IMAGE_CLASSIFICATION:
        from faasml.models import build_image

        return build_image.build_image_int8 if variant.base else build_image.build_image_fp32
    from faasml.models import build_text

    return build_text.build_text_int8 if variant.base else build_text.build_text_fp32


def _build_one(variant: Variant, out: Path, progress: Progress,
               recorded: dict[str, dict]) -> ModelCard:
    builder = _builder(variant)
    if variant.task == TASK_IMAGE_CLASSIFICATION:
        return builder(variant, out, progress, recorded.get(variant.name))
    return builder(variant, out, progress)


def _summary(card: ModelCard) -> str:
    value = card.accuracy.get("value")
    shown = f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"
    return f"{card.size_bytes / 1e6:.1f} MB, accuracy {shown} ({card.accuracy.get('basis', '?')})"


def refresh_recorded_accuracy(out: Path, names: list[str], recorded: dict[str, dict]) -> list[str]:
    """Bring intact image cards in line with the recorded measurements (no rebuild needed)."""
    changed = []
    for name in names:
        card = load_card(card_path_for(out, name))
        if card.task != TASK_IMAGE_CLASSIFICATION:
            continue
        accuracy = image_accuracy(published_for(card), recorded.get(name), card.sha256)
        if accuracy != card.accuracy:
            card.accuracy = accuracy
            save_card(card, out)
            changed.append(name)
    return changed


def run_build(out: Path, only: list[str] | None = None, force: bool = False,
              stream: TextIO | None = None) -> BuildReport:
    stream = stream if stream is not None else sys.stderr
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    plan = plan_builds(out, only, force)
    recorded = load_recorded()
    report = BuildReport()
    progress = Progress(len(plan), stream=stream)
    for item in plan:
        with progress.step(item.variant.name) as step:
            step.phase(f"building ({item.reason})")
            card = _build_one(item.variant, out, step, recorded)
            save_card(card, out)  # last: the card is what marks the variant complete
            step.summary = _summary(card)
        report.built.append(item.variant.name)
    report.up_to_date = [v.name for v in select(only) if v.name not in report.built]
    report.refreshed_accuracy = refresh_recorded_accuracy(out, report.up_to_date, recorded)
    report.seconds = time.monotonic() - started
    return report
