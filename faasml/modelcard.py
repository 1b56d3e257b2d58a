"""Model cards: the JSON file beside each variant's .onnx that says what it is.

Executors read the card to know how to pre/post-process; the builder writes it; the
evaluation fills in measured accuracy; `stack.yml` annotations quote its numbers.
File layout: `<models_dir>/<name>.onnx` and `<models_dir>/<name>.card.json`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CARD_SUFFIX = ".card.json"
TASK_IMAGE_CLASSIFICATION = "image-classification"
TASK_SENTENCE_EMBEDDING = "sentence-embedding"
# Any ONNX model, served as named tensors over the Open Inference Protocol (its inputs and
# outputs are the graph's own; faasml/executor/oip.py).
TASK_TENSOR = "tensor"
TASKS = (TASK_IMAGE_CLASSIFICATION, TASK_SENTENCE_EMBEDDING, TASK_TENSOR)
RESIZE_BACKENDS = ("opencv", "pillow")
# ONNX Runtime session options a variant runs with unless its function overrides them
# (FAASML_GRAPH_OPTIMIZATION, ...): what measured fastest for the reference variants
# (docs/executors.md, `faasml bench executor --session-options`).
# cudnn_conv_algo_search applies on CUDA only (docs/executors.md, "GPU variants").
DEFAULT_SESSION_OPTIONS = {"graph_optimization": "all", "cpu_mem_arena": True, "intra_op_spinning": True,
                           "cudnn_conv_algo_search": "exhaustive"}


@dataclass
class ImagePreprocessing:
    """How an image becomes the model's input tensor (NCHW float32, RGB)."""

    size: int                      # square crop fed to the model, e.g. 224
    crop_pct: float = 0.875        # resize the shorter side to size / crop_pct, then centre-crop
    interpolation: str = "bicubic"  # PIL resampling filter name
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])  # on 0..1 pixels
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    # Which library resamples the centre crop (faasml/executor/image.py). "pillow": Pillow's
    # antialiased filter on the exact fractional crop box, the pipeline timm/torchvision
    # train with; "opencv": cv2.resize of the crop rounded to whole pixels, about 5x cheaper,
    # top-1 within noise of "pillow" on the reference variants (docs/executors.md). A model
    # trained on other pixels names the backend that reproduces them.
    resize_backend: str = "opencv"

    def __post_init__(self) -> None:
        if self.resize_backend not in RESIZE_BACKENDS:
            raise ValueError(f"image.resize_backend {self.resize_backend!r} is not one of "
                             f"{', '.join(RESIZE_BACKENDS)}")


@dataclass
class TextPreprocessing:
    """How text becomes input_ids/attention_mask, and how token states become one vector."""

    tokenizer: str = "tokenizer"   # folder (relative to the card) holding the HF tokenizer files
    max_length: int = 256          # tokens; longer inputs are truncated (reported in the response)
    pooling: str = "mean"          # mean over non-padding tokens ("cls" takes the first token)
    normalize: bool = True         # L2-normalize, so a dot product is the cosine similarity


@dataclass
class ModelCard:
    name: str                      # variant name, also the OpenFaaS function name by convention
    task: str                      # one of TASKS
    family: str                    # the model, e.g. "efficientnet-lite0", "all-MiniLM-L6-v2"
    precision: str                 # fp32 | fp16 | int8
    file: str                      # the .onnx file, relative to the card
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    image: ImagePreprocessing | None = None
    text: TextPreprocessing | None = None
    labels: list[str] = field(default_factory=list)   # class index -> label (classification)
    embedding_dim: int | None = None
    sha256: str = ""
    size_bytes: int = 0
    # accuracy: {"value": 0..1, "metric": ..., "source": ..., plus optional "published"
    # and "measured" blocks}; `value` is what the selector uses, `source` says where it is from.
    accuracy: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # weights origin, exporter, quantization
    # ONNX Runtime options chosen for this variant (faasml/executor/session.py SessionTuning);
    # a card without them runs with DEFAULT_SESSION_OPTIONS.
    session_options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SESSION_OPTIONS))

    @property
    def accuracy_value(self) -> float | None:
        value = self.accuracy.get("value")
        return float(value) if value is not None else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        data = dict(data)
        if data.get("image"):
            data["image"] = ImagePreprocessing(**data["image"])
        if data.get("text"):
            data["text"] = TextPreprocessing(**data["text"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def card_path_for(models_dir: Path | str, name: str) -> Path:
    return Path(models_dir) / f"{name}{CARD_SUFFIX}"


def load_card(path: Path | str) -> ModelCard:
    """Load a card; `path` may be the card itself or the .onnx beside it."""
    path = Path(path)
    if path.suffix == ".onnx":
        path = path.with_name(path.stem + CARD_SUFFIX)
    with open(path, encoding="utf-8") as fh:
        return ModelCard.from_dict(json.load(fh))


def save_card(card: ModelCard, models_dir: Path | str) -> Path:
    path = card_path_for(models_dir, card.name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a half-written card is never read
    return path


def list_cards(models_dir: Path | str) -> list[ModelCard]:
    folder = Path(models_dir)
    if not folder.is_dir():
        return []
    return [load_card(p) for p in sorted(folder.glob(f"*{CARD_SUFFIX}"))]


def file_sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_file_for(card: ModelCard, models_dir: Path | str) -> Path:
    """The .onnx a card describes (its `file` is relative to the card's folder)."""
    return Path(models_dir) / card.file


def card_problem(models_dir: Path | str, name: str) -> str | None:
    """Why variant `name` in `models_dir` is missing, incomplete or altered; None if intact.

    Intact means: the card parses, its .onnx exists with the recorded size and sha256, and
    a text variant's tokenizer folder exists. This is what makes a rebuild a no-op.
    """
    path = card_path_for(models_dir, name)
    if not path.is_file():
        return "no card"
    try:
        card = load_card(path)
    except (OSError, ValueError, TypeError) as exc:
        return f"unreadable card ({type(exc).__name__}: {exc})"
    onnx_path = model_file_for(card, models_dir)
    if not onnx_path.is_file():
        return f"{card.file} missing"
    if onnx_path.stat().st_size != card.size_bytes:
        return f"{card.file} size differs from the card"
    if file_sha256(onnx_path) != card.sha256:
        return f"{card.file} sha256 differs from the card"
    if card.text is not None and not (Path(models_dir) / card.text.tokenizer).is_dir():
        return f"tokenizer folder {card.text.tokenizer} missing"
    return None


def stamp_file(card: ModelCard, models_dir: Path | str) -> ModelCard:
    """Record the .onnx's sha256 and size in the card (call after the file is final)."""
    path = model_file_for(card, models_dir)
    card.sha256 = file_sha256(path)
    card.size_bytes = path.stat().st_size
    return card
