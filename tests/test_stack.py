"""stack.yml: what faas-cli deploys and what the selector reads must be consistent and honest."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STACK = yaml.safe_load((ROOT / "stack.yml").read_text())
FUNCTIONS = STACK["functions"]
EXECUTORS = {n: f for n, f in FUNCTIONS.items() if f["labels"]["faasml.io/role"] == "executor"}
MEASURED = json.loads((ROOT / "faasml/models/data/measured_accuracy.json").read_text())["variants"]
REFERENCE = {"efficientnet-lite0-fp32", "efficientnet-lite0-int8", "efficientnet-lite1-fp32",
             "efficientnet-lite1-int8", "efficientnet-lite2-fp32", "efficientnet-lite2-int8",
             "minilm-l6-fp32", "minilm-l6-int8"}


def test_provider_and_templates():
    assert STACK["version"] == 1.0 and STACK["provider"]["name"] == "openfaas"
    for name, function in FUNCTIONS.items():
        assert (ROOT / "templates" / function["lang"] / "template.yml").is_file(), name
        assert (ROOT / function["handler"] / "handler.py").is_file(), name
    # OpenFaaS CE serves at most 15 functions
    assert len(FUNCTIONS) <= 15


def test_every_reference_variant_is_deployed_once_on_cpu():
    cpu = {n for n, f in EXECUTORS.items() if f["environment"]["FAASML_PROVIDER"] == "cpu"}
    assert cpu == REFERENCE


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_executor_annotations(name):
    function = EXECUTORS[name]
    notes, env = function["annotations"], function["environment"]
    model = Path(env["FAASML_MODEL"])
    variant = model.name.removesuffix(".card.json")
    assert model.parent == Path("models") and variant in REFERENCE
    assert notes["faasml.io/task"] == ("sentence-embedding" if "minilm" in variant else "image-classification")
    assert notes["faasml.io/precision"] == variant.rsplit("-", 1)[1]
    assert f"faasml.io/node-class={notes['faasml.io/node-class']}" in function["constraints"]
    assert (notes["faasml.io/node-class"] == "gpu") == (env["FAASML_PROVIDER"] == "cuda")
    assert (function["lang"].endswith("-gpu")) == (env["FAASML_PROVIDER"] == "cuda")
    assert 0 < float(notes["faasml.io/accuracy"]) < 1 and notes["faasml.io/accuracy-source"]
    assert env["ready_path"] == "/ready"


@pytest.mark.parametrize("name", sorted(n for n in EXECUTORS if "efficientnet" in n))
def test_image_accuracy_is_the_recorded_measurement(name):
    variant = Path(EXECUTORS[name]["environment"]["FAASML_MODEL"]).name.removesuffix(".card.json")
    notes = EXECUTORS[name]["annotations"]
    assert float(notes["faasml.io/accuracy"]) == pytest.approx(MEASURED[variant]["top1"], abs=5e-4)
    assert "measured" in notes["faasml.io/accuracy-source"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_annotations_match_the_built_cards(name, reference_models):
    from faasml.modelcard import load_card

    card = load_card(reference_models / Path(EXECUTORS[name]["environment"]["FAASML_MODEL"]).name)
    notes = EXECUTORS[name]["annotations"]
    assert card.task == notes["faasml.io/task"] and card.precision == notes["faasml.io/precision"]
    # int8 calibration runs ONNX Runtime's kernels, whose rounding differs between CPUs
    # (AVX-512 VNNI vs AVX2): a build-time estimate (minilm-int8's) moves in the third
    # decimal from machine to machine; a measured figure not at all.
    assert float(notes["faasml.io/accuracy"]) == pytest.approx(card.accuracy["value"], abs=2e-3)
