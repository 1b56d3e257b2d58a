"""A user's ONNX file and what it needs to be served: read, checked, described.

`faasml models add` takes its facts from three places, each overriding the one before:
the model's own metadata (ONNX `metadata_props`: `faasml.task`, `faasml.labels` as a JSON
list, `faasml.image` and `faasml.text` as JSON objects of the card's fields), a small
YAML file (`--config`: the same keys, without the prefix), and flags. Whatever is still
unknown and can be read off the graph (an image model's input size) is; anything else a
served model needs is a refusal, one line each (ModelRefused), before a file is written.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from faasml.modelcard import (TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING, TASK_TENSOR, TASKS,
                              ImagePreprocessing, TextPreprocessing)

NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")  # leaves room for -int8-gpu
METADATA_PREFIX = "faasml."
TEXT_INPUTS = ("input_ids", "attention_mask")


class ModelRefused(ValueError):
    """The model cannot be served as asked: one line saying why, nothing written."""


@dataclass
class ModelSpec:
    """Everything `models add` needs to know about one user model."""

    source: Path
    name: str
    task: str
    image: ImagePreprocessing | None = None
    text: TextPreprocessing | None = None
    tokenizer_json: Path | None = None
    labels: list[str] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    embedding_dim: int | None = None
    opset: int = 0


def read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelRefused(f"--config {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ModelRefused(f"--config {path}: expected a mapping of task, labels, image, text")
    return data


def metadata_of(model: Any) -> dict[str, Any]:
    """The `faasml.*` entries of the model's metadata_props, JSON-decoded where they are JSON."""
    found: dict[str, Any] = {}
    for prop in model.metadata_props:
        if prop.key.startswith(METADATA_PREFIX):
            key = prop.key[len(METADATA_PREFIX):]
            try:
                found[key] = json.loads(prop.value)
            except ValueError:
                found[key] = prop.value
    return found


