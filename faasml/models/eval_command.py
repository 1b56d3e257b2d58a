"""`faasml models eval`: measuring variants' accuracy, printing the tables."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from faasml.modelcard import (TASK_IMAGE_CLASSIFICATION, ModelCard, card_path_for, card_problem,
                                list_cards, save_card)
from faasml.models.console import fail
from faasml.tables import format_table


# eval -----------------------------------------------------------------------------------

def _eval_command(args: argparse.Namespace) -> str:
    words = ["faasml", "models", "eval", "--data", str(args.data), "--models", str(args.models)]
    if args.only:
        words += ["--only", *args.only]
    if args.record_file:
        words += ["--record-file", str(args.record_file)]
    if args.dataset:
        words += ["--dataset", repr(args.dataset)]
    if getattr(args, "half", None):
        words += ["--half", args.half]
    return " ".join(words + ["--record"])


def _image_cards(args: argparse.Namespace) -> list[ModelCard]:
    cards = [c for c in list_cards(args.models) if c.task == TASK_IMAGE_CLASSIFICATION]
    if args.only:
        missing = sorted(set(args.only) - {c.name for c in cards})
        if missing:
            raise ValueError(f"no image variant {', '.join(missing)} in {args.models}/")
        cards = [c for c in cards if c.name in args.only]
    if not cards:
        raise ValueError(f"no image-classification cards in {args.models}/")
    for card in cards:
        problem = card_problem(args.models, card.name)
        if problem:
            raise ValueError(f"{card.name}: {problem}; rebuild it before measuring")
    return cards


def run_eval(args: argparse.Namespace) -> int:
    from faasml.executor.variant import load_variant
    from faasml.models.accuracy import (MEASURED_FILE, SAMPLE_DATASET, apply_measurement,
                                        save_recorded)
    from faasml.models.evaluate import EvalResult, evaluate, measurement_record
    from faasml.models.labelled import LabelledFolderError, read_labelled_folder, spread_subset
    from faasml.models.progress import Progress

    if args.record and args.limit:
        return fail("--record keeps figures for the whole folder; drop --limit")
    backends = getattr(args, "resize_backend", None) or [None]
    if args.record and backends != [None]:
        return fail("--record measures the cards' own preprocessing; drop --resize-backend")
    try:
        from faasml.models.split import half

        images = spread_subset(half(read_labelled_folder(args.data), getattr(args, "half", None)), args.limit)
        cards = _image_cards(args)
    except (LabelledFolderError, ValueError) as exc:
        return fail(str(exc))
    progress = Progress(len(cards) * len(backends))
    results: dict[str, EvalResult] = {}
    for card in cards:
        for backend in backends:
            key = card.name if len(backends) == 1 else f"{card.name} [{backend}]"
            with progress.step(key) as step:
                variant = load_variant(card_path_for(args.models, card.name), provider="cpu",
                                       intra_op_threads=0, resize_backend=backend)
                report_every = 1 if progress.tty else max(1, len(images) // 4)

                def on_progress(done: int, total: int) -> None:
                    if done % report_every == 0 or done == total:
                        step.phase(f"{done}/{total} images")

                results[key] = evaluate(variant.classify, images, on_progress)
                step.summary = f"top-1 {results[key].top1:.3f}"
    print(eval_table(results, args.data))
    if len(backends) > 1:
        print(backend_table(cards, backends, results))
        return 0
    paired = _paired(cards, results)
    if paired:
        print(paired_table(paired))
    if args.record:
        command = _eval_command(args)
        from faasml.models.split import describe

        dataset = describe(getattr(args, "half", None), args.dataset or SAMPLE_DATASET).format(n=len(images))
        measurements = {c.name: measurement_record(results[c.name], c.sha256, command, dataset)
                        for c in cards}
        for name, comparison in paired.items():
            measurements[name]["paired_with_fp32"] = comparison
        record_file = args.record_file or MEASURED_FILE
        save_recorded(measurements, record_file)
        for card in cards:
            apply_measurement(card, measurements[card.name])
            save_card(card, args.models)
        print(f"recorded in {record_file} and in the cards in {args.models}/", file=sys.stderr)
    return 0


def _paired(cards: list[ModelCard], results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """int8 name -> its paired comparison with the fp32 variant of the same family."""
    from faasml.models.evaluate import paired_comparison

    fp32 = {c.family: c.name for c in cards if c.precision == "fp32"}
    return {c.name: {"fp32": fp32[c.family],
                     **paired_comparison(results[fp32[c.family]], results[c.name])}
            for c in cards if c.precision != "fp32" and c.family in fp32}


def paired_table(paired: dict[str, dict[str, Any]]) -> str:
    header = ["VARIANT", "VS", "SAME_TOP1", "ONLY_FP32_RIGHT", "ONLY_THIS_RIGHT", "N"]
    rows = [[name, p["fp32"], f"{p['top1_agreement']:.4f}", str(p["only_reference_correct"]),
             str(p["only_candidate_correct"]), str(p["n"])] for name, p in paired.items()]
    return ("\n" + format_table(header, rows) + "\n(same images: a top-1 difference rests on the "
            "images only one of the two gets right)")


def backend_table(cards: list[ModelCard], backends: list[str], results: dict[str, Any]) -> str:
    """Per variant, the first backend against each other one on the same images."""
    from faasml.models.evaluate import paired_comparison

    first, header = backends[0], ["VARIANT", "A", "B", "TOP1_CHANGED", "ONLY_A_RIGHT", "ONLY_B_RIGHT", "N"]
    rows = []
    for card in cards:
        for other in backends[1:]:
            a, b = results[f"{card.name} [{first}]"], results[f"{card.name} [{other}]"]
            p = paired_comparison(a, b)
            changed = sum(x != y for x, y in zip(a.top1_predictions, b.top1_predictions))
            rows.append([card.name, first, other, str(changed),
                         str(p["only_reference_correct"]), str(p["only_candidate_correct"]), str(p["n"])])
    return ("\n" + format_table(header, rows) + "\n(same images, same model: TOP1_CHANGED counts the "
            "images whose top-1 class differs between the two preprocessing backends)")


def eval_table(results: dict[str, Any], data: Path) -> str:
    header = ["VARIANT", "TOP1", "±SE", "TOP5", "±SE", "N", "IMAGES/S"]
    rows = [[name, f"{r.top1:.4f}", f"{r.top1_stderr:.4f}", f"{r.top5:.4f}",
             f"{r.top5_stderr:.4f}", str(r.n), f"{r.n / r.seconds:.1f}" if r.seconds else "-"]
            for name, r in results.items()]
    note = (f"\n(on {data}; ±SE is the binomial standard error sqrt(p(1-p)/n) of each figure)")
    return format_table(header, rows) + note
