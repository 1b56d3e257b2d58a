"""`faasml models add | remove | calibrate | ladder`: thin wrappers over add.py,
calibration.py and ladder.py."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from faasml.modelcard import RESIZE_BACKENDS, TASKS
from faasml.models.console import fail

DEFAULT_MODELS = Path("models")
DEFAULT_STACK = Path("stack.yml")


def register(sub: argparse._SubParsersAction) -> None:
    add = sub.add_parser("add", help="a user's ONNX model to served fp32 and int8 variants in stack.yml",
                         description="Check the model, write its cards, make its int8 variant, measure "
                                     "accuracy (with --data) and latency, and add its functions to the stack.")
    add.add_argument("model", type=Path, help="the .onnx file (weights inside it)")
    add.add_argument("--name", required=True, help="model name; its functions are NAME-fp32, NAME-int8")
    add.add_argument("--task", choices=TASKS, help="default: the model's faasml.task metadata or --config's")
    add.add_argument("--config", type=Path, help="YAML with task, labels, image: {...}, text: {...}, tokenizer")
    image = add.add_argument_group("image-classification")
    image.add_argument("--labels", help="file with one label per line in output order, or 'imagenet'")
    image.add_argument("--size", type=int, help="square input size (default: the model's fixed size)")
    image.add_argument("--crop-pct", type=float, help="resize the shorter side to size/crop_pct, then centre-crop")
    image.add_argument("--interpolation", help="resize filter (bicubic, bilinear, ...)")
    image.add_argument("--mean", type=float, nargs=3, metavar="M", help="per-channel mean on 0..1 pixels")
    image.add_argument("--std", type=float, nargs=3, metavar="S", help="per-channel std on 0..1 pixels")
    image.add_argument("--resize-backend", choices=RESIZE_BACKENDS)
    text = add.add_argument_group("sentence-embedding")
    text.add_argument("--tokenizer", help="the model's tokenizer.json (or a folder holding it)")
    text.add_argument("--pooling", choices=("mean", "cls"))
    text.add_argument("--max-length", type=int, help="tokens; longer texts are truncated")
    text.add_argument("--no-normalize", dest="normalize", action="store_const", const=False,
                      help="do not L2-normalize the embeddings")
    measure = add.add_argument_group("accuracy and int8")
    measure.add_argument("--data", type=Path, help="labelled photos (<wnid>_<label>.<ext> or <wnid>/): "
                                                   "calibrate int8 on one half, measure on the other")
    measure.add_argument("--calibration", type=Path, help="unlabelled photos to calibrate int8 on")
    measure.add_argument("--accuracy", type=float, help="an fp32 accuracy figure you vouch for (0..1)")
    measure.add_argument("--accuracy-source", help="where --accuracy comes from")
    measure.add_argument("--no-int8", dest="int8", action="store_false", help="add the fp32 variant only")
    add.add_argument("--node-class", help="node class of every CPU variant (default: fp32 cloud, int8 edge)")
    add.add_argument("--profile-requests", type=int, default=30, help="requests timed per variant")
    add.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="models folder")
    add.add_argument("--stack", type=Path, default=DEFAULT_STACK, help="stack file to add the functions to")
    add.set_defaults(func=cmd_add)

    remove = sub.add_parser("remove", help="undo `faasml models add NAME`: its functions and files")
    remove.add_argument("name")
    remove.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    remove.add_argument("--stack", type=Path, default=DEFAULT_STACK)
    remove.set_defaults(func=cmd_remove)

    calibrate = sub.add_parser("calibrate", help="record the reference int8 ranges from a labelled "
                                                 "folder's calibration half (faasml/models/data/calibration/)")
    calibrate.add_argument("--data", type=Path, required=True)
    calibrate.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    calibrate.add_argument("--only", nargs="+", metavar="FAMILY", help="e.g. efficientnet-lite0")
    calibrate.set_defaults(func=cmd_calibrate)

    ladder = sub.add_parser("ladder", help="int8 recipes side by side: calibrated on one half of a "
                                           "labelled folder, measured on the other")
    ladder.add_argument("--data", type=Path, required=True)
    ladder.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    ladder.add_argument("--only", nargs="+", metavar="FAMILY")
    ladder.add_argument("--trials", nargs="+", metavar="KEY", help="default: every trial (ladder.py TRIALS)")
    ladder.add_argument("--json", type=Path, default=Path("reports/int8-ladder.json"))
    ladder.add_argument("--plot", type=Path, help="also draw top-1 against latency to this PNG")
    ladder.set_defaults(func=cmd_ladder)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    image = {k: getattr(args, k) for k in ("size", "crop_pct", "interpolation", "mean", "std", "resize_backend")
             if getattr(args, k) is not None}
    flags: dict[str, Any] = {"task": args.task, "labels": args.labels, "tokenizer": args.tokenizer,
                             "pooling": args.pooling, "max_length": args.max_length, "normalize": args.normalize}
    if image:
        flags["image"] = image
    return flags


def cmd_add(args: argparse.Namespace) -> int:
    from faasml.models.add import AddOptions, add_model
    from faasml.models.user_model import ModelRefused, read_config

    if args.accuracy is not None and not 0 <= args.accuracy <= 1:
        return fail("--accuracy is a fraction from 0 to 1")
    if args.data is not None and args.accuracy is not None:
        return fail("--data measures the accuracy; drop --accuracy")
    try:
        config = read_config(args.config)
        options = AddOptions(source=args.model, name=args.name, flags=_flags(args), config=config,
                             models=args.models, stack=args.stack, data=args.data, calibration=args.calibration,
                             accuracy=args.accuracy, accuracy_source=args.accuracy_source, int8=args.int8,
                             node_class=args.node_class, profile_requests=args.profile_requests)
        report = add_model(options, say=lambda line: print(f"  {args.name}: {line}", file=sys.stderr))
    except ModelRefused as exc:
        return fail(str(exc))
    for card in report.cards:
        value = card.accuracy.get("value")
        print(f"added {card.name}: {card.task}, accuracy {value} ({card.accuracy.get('basis')})", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"functions {', '.join(report.functions)} are in {args.stack}; `make run` serves them", file=sys.stderr)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from faasml.models.add import remove_model
    from faasml.models.user_model import ModelRefused

    try:
        functions, files = remove_model(args.name, args.models, args.stack)
    except ModelRefused as exc:
        return fail(str(exc))
    print(f"removed functions {', '.join(functions) or '(none)'} from {args.stack} and "
          f"{len(files)} file(s) from {args.models}/", file=sys.stderr)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np

    from faasml.executor.variant import load_variant
    from faasml.modelcard import card_path_for, card_problem, load_card
    from faasml.models.accuracy import SAMPLE_DATASET
    from faasml.models.add import cpu_model
    from faasml.models.calibration import CALIBRATION_PHOTOS, IMAGE_RECIPE, save_ranges
    from faasml.models.labelled import LabelledFolderError, read_labelled_folder, spread_subset
    from faasml.models.quantize import calibrate_ranges
    from faasml.models.split import HALF_RULES, half
    from faasml.models.weights import EFFICIENTNET_LITE, package_version

    families = args.only or list(EFFICIENTNET_LITE)
    try:
        images = read_labelled_folder(args.data)
    except LabelledFolderError as exc:
        return fail(str(exc))
    chosen = spread_subset(half(images, "calibration"), CALIBRATION_PHOTOS)
    for family in families:
        name = f"{family}-fp32"
        problem = card_problem(args.models, name)
        if problem:
            return fail(f"{name}: {problem}; build it first (`faasml models build --only {name}`)")
        card = load_card(card_path_for(args.models, name))
        fp32 = load_variant(card_path_for(args.models, name), "cpu", 0)
        tensors = [fp32.image_tensor(i.path.read_bytes()) for i in chosen]
        feeds = [{fp32.input_names[0]: np.concatenate(tensors[i:i + 8])} for i in range(0, len(tensors), 8)]
        print(f"{family}: calibrating on {len(chosen)} photos ({IMAGE_RECIPE.label})", file=sys.stderr)
        ranges = calibrate_ranges(args.models / card.file, feeds, IMAGE_RECIPE)
        path = save_ranges(family, {
            "family": family, "recipe": IMAGE_RECIPE.to_dict(), "fp32_sha256": card.sha256,
            "calibration_set": f"{len(chosen)} photos spread evenly over the calibration half "
                               f"({HALF_RULES['calibration']}) of the {SAMPLE_DATASET.removeprefix('measured on the ')}",
            "evaluation_set": f"the evaluation half ({HALF_RULES['evaluation']}), never calibrated on",
            "cpu": cpu_model(), "date": date.today().isoformat(),
            "command": f"faasml models calibrate --data {args.data}",
            "onnxruntime": package_version("onnxruntime"),
            "ranges": {k: [low, high] for k, (low, high) in ranges.items()}})
        print(f"{family}: {len(ranges)} tensor ranges recorded in {path}", file=sys.stderr)
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    import json

    from faasml.models.calibration import calibration_files
    from faasml.models.ladder import TRIALS, plot, run_family, save, table
    from faasml.models.labelled import LabelledFolderError, read_labelled_folder
    from faasml.models.split import half
    from faasml.models.weights import EFFICIENTNET_LITE

    try:
        images = read_labelled_folder(args.data)
    except LabelledFolderError as exc:
        return fail(str(exc))
    trials = tuple(t for t in TRIALS if not args.trials or t.key in args.trials)
    unknown = sorted(set(args.trials or ()) - {t.key for t in TRIALS})
    if unknown:
        return fail(f"unknown trial(s) {', '.join(unknown)}; known: {', '.join(t.key for t in TRIALS)}")
    rows: list[dict[str, Any]] = []
    for family in args.only or list(EFFICIENTNET_LITE):
        rows += run_family(args.models / f"{family}-fp32.card.json", half(images, "evaluation"),
                           half(images, "calibration"), calibration_files(), trials,
                           lambda row: print(json.dumps(row), file=sys.stderr, flush=True))
        save(rows, args.json)
    print(table(rows))
    if args.plot:
        plot(rows, args.plot)
    return 0
