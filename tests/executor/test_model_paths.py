"""Files a model card names must lie in the card's own folder: a card is data, and no card
can make an executor open a file elsewhere."""
from __future__ import annotations

import json
import shutil

import pytest

from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.executor.variant import load_variant


def card_copy(source, folder, **changes):
    """The tiny card copied into `folder` (with its model) and fields changed."""
    folder.mkdir(exist_ok=True)
    data = json.loads(source.read_text())
    shutil.copy(source.parent / data["file"], folder / data["file"])
    for dotted, value in changes.items():
        target = data
        *parents, leaf = dotted.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    path = folder / source.name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("file", ["../escaped.onnx", "/etc/passwd", "sub/../../escaped.onnx", ".", ""])
def test_a_card_naming_a_file_outside_its_folder_is_refused(tiny_models, tmp_path, file):
    (tmp_path / "escaped.onnx").write_bytes((tiny_models["image"].parent / "tiny-colour.onnx").read_bytes())
    card = card_copy(tiny_models["image"], tmp_path / "models", file=file)
    with pytest.raises(ValueError, match="outside the models folder"):
        load_variant(card)
    service = ExecutorService(ExecutorConfig(model=str(card)))
    service.load()
    assert service.variant is None and service.load_error.status == 503


def test_a_text_card_naming_a_tokenizer_outside_its_folder_is_refused(tiny_models, tmp_path):
    source = tiny_models["text"]
    card = card_copy(source, tmp_path / "models", **{"text.tokenizer": str(source.parent / "tiny.tokenizer")})
    with pytest.raises(ValueError, match="outside the models folder"):
        load_variant(card)


def test_files_inside_the_folder_still_load(tiny_models, tmp_path):
    card = card_copy(tiny_models["image"], tmp_path / "models")
    assert load_variant(card).card.name == "tiny-colour"