def load_onnx(path: Path) -> Any:
    """The parsed, checked model; a file that is not ONNX is refused."""
    import onnx

    if not path.is_file():
        raise ModelRefused(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf says "Error parsing message" and friends
        raise ModelRefused(f"{path} is not an ONNX model ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from None
    if not model.graph.node or not model.graph.input:
        raise ModelRefused(f"{path} is not an ONNX model (no graph)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ModelRefused(f"{path} keeps its weights in external data files; save it as one file "
                           "(onnx.save(model, path, save_as_external_data=False))")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelRefused(f"{path} fails the ONNX checker: {str(exc).strip().splitlines()[0]}") from None
    return model


def default_opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def check_runtime_loads(path: Path, opset: int) -> Any:
    """An ONNX Runtime session on the file; an opset it lacks is refused by name."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own Fail/InvalidGraph types
        text = str(exc)
        supported = re.search(r"till opset (\d+)", text)
        if supported or "opset" in text.lower() and "support" in text.lower():
            limit = f" (it supports up to {supported.group(1)})" if supported else ""
            raise ModelRefused(f"{path.name} needs opset {opset}, which onnxruntime "
                               f"{ort.__version__} does not support{limit}") from None
        line = next((l for l in text.splitlines() if l.strip()), type(exc).__name__)
        raise ModelRefused(f"onnxruntime {ort.__version__} cannot load {path.name}: {line[:200]}") from None


def _dims(node: Any) -> list[int | None]:
    """Declared dimensions: an int when fixed, None when dynamic (a name or unknown)."""
    return [d if isinstance(d, int) and d > 0 else None for d in (node.shape or [])]


def _image_preprocessing(given: dict[str, Any], input_dims: list[int | None], path: Path) -> ImagePreprocessing:
    if len(input_dims) != 4:
        raise ModelRefused(f"{path.name}: an image classifier takes one NCHW input of rank 4; "
                           f"this one has rank {len(input_dims)}")
    _, channels, height, width = input_dims
    if channels != 3:
        raise ModelRefused(f"{path.name}: an image classifier's input must have 3 (RGB) channels "
                           f"in dimension 1; this one has {channels if channels else 'a dynamic size'}")
    if height and width and height != width:
        raise ModelRefused(f"{path.name}: the executor serves square inputs; this one is {height}x{width}")
    size = given.get("size")
    if size is None:
        if not height:
            raise ModelRefused(f"{path.name}: its height and width are dynamic; give the size it was "
                               "trained at (--size N)")
        size = height
    if height and int(size) != height:
        raise ModelRefused(f"{path.name}: --size {size} does not match the model's fixed {height}x{width}")
    known = {f.name for f in fields(ImagePreprocessing)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ModelRefused(f"unknown image setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        image = ImagePreprocessing(**{**given, "size": int(size)})
        from faasml.executor.image import check_preprocessing

        check_preprocessing(image)
    except (TypeError, ValueError) as exc:
        raise ModelRefused(f"image preprocessing: {exc}") from None
    return image


def _labels(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        if raw == "imagenet":
            from faasml.models.imagenet import imagenet_labels

            return imagenet_labels()
        path = Path(raw)
        if not path.is_file():
            raise ModelRefused(f"labels: {raw} is neither a file nor 'imagenet'")
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return list(raw)
    raise ModelRefused("labels must be a list of strings, a file with one label per line, or 'imagenet'")


def describe(source: Path, name: str, flags: dict[str, Any], config: dict[str, Any]) -> tuple[ModelSpec, Any]:
    """Read and check the model; return its spec and the loaded ONNX Runtime session."""
    if not NAME_PATTERN.match(name):
        raise ModelRefused(f"--name {name!r} must be an OpenFaaS function name: lowercase letters, "
                           "digits and '-', at most 52 characters")
    model = load_onnx(source)
    meta = metadata_of(model)
    merged = {**meta, **{k: v for k, v in config.items() if v is not None},
              **{k: v for k, v in flags.items() if v is not None}}
    task = merged.get("task")
    if task not in TASKS:
        raise ModelRefused(f"say what the model does: --task {'|'.join(TASKS)} (got {task!r})")
    opset = default_opset(model)
    session = check_runtime_loads(source, opset)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    spec = ModelSpec(source=source, name=name, task=task, opset=opset,
                     input_names=[i.name for i in inputs], output_names=[o.name for o in outputs])
    if task == TASK_IMAGE_CLASSIFICATION:
        _describe_image(spec, merged, inputs, outputs)
    elif task == TASK_SENTENCE_EMBEDDING:
        _describe_text(spec, merged, inputs, outputs)
    else:
        _describe_tensor(spec, inputs, outputs)
    return spec, session


def _describe_image(spec: ModelSpec, merged: dict[str, Any], inputs: list[Any], outputs: list[Any]) -> None:
    if len(inputs) != 1:
        raise ModelRefused(f"{spec.source.name}: an image classifier takes one input; this one takes "
                           f"{len(inputs)} ({', '.join(i.name for i in inputs)})")
    if inputs[0].type != "tensor(float)":
        raise ModelRefused(f"{spec.source.name}: the image input must be float32, not {inputs[0].type}")
    spec.image = _image_preprocessing(dict(merged.get("image") or {}), _dims(inputs[0]), spec.source)
    out_dims = _dims(outputs[0])
    if len(out_dims) != 2:
        raise ModelRefused(f"{spec.source.name}: an image classifier's first output must be "
                           f"[batch, classes] scores; this one has rank {len(out_dims)}")
    spec.labels = _labels(merged.get("labels"))
    if not spec.labels:
        raise ModelRefused(f"{spec.source.name}: a classifier needs its class labels (--labels FILE, "
                           "one per line in output order, or --labels imagenet)")
    if out_dims[1] and out_dims[1] != len(spec.labels):
        raise ModelRefused(f"{spec.source.name}: it scores {out_dims[1]} classes but {len(spec.labels)} "
                           "labels were given")


def _describe_text(spec: ModelSpec, merged: dict[str, Any], inputs: list[Any], outputs: list[Any]) -> None:
    names = [i.name for i in inputs]
    missing = [n for n in TEXT_INPUTS if n not in names]
    if missing:
        raise ModelRefused(f"{spec.source.name}: a sentence encoder takes {', '.join(TEXT_INPUTS)} "
                           f"(and optionally token_type_ids); it lacks {', '.join(missing)}")
    for node in inputs:
        if len(_dims(node)) != 2 or node.type not in ("tensor(int64)", "tensor(int32)"):
            raise ModelRefused(f"{spec.source.name}: input {node.name} must be integer [batch, sequence]; "
                               f"it is {node.type} of rank {len(_dims(node))}")
        if node.type != "tensor(int64)":
            raise ModelRefused(f"{spec.source.name}: input {node.name} is int32; the executor feeds int64 token ids")
    out_dims = _dims(outputs[0])
    if len(out_dims) not in (2, 3) or not out_dims[-1]:
        raise ModelRefused(f"{spec.source.name}: its first output must be token states [batch, sequence, dim] "
                           "or pooled [batch, dim] with a fixed dim")
    spec.embedding_dim = out_dims[-1]
    tokenizer = merged.get("tokenizer")
    if not tokenizer:
        raise ModelRefused(f"{spec.source.name}: a sentence encoder needs its tokenizer (--tokenizer tokenizer.json)")
    path = Path(str(tokenizer))
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise ModelRefused(f"tokenizer: {tokenizer} is not a tokenizer.json file")
    try:
        from tokenizers import Tokenizer

        Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain Exceptions
        raise ModelRefused(f"tokenizer: {path} is not a Hugging Face tokenizer.json ({str(exc)[:80]})") from None
    spec.tokenizer_json = path
    text = dict(merged.get("text") or {})
    for key in ("pooling", "max_length", "normalize"):
        if merged.get(key) is not None:
            text[key] = merged[key]
    known = {f.name for f in fields(TextPreprocessing)} - {"tokenizer"}
    unknown = sorted(set(text) - known)
    if unknown:
        raise ModelRefused(f"unknown text setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    spec.text = TextPreprocessing(tokenizer=f"{spec.name}.tokenizer", **text)
    if spec.text.pooling not in ("mean", "cls"):
        raise ModelRefused(f"pooling {spec.text.pooling!r} is not mean or cls")


def _describe_tensor(spec: ModelSpec, inputs: list[Any], outputs: list[Any]) -> None:
    from faasml.executor.tensor import ONNX_DATATYPES

    for node in [*inputs, *outputs]:
        if node.type not in ONNX_DATATYPES:
            raise ModelRefused(f"{spec.source.name}: {node.name} is {node.type}, which the Open Inference "
                               "Protocol cannot carry (it has no sequence or map datatypes)")
        if node.shape is None:
            raise ModelRefused(f"{spec.source.name}: {node.name} declares no rank; the protocol needs one")
