"""The sample's named halves, and stack.yml blocks written and taken out as text."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faasml.models import stackfile
from faasml.models.labelled import LabelledImage
from faasml.models.split import half

REPO = Path(__file__).resolve().parents[2]


def test_halves_are_disjoint_cover_everything_and_alternate():
    images = [LabelledImage(Path(f"{i:04d}.jpg"), i) for i in range(11)]
    calibration, evaluation = half(images, "calibration"), half(images, "evaluation")
    assert [i.index for i in calibration] == [0, 2, 4, 6, 8, 10]
    assert [i.index for i in evaluation] == [1, 3, 5, 7, 9]
    assert half(images, None) == images == half(images, "all")
    with pytest.raises(ValueError):
        half(images, "train")


def _entry(name: str) -> stackfile.Entry:
    return stackfile.Entry(name, f"models/{name}.card.json", "fp32", "cloud",
                           {"faasml.io/task": "tensor", "faasml.io/accuracy": "1",
                            "faasml.io/accuracy-source": 'with "quotes" and: colons'})


def test_block_goes_at_the_end_of_functions_even_before_another_top_level_key(tmp_path):
    text = ("version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n  a:\n    image: x\n"
            "    # a comment that stays\n\nconfiguration:\n  templates: []\n")
    block = stackfile.render("m", [_entry("m-fp32")])
    new = stackfile.with_block(text, "m", block)
    data = yaml.safe_load(new)
    assert list(data["functions"]) == ["a", "m-fp32"] and data["configuration"] == {"templates": []}
    annotations = data["functions"]["m-fp32"]["annotations"]
    assert annotations["faasml.io/accuracy-source"] == 'with "quotes" and: colons'
    assert "# a comment that stays" in new
    assert stackfile.added_models(new) == ["m"]
    restored, removed = stackfile.without_block(new, "m")
    assert restored == text and removed == ["m-fp32"]
    with pytest.raises(stackfile.StackError, match="already has function"):
        stackfile.with_block(new, "n", stackfile.render("n", [_entry("m-fp32")]))
    with pytest.raises(stackfile.StackError, match="no `faasml models add` block"):
        stackfile.without_block(text, "m")


def test_the_repository_stack_takes_a_block_the_runtime_loads(tmp_path):
    text = (REPO / "stack.yml").read_text()
    new = stackfile.with_block(text, "m", stackfile.render("m", [_entry("m-fp32"), _entry("m-int8")]))
    stackfile.check_loadable(new, REPO)
    functions = yaml.safe_load(new)["functions"]
    assert set(functions) - set(yaml.safe_load(text)["functions"]) == {"m-fp32", "m-int8"}
    assert functions["m-int8"]["environment"]["FAASML_MODEL"] == "models/m-int8.card.json"
    with pytest.raises(stackfile.StackError, match="would not load"):
        stackfile.check_loadable(new.replace("provider:\n  name: openfaas", "provider:\n  name: other"), tmp_path)
    assert not list(REPO.glob(".stack-check*"))
