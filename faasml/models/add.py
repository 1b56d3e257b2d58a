"""`faasml models add`: a user's ONNX file to served, selectable variants in one command.

Steps, in order; every file is written under a hidden staging folder in the models folder
and nothing reaches models/ or stack.yml until all of them passed:
1. read and check the model (user_model.describe: ONNX checker, opset, inputs, labels);
2. write its fp32 card and run one real inference through the executor's own code;
3. make the int8 variant: static (activation ranges from photos) for image classifiers,
   dynamic (int8 weights) for text encoders and tensor models;
4. measure accuracy: top-1 on the evaluation half of a labelled folder (`--data`, the
   other half calibrates), or a figure the user vouches for (`--accuracy`) with int8's
   agreement with fp32, or else say that nothing was measured;
5. profile latency: the executor's whole handler, in process, one intra-op thread;
6. a GPU variant (fp32 on CUDA) when onnxruntime-gpu finds a usable GPU here;
7. move the files into place (cards last) and add the functions to stack.yml with every
   `faasml.io/*` annotation. `faasml models remove NAME` undoes all of it.
"""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np

from faasml.modelcard import (TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING, TASK_TENSOR, ModelCard,
                              card_path_for, load_card, save_card, stamp_file)
from faasml.models import stackfile
from faasml.models.files import temp_sibling
from faasml.models.user_model import ModelRefused, ModelSpec, describe
from faasml.models.weights import package_version

ADDED_BY = "faasml models add"
CALIBRATION_LIMIT = 128       # photos the int8 ranges are taken from (faasml/models/ladder.py)
PROFILE_REQUESTS = 30
SAMPLE_SENTENCES = ["A man is playing a guitar.", "The new movie is awesome.",
                    "A cheetah is running behind its prey.", "The cat sits on the mat."]


@dataclass
class AddOptions:
    source: Path
    name: str
    flags: dict[str, Any] = field(default_factory=dict)     # task, labels, image, text fields, tokenizer
    config: dict[str, Any] = field(default_factory=dict)    # the --config YAML
    models: Path = Path("models")
    stack: Path = Path("stack.yml")
    data: Path | None = None            # labelled folder: calibration half + evaluation half
    calibration: Path | None = None     # unlabelled photos for int8 ranges
    accuracy: float | None = None       # a figure the user vouches for (fp32)
    accuracy_source: str | None = None
    int8: bool = True
    node_class: str | None = None       # default: fp32 on cloud, int8 on edge
    profile_requests: int = PROFILE_REQUESTS


@dataclass
class AddReport:
    name: str
    functions: list[str]
    files: list[str]
    notes: list[str]
    cards: list[ModelCard]
    new_stack: str = ""            # stack.yml's text with the model's block


Say = Callable[[str], None]


# 1-2: describe, stage the fp32 variant -------------------------------------------------

def _fp32_card(spec: ModelSpec) -> ModelCard:
    return ModelCard(
        name=f"{spec.name}-fp32", task=spec.task, family=spec.name, precision="fp32",
        file=f"{spec.name}-fp32.onnx", input_names=spec.input_names, output_names=spec.output_names,
        image=spec.image, text=spec.text, labels=spec.labels, embedding_dim=spec.embedding_dim,
        source={"added_by": ADDED_BY, "file": spec.source.name, "opset": spec.opset,
                "added": date.today().isoformat()})


