"""`faasml models build | list | eval`: thin command-line wrappers over faasml.models."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faasml.models.card import (TASK_IMAGE_CLASSIFICATION, ModelCard, card_path_for, card_problem,
                                list_cards, save_card)

DEFAULT_MODELS = Path("models")


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="build, list and evaluate model variants")
    sub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    build = sub.add_parser("build", help="build the reference variants (no-op when intact)")
    build.add_argument("--out", type=Path, default=DEFAULT_MODELS, help="models folder")
    build.add_argument("--only", nargs="+", metavar="NAME", help="build only these variants")
    build.add_argument("--force", action="store_true", help="rebuild even when intact")
    build.add_argument("--from-hub", metavar="MODEL_ID",
                       help="export a sentence-embedding model from the Hugging Face hub instead")
    build.add_argument("--name", help="variant name for --from-hub")
    build.set_defaults(func=cmd_build)

    listing = sub.add_parser("list", help="list the variants in a models folder")
    listing.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_list)

    evaluate = sub.add_parser("eval", help="top-1/top-5 of image variants on a labelled folder")
    evaluate.add_argument("--data", type=Path, required=True,
                          help="images named <wnid>_<label>.<ext>, or <wnid>/ class folders")
    evaluate.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder")
    evaluate.add_argument("--only", nargs="+", metavar="NAME", help="evaluate only these variants")
    evaluate.add_argument("--limit", type=int, help="at most N images, evenly spread over classes")
    evaluate.add_argument("--record", action="store_true",
                          help="write the figures to the recorded-measurements file and into "
                               "the cards")
    evaluate.add_argument("--record-file", type=Path, default=None,
                          help="recorded-measurements file (default: the committed "
                               "faasml/models/data/measured_accuracy.json)")
    evaluate.add_argument("--dataset", default=None,
                          help="how --record describes the images (default: the 1000-image "
                               "ImageNet sample's label)")
    evaluate.set_defaults(func=cmd_eval)


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    speed = subparsers.add_parser("int8", help="int8 against fp32 latency, per model family")
    speed.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder")
    speed.add_argument("--iterations", type=int, default=100)
    speed.add_argument("--threads", type=int, default=1,
                       help="ONNX Runtime intra-op threads (default 1: one request per core)")
    speed.set_defaults(func=cmd_bench_int8)


def _fail(message: str) -> int:
    print(f"faasml models: error: {message}", file=sys.stderr)
    return 2


# build ----------------------------------------------------------------------------------

def cmd_build(args: argparse.Namespace) -> int:
    from faasml.models.build import UnknownVariant, run_build

    if args.from_hub:
        return _build_from_hub(args)
    if args.name:
        return _fail("--name goes with --from-hub")
    try:
        report = run_build(args.out, args.only, args.force)
    except UnknownVariant as exc:
        return _fail(str(exc))
    if report.built:
        print(f"built {len(report.built)} variant(s) into {args.out}/ in {report.seconds:.1f}s",
              file=sys.stderr)
    if report.up_to_date:
        print(f"{len(report.up_to_date)} variant(s) already up to date in {args.out}/",
              file=sys.stderr)
    if report.refreshed_accuracy:
        print(f"updated recorded accuracy in {', '.join(report.refreshed_accuracy)}",
              file=sys.stderr)
    return 0


def _build_from_hub(args: argparse.Namespace) -> int:
    from faasml.models.build_text import HubUnavailable, build_from_hub
    from faasml.models.progress import Progress

    if not args.name:
        return _fail("--from-hub needs --name NAME (the variant and function name)")
    if args.only or args.force:
        return _fail("--from-hub builds one model; it does not take --only or --force")
    args.out.mkdir(parents=True, exist_ok=True)
    progress = Progress(1)
    try:
        with progress.step(args.name) as step:
            card = build_from_hub(args.from_hub, args.name, args.out, step)
            save_card(card, args.out)
    except (HubUnavailable, ValueError) as exc:
        return _fail(str(exc))
    print(f"built {args.name} from {args.from_hub} into {args.out}/", file=sys.stderr)
    return 0


# list -----------------------------------------------------------------------------------

def short_source(accuracy: dict[str, Any]) -> str:
    basis = accuracy.get("basis", "unknown")
    if basis == "measured":
        measured = accuracy["measured"]
        note = "" if measured.get("matches_this_file") else ", other sha256"
        where = measured.get("dataset", "").split(" (")[0].removeprefix("measured on ")
        return f"measured on {where or '?'}, n={measured['n']}{note}"
    if basis == "estimate":
        rho = accuracy.get("agreement_with_fp32", {}).get("spearman_pair_similarity")
        return f"estimate: published fp32 x Spearman {rho}"
    if basis == "published":
        return "published: " + accuracy.get("source", "").split(",")[0].removeprefix(
            "published fp32 figure (")
    return basis


def _row(card: ModelCard, status: str) -> list[str]:
    value = card.accuracy.get("value")
    return [card.name, card.task, card.precision, f"{card.size_bytes / 1e6:.1f}",
            f"{value:.4f}" if isinstance(value, (int, float)) else "n/a",
            short_source(card.accuracy), card.sha256[:12], status]


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    cards = list_cards(args.models)
    statuses = {c.name: card_problem(args.models, c.name) or "ok" for c in cards}
    if args.json:
        keep = ("name", "task", "family", "precision", "file", "size_bytes", "sha256", "accuracy")
        items = [{**{k: c.to_dict().get(k) for k in keep}, "status": statuses[c.name]}
                 for c in cards]
        print(json.dumps(items, indent=2))
        return 0
    if not cards:
        print(f"no model cards in {args.models}/ (run `faasml models build --out {args.models}`)",
              file=sys.stderr)
        return 1
    header = ["NAME", "TASK", "PRECISION", "SIZE_MB", "ACCURACY", "SOURCE", "SHA256", "STATUS"]
    print(format_table(header, [_row(c, statuses[c.name]) for c in cards]))
    return 0


# bench int8 -----------------------------------------------------------------------------

def cmd_bench_int8(args: argparse.Namespace) -> int:
    from faasml.models.speed import compare, int8_pairs

    if not int8_pairs(args.models):
        return _fail(f"no fp32/int8 pairs in {args.models}/ (run `faasml models build`)")
    rows = compare(args.models, args.iterations, args.threads)
    header = ["FP32", "INT8", "RUN_P50_MS", "INT8_RUN_P50_MS", "SPEEDUP_RUN", "FULL_P50_MS",
              "INT8_FULL_P50_MS", "SPEEDUP_FULL"]
    table = [[r["fp32"], r["int8"], f"{r['fp32_run_p50']:.2f}", f"{r['int8_run_p50']:.2f}",
              f"{r['speedup_run']:.2f}x", f"{r['fp32_full_p50']:.2f}",
              f"{r['int8_full_p50']:.2f}", f"{r['speedup_full']:.2f}x"] for r in rows]
    print(f"\nint8 against fp32, p50 over {args.iterations} runs, intra-op threads="
          f"{args.threads or 'all'} (run = session.run only; full = the executor handler)")
    print(format_table(header, table))
    slower = [r["int8"] for r in rows if r["speedup_run"] < 1]
    if slower:
        print(f"note: int8 is SLOWER than fp32 here for {', '.join(slower)}")
    return 0


# eval -----------------------------------------------------------------------------------

def _eval_command(args: argparse.Namespace) -> str:
    words = ["faasml", "models", "eval", "--data", str(args.data), "--models", str(args.models)]
    if args.only:
        words += ["--only", *args.only]
    if args.record_file:
        words += ["--record-file", str(args.record_file)]
    if args.dataset:
        words += ["--dataset", repr(args.dataset)]
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


def cmd_eval(args: argparse.Namespace) -> int:
    from faasml.executor.variant import load_variant
    from faasml.models.accuracy import (MEASURED_FILE, SAMPLE_DATASET, apply_measurement,
                                        save_recorded)
    from faasml.models.evaluate import EvalResult, evaluate, measurement_record
    from faasml.models.labelled import LabelledFolderError, read_labelled_folder, spread_subset
    from faasml.models.progress import Progress

    if args.record and args.limit:
        return _fail("--record keeps figures for the whole folder; drop --limit")
    try:
        images = spread_subset(read_labelled_folder(args.data), args.limit)
        cards = _image_cards(args)
    except (LabelledFolderError, ValueError) as exc:
        return _fail(str(exc))
    progress = Progress(len(cards))
    results: dict[str, EvalResult] = {}
    for card in cards:
        with progress.step(card.name) as step:
            variant = load_variant(card_path_for(args.models, card.name), provider="cpu",
                                   intra_op_threads=0)
            report_every = 1 if progress.tty else max(1, len(images) // 4)

            def on_progress(done: int, total: int) -> None:
                if done % report_every == 0 or done == total:
                    step.phase(f"{done}/{total} images")

            results[card.name] = evaluate(variant.classify, images, on_progress)
            step.summary = f"top-1 {results[card.name].top1:.3f}"
    print(eval_table(results, args.data))
    paired = _paired(cards, results)
    if paired:
        print(paired_table(paired))
    if args.record:
        command = _eval_command(args)
        dataset = args.dataset or SAMPLE_DATASET
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


def eval_table(results: dict[str, Any], data: Path) -> str:
    header = ["VARIANT", "TOP1", "±SE", "TOP5", "±SE", "N", "IMAGES/S"]
    rows = [[name, f"{r.top1:.4f}", f"{r.top1_stderr:.4f}", f"{r.top5:.4f}",
             f"{r.top5_stderr:.4f}", str(r.n), f"{r.n / r.seconds:.1f}" if r.seconds else "-"]
            for name, r in results.items()]
    note = (f"\n(on {data}; ±SE is the binomial standard error sqrt(p(1-p)/n) of each figure)")
    return format_table(header, rows) + note
