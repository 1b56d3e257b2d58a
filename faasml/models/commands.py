"""`faasml models build | list | eval`: thin command-line wrappers over faasml.models."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faasml.modelcard import RESIZE_BACKENDS, ModelCard, card_problem, list_cards, save_card
from faasml.models.console import fail
from faasml.tables import format_table

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
    evaluate.add_argument("--resize-backend", nargs="+", choices=RESIZE_BACKENDS, metavar="NAME",
                          help="resample with this backend instead of the card's (opencv, pillow); "
                               "two: each variant under both, with the images whose top-1 differs")
    evaluate.add_argument("--half", choices=("calibration", "evaluation"),
                          help="only this named half of the folder (faasml/models/split.py); int8 "
                               "variants are calibrated on the calibration half, so measure them on "
                               "the evaluation half")
    evaluate.set_defaults(func=cmd_eval)

    from faasml.models import add_commands

    add_commands.register(sub)


# build ----------------------------------------------------------------------------------

def cmd_build(args: argparse.Namespace) -> int:
    from faasml.models.build import UnknownVariant, run_build

    if args.from_hub:
        return _build_from_hub(args)
    if args.name:
        return fail("--name goes with --from-hub")
    try:
        report = run_build(args.out, args.only, args.force)
    except UnknownVariant as exc:
        return fail(str(exc))
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
        return fail("--from-hub needs --name NAME (the variant and function name)")
    if args.only or args.force:
        return fail("--from-hub builds one model; it does not take --only or --force")
    args.out.mkdir(parents=True, exist_ok=True)
    progress = Progress(1)
    try:
        with progress.step(args.name) as step:
            card = build_from_hub(args.from_hub, args.name, args.out, step)
            save_card(card, args.out)
    except (HubUnavailable, ValueError) as exc:
        return fail(str(exc))
    print(f"built {args.name} from {args.from_hub} into {args.out}/", file=sys.stderr)
    return 0


# list -----------------------------------------------------------------------------------

def short_source(accuracy: dict[str, Any]) -> str:
    basis = accuracy.get("basis", "unknown")
    if basis == "measured":
        measured = accuracy["measured"]
        note = "" if measured.get("matches_this_file") else ", other sha256"
        dataset = measured.get("dataset", "")
        where = dataset.split(" (")[0].removeprefix("measured on ")
        part = next((f", {h} half" for h in ("evaluation", "calibration") if f"{h} half" in dataset), "")
        return f"measured on {where or '?'}{part}, n={measured['n']}{note}"
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


# eval lives in eval_command.py (imported when it runs)

def cmd_eval(args: argparse.Namespace) -> int:
    from faasml.models.eval_command import run_eval

    return run_eval(args)