def sample_photos(options: AddOptions) -> list[Path]:
    """Real photos: the labelled folder's calibration half, --calibration, or scikit-image's."""
    from faasml.models.labelled import IMAGE_SUFFIXES, spread_subset

    if options.data is not None:
        return [i.path for i in spread_subset(_labelled(options)[0], CALIBRATION_LIMIT)]
    if options.calibration is not None:
        files = sorted(p for p in options.calibration.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ModelRefused(f"--calibration {options.calibration}: no images there")
        step = max(1, len(files) // CALIBRATION_LIMIT)
        return files[::step][:CALIBRATION_LIMIT]
    from faasml.models.calibration import calibration_files

    return calibration_files()


def _labelled(options: AddOptions) -> tuple[list[Any], list[Any]]:
    """(calibration half, evaluation half) of --data."""
    from faasml.models.labelled import LabelledFolderError, read_labelled_folder
    from faasml.models.split import half

    try:
        images = read_labelled_folder(options.data)
    except LabelledFolderError as exc:
        raise ModelRefused(f"--data: {exc}") from None
    return half(images, "calibration"), half(images, "evaluation")


def _check_sample(card_path: Path, spec: ModelSpec, options: AddOptions) -> Any:
    """One real inference through the executor's code; returns the loaded variant."""
    from faasml.executor.service import zero_feeds
    from faasml.executor.variant import load_variant

    variant = load_variant(card_path, "cpu", 0)
    try:
        if spec.task == TASK_IMAGE_CLASSIFICATION:
            predictions = variant.classify(sample_photos(options)[0].read_bytes(), 1)
            if len(variant.run({variant.input_names[0]: variant.image_tensor(
                    sample_photos(options)[0].read_bytes())})[0]) != len(spec.labels):
                raise ModelRefused(f"{spec.source.name}: it scored a photo over a number of classes "
                                   f"other than its {len(spec.labels)} labels")
            if not np.isfinite(predictions[0]["score"]):
                raise ModelRefused(f"{spec.source.name}: a real photo gave non-finite scores")
        elif spec.task == TASK_SENTENCE_EMBEDDING:
            vectors, _ = variant.embed(SAMPLE_SENTENCES[:2])
            if vectors.shape != (2, spec.embedding_dim) or not np.isfinite(vectors).all():
                raise ModelRefused(f"{spec.source.name}: two sentences gave embeddings of shape "
                                   f"{vectors.shape}, expected (2, {spec.embedding_dim}) and finite")
        else:
            outputs = variant.session.run(None, zero_feeds(variant.session))
            if not outputs:
                raise ModelRefused(f"{spec.source.name}: it returned no outputs")
    except ModelRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the sample inference refuses the model
        raise ModelRefused(f"{spec.source.name}: a sample inference failed: {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}") from None
    return variant


# 3: int8 ----------------------------------------------------------------------------------

def _int8(stage: Path, spec: ModelSpec, fp32: Any, options: AddOptions, say: Say) -> ModelCard:
    from faasml.models.quantize import calibrate_ranges, quantize_dynamic_int8, quantize_from_ranges

    base = fp32.card
    src, dest = stage / base.file, stage / f"{spec.name}-int8.onnx"
    source = {**base.source, "quantized_from": {"variant": base.name, "sha256": base.sha256}}
    if spec.task == TASK_IMAGE_CLASSIFICATION:
        from faasml.models.calibration import IMAGE_RECIPE

        photos = sample_photos(options)
        say(f"calibrating int8 ranges on {len(photos)} photos ({IMAGE_RECIPE.label})")
        name = fp32.input_names[0]
        feeds = [{name: np.concatenate([fp32.image_tensor(p.read_bytes()) for p in photos[i:i + 8]])}
                 for i in range(0, len(photos), 8)]
        ranges = calibrate_ranges(src, feeds, IMAGE_RECIPE)
        quantization = quantize_from_ranges(src, dest, ranges, IMAGE_RECIPE)
        quantization["calibration_set"] = _photos_named(options, len(photos))
        quantization["calibrated_on_cpu"] = cpu_model()
    else:
        say("quantizing (dynamic int8 weights)")
        quantization = quantize_dynamic_int8(src, dest)
    source["quantization"] = quantization
    card = ModelCard(**{**base.__dict__, "name": f"{spec.name}-int8", "precision": "int8",
                        "file": dest.name, "accuracy": {}, "source": source})
    return stamp_file(card, stage)


def _photos_named(options: AddOptions, count: int) -> str:
    from faasml.models.split import HALF_RULES

    if options.data is not None:
        return f"{count} photos of the calibration half ({HALF_RULES['calibration']}) of {options.data}"
    if options.calibration is not None:
        return f"{count} photos from {options.calibration}"
    from faasml.models.calibration import calibration_source, calibration_files

    return calibration_source(calibration_files())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} CPUs, {platform.machine()})"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} CPUs)"


# 4: accuracy ------------------------------------------------------------------------------

def _measure_images(variants: dict[str, Any], options: AddOptions, say: Say) -> dict[str, dict[str, Any]]:
    from faasml.models.evaluate import evaluate, measurement_record, paired_comparison
    from faasml.models.split import HALF_RULES

    _, evaluation = _labelled(options)
    dataset = (f"measured on {options.data}, evaluation half ({HALF_RULES['evaluation']}, "
               f"{len(evaluation)} images; the other half calibrated int8)")
    results, records = {}, {}
    for name, variant in variants.items():
        say(f"measuring {name} on {len(evaluation)} labelled photos")
        results[name] = evaluate(variant.classify, evaluation)
        records[name] = measurement_record(results[name], variant.card.sha256,
                                           f"faasml models add --data {options.data}", dataset)
    names = list(variants)
    if len(names) > 1:
        records[names[1]]["paired_with_fp32"] = {"fp32": names[0], **paired_comparison(results[names[0]],
                                                                                         results[names[1]])}
    return records


def _agreement(fp32: Any, int8: Any, spec: ModelSpec, options: AddOptions) -> tuple[float, str]:
    """How closely int8 follows fp32, 0..1, and what that number is."""
    if spec.task == TASK_IMAGE_CLASSIFICATION:
        photos = sample_photos(options)
        same = [fp32.classify(p.read_bytes(), 1)[0]["index"] == int8.classify(p.read_bytes(), 1)[0]["index"]
                for p in photos]
        return round(sum(same) / len(same), 4), f"top-1 agreement with fp32 on {len(photos)} calibration photos"
    if spec.task == TASK_SENTENCE_EMBEDDING:
        a, b = fp32.embed(SAMPLE_SENTENCES)[0], int8.embed(SAMPLE_SENTENCES)[0]
        cosine = float(np.mean(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
        return round(cosine, 4), f"mean cosine(fp32, int8) of {len(SAMPLE_SENTENCES)} sentences' embeddings"
    feeds = random_feeds(fp32.session)
    cosines = []
    for x, y in zip(fp32.session.run(None, feeds), int8.session.run(None, feeds)):
        x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
        norm = np.linalg.norm(x) * np.linalg.norm(y)
        cosines.append(float(x @ y / norm) if norm else float(np.array_equal(x, y)))
    return round(max(0.0, float(np.mean(cosines))), 4), "mean cosine(fp32, int8) of the outputs on 4 random inputs"


def random_feeds(session: Any, batch: int = 4) -> dict[str, np.ndarray]:
    """Standard-normal floats (integers 0..9) in every input's shape, dynamic dims = batch/8."""
    from faasml.executor.tensor import DATATYPES, ONNX_DATATYPES

    rng = np.random.default_rng(0)
    feeds = {}
    for i, node in enumerate(session.get_inputs()):
        kind = DATATYPES[ONNX_DATATYPES[node.type]]
        shape = [d if isinstance(d, int) and d > 0 else (batch if j == 0 else 8) for j, d in enumerate(node.shape)]
        if kind is np.object_:
            feeds[node.name] = np.full(shape, "x", dtype=object)
        elif np.issubdtype(kind, np.floating):
            feeds[node.name] = rng.standard_normal(shape).astype(kind)
        else:
            feeds[node.name] = rng.integers(0, 10, shape).astype(kind)
    return feeds


def accuracy_blocks(spec: ModelSpec, options: AddOptions, fp32: Any, int8: Any | None,
                    say: Say) -> dict[str, dict[str, Any]]:
    """The accuracy block of each card, by variant name (see the module's step 4)."""
    from faasml.models.accuracy import IMAGE_METRIC_MEASURED, image_accuracy

    names = [fp32.card.name] + ([int8.card.name] if int8 else [])
    if options.data is not None and spec.task == TASK_IMAGE_CLASSIFICATION:
        variants = {fp32.card.name: fp32, **({int8.card.name: int8} if int8 else {})}
        records = _measure_images(variants, options, say)
        blocks = {n: image_accuracy(None, records[n], variants[n].card.sha256) for n in names}
        for block in blocks.values():
            block["metric"] = IMAGE_METRIC_MEASURED
            block["source"] = block["source"].replace("with `faasml models eval`", "by `faasml models add`")
        return blocks
    agreement, meaning = _agreement(fp32, int8, spec, options) if int8 else (None, "")
    if options.accuracy is not None:
        published = {"value": options.accuracy, "metric": "as given to faasml models add",
                     "source": options.accuracy_source or "given with --accuracy, source not stated"}
        blocks = {fp32.card.name: {**published, "basis": "published", "published": dict(published)}}
        if int8:
            blocks[int8.card.name] = {
                "value": round(options.accuracy * agreement, 4), "metric": published["metric"],
                "basis": "estimate", "published": dict(published),
                "source": f"estimate: the given fp32 figure {options.accuracy} x int8's {meaning} ({agreement})",
                "agreement_with_fp32": {"value": agreement, "what": meaning}}
        return blocks
    if spec.task == TASK_TENSOR:
        # A tensor model is selected among its own variants only (by family), so a figure
        # relative to its fp32 is what the trade-off needs.
        blocks = {fp32.card.name: {"value": 1.0, "basis": "relative", "metric": "fidelity to this model's fp32",
                                   "source": "relative: the fp32 reference (1.0); no accuracy was measured"}}
        if int8:
            blocks[int8.card.name] = {"value": agreement, "basis": "relative", "metric": "fidelity to fp32",
                                      "source": f"relative to fp32: {meaning}",
                                      "agreement_with_fp32": {"value": agreement, "what": meaning}}
        return blocks
    note = ("not measured: faasml models add had no labelled folder (--data) and no figure (--accuracy); "
            "the selector sees 0, so it never prefers this model for accuracy")
    blocks = {n: {"value": 0.0, "basis": "unknown", "source": note} for n in names}
    if int8:
        blocks[int8.card.name]["agreement_with_fp32"] = {"value": agreement, "what": meaning}
    return blocks


# 5: latency -------------------------------------------------------------------------------

def profile_ms(card_path: Path, spec: ModelSpec, options: AddOptions, provider: str = "cpu") -> float:
    """p50 of the executor's whole handler (decode/tokenize, run, JSON) on one request,
    in process, one intra-op thread (as stack.yml deploys CPU variants)."""
    import json as json_lib

    from faasml.executor.config import ExecutorConfig
    from faasml.executor.service import ExecutorService, zero_feeds
    from faasml.http import Headers, Request

    service = ExecutorService(ExecutorConfig(model=str(card_path), provider=provider,
                                             intra_op_threads=0 if provider == "cuda" else 1))
    service.load()
    if service.variant is None:
        raise ModelRefused(f"profiling {card_path.name}: {service.load_error.message}")
    if spec.task == TASK_IMAGE_CLASSIFICATION:
        request = Request("POST", "/", {}, Headers({"Content-Type": "image/jpeg"}),
                          sample_photos(options)[0].read_bytes())
    elif spec.task == TASK_SENTENCE_EMBEDDING:
        request = Request("POST", "/", {}, Headers({"Content-Type": "text/plain"}), SAMPLE_SENTENCES[0].encode())
    else:
        from faasml.executor.tensor import encode_tensor

        feeds = zero_feeds(service.variant.session)
        body = {"inputs": [encode_tensor(n, a) for n, a in feeds.items()]}
        request = Request("POST", "/", {}, Headers({"Content-Type": "application/json"}),
                          json_lib.dumps(body).encode())
    times = []
    for i in range(options.profile_requests + 3):
        started = time.perf_counter()
        response = service.handle(request)
        if response.status != 200:
            raise ModelRefused(f"profiling {card_path.name}: the executor answered {response.status}: "
                               f"{response.body[:200]!r}")
        if i >= 3:
            times.append((time.perf_counter() - started) * 1e3)
    return round(statistics.median(times), 3)


def gpu_usable() -> bool:
    try:
        import onnxruntime as ort

        return "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        return False


# 7: stack entries and the move into place -----------------------------------------------

def _annotations(card: ModelCard, latency_ms: float, where: str, node_class: str) -> dict[str, str]:
    accuracy = card.accuracy
    return {
        "faasml.io/task": card.task,
        "faasml.io/family": card.family,
        "faasml.io/precision": card.precision,
        "faasml.io/node-class": node_class,
        "faasml.io/accuracy": f"{float(accuracy.get('value', 0.0)):.4g}",
        "faasml.io/accuracy-source": str(accuracy.get("source", "")).split("; note:")[0][:300],
        "faasml.io/latency-ms": f"{latency_ms:.3f}",
        "faasml.io/latency-source": where,
    }


def _card_from_stack(options: AddOptions, name: str) -> str:
    """FAASML_MODEL as the function sees it: relative to the stack's folder (`faasml up`
    runs functions there; an image copies the models folder beside the handler)."""
    card = card_path_for(options.models, name).resolve()
    return Path(os.path.relpath(card, options.stack.resolve().parent)).as_posix()


def _memory_mi(card: ModelCard) -> int:
    return int(card.size_bytes * 3 / 2**20) + 160


def _refuse_existing(options: AddOptions, names: list[str]) -> None:
    for name in names:
        if card_path_for(options.models, name).exists() or (options.models / f"{name}.onnx").exists():
            raise ModelRefused(f"{options.models}/{name} already exists (`faasml models remove "
                               f"{options.name}` first, or pick another --name)")


def add_model(options: AddOptions, say: Say = lambda line: None) -> AddReport:
    if not options.stack.is_file():
        raise ModelRefused(f"no stack file {options.stack}")
    original_stack = options.stack.read_text(encoding="utf-8")
    spec, _ = describe(options.source, options.name, options.flags, options.config)
    if options.data is not None and spec.task != TASK_IMAGE_CLASSIFICATION:
        raise ModelRefused(f"--data is a labelled photo folder, for image classifiers; a {spec.task} "
                           "model takes --accuracy VALUE --accuracy-source TEXT instead")
    names = [f"{spec.name}-fp32"] + ([f"{spec.name}-int8"] if options.int8 else [])
    _refuse_existing(options, names)
    try:
        stackfile.check_free(original_stack, spec.name, names + [f"{spec.name}-fp32-gpu"])
    except stackfile.StackError as exc:
        raise ModelRefused(str(exc)) from None
    options.models.mkdir(parents=True, exist_ok=True)
    # A hidden staging folder beside the models (same filesystem: the final moves are
    # renames); a crash leaves only it, which the next build's clean-up removes.
    stage = temp_sibling(options.models / f"add-{spec.name}")
    stage.mkdir()
    try:
        report = _stage(stage, spec, options, original_stack, say)
        _move_into_place(stage, options, report, original_stack)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return report


def _stage(stage: Path, spec: ModelSpec, options: AddOptions, original_stack: str, say: Say) -> AddReport:
    from faasml.executor.variant import load_variant

    shutil.copyfile(spec.source, stage / f"{spec.name}-fp32.onnx")
    if spec.tokenizer_json is not None:
        (stage / spec.text.tokenizer).mkdir()
        shutil.copyfile(spec.tokenizer_json, stage / spec.text.tokenizer / "tokenizer.json")
    card = stamp_file(_fp32_card(spec), stage)
    save_card(card, stage)
    say("checking a real inference through the executor")
    fp32 = _check_sample(card_path_for(stage, card.name), spec, options)
    int8 = None
    if options.int8:
        int8_card = _int8(stage, spec, fp32, options, say)
        save_card(int8_card, stage)
        int8 = load_variant(card_path_for(stage, int8_card.name), "cpu", 0)
    blocks = accuracy_blocks(spec, options, fp32, int8, say)
    cards = [fp32.card] + ([int8.card] if int8 else [])
    for c in cards:
        c.accuracy = blocks[c.name]
        save_card(c, stage)
    notes = []
    if options.data is None and options.accuracy is None:
        notes.append(f"accuracy: not measured ({blocks[cards[0].name]['source'].split(':', 1)[0]}); "
                     "pass --data DIR (labelled photos) or --accuracy VALUE --accuracy-source TEXT")
    where = (f"faasml models add: executor handler p50 over {options.profile_requests} requests in process, "
             f"1 intra-op thread, {cpu_model()}, {date.today().isoformat()}")
    entries = []
    for c in cards:
        say(f"profiling {c.name} ({options.profile_requests} requests)")
        latency = profile_ms(card_path_for(stage, c.name), spec, options)
        node_class = options.node_class or ("edge" if c.precision == "int8" else "cloud")
        entries.append(stackfile.Entry(c.name, _card_from_stack(options, c.name), c.precision,
                                       node_class, _annotations(c, latency, where, node_class),
                                       memory_mi=_memory_mi(c)))
    if gpu_usable():
        try:
            say(f"profiling {cards[0].name} on CUDA")
            latency = profile_ms(card_path_for(stage, cards[0].name), spec, options, provider="cuda")
            entries.append(stackfile.Entry(f"{cards[0].name}-gpu", entries[0].card, "fp32", "gpu",
                                           _annotations(cards[0], latency, where.replace("1 intra-op thread",
                                                        "CUDA"), "gpu"), provider="cuda",
                                           memory_mi=_memory_mi(cards[0]) + 900, scale_max=1))
        except Exception as exc:  # noqa: BLE001 - a GPU that cannot run it is a note, not a failure
            notes.append(f"GPU variant: not added, CUDA could not run it ({str(exc).splitlines()[0][:120]})")
    else:
        notes.append("GPU variant: not added (onnxruntime-gpu with a usable GPU is not installed here)")
    block = stackfile.render(spec.name, entries)
    try:
        new_stack = stackfile.with_block(original_stack, spec.name, block)
        stackfile.check_loadable(new_stack, options.stack.parent)
    except stackfile.StackError as exc:
        raise ModelRefused(str(exc)) from None
    files = sorted(p.name for p in stage.iterdir())
    return AddReport(spec.name, [e.function for e in entries], files, notes, cards, new_stack)


def _move_into_place(stage: Path, options: AddOptions, report: AddReport, original_stack: str) -> None:
    """Files first (cards last), then stack.yml; any failure takes the moved files back out."""
    if options.stack.read_text(encoding="utf-8") != original_stack:
        raise ModelRefused(f"{options.stack} changed while the model was being added; run it again")
    order = sorted(report.files, key=lambda n: n.endswith(".card.json"))
    moved: list[Path] = []
    try:
        for name in order:
            dest = options.models / name
            os.replace(stage / name, dest)
            moved.append(dest)
        stackfile.write(options.stack, report.new_stack)
    except BaseException:
        for path in reversed(moved):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        raise


# remove -----------------------------------------------------------------------------------

def remove_model(name: str, models: Path, stack: Path) -> tuple[list[str], list[str]]:
    """Take `name`'s block out of the stack and delete its files; (functions, files) removed."""
    text = stack.read_text(encoding="utf-8")
    try:
        new_text, functions = stackfile.without_block(text, name)
    except stackfile.StackError as exc:
        leftovers = _added_files(name, models)
        if not leftovers:
            raise ModelRefused(str(exc)) from None
        new_text, functions = text, []
    files = _added_files(name, models)
    if new_text != text:
        stackfile.write(stack, new_text)
    for path in files:
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return functions, [p.name for p in files]


def _added_files(name: str, models: Path) -> list[Path]:
    """The cards `models add` wrote for `name`, their .onnx files and tokenizer folder."""
    found: list[Path] = []
    for variant in (f"{name}-fp32", f"{name}-int8"):
        card_path = card_path_for(models, variant)
        if not card_path.is_file():
            continue
        card = load_card(card_path)
        if card.source.get("added_by") != ADDED_BY:
            raise ModelRefused(f"{card_path} was not written by `faasml models add`; not removing it")
        found += [card_path, models / card.file]
        if card.text is not None:
            found.append(models / card.text.tokenizer)
    return sorted({p for p in found if p.exists()}, key=lambda p: p.name.endswith(".card.json"),
                  reverse=True)
