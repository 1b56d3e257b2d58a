"""`faasml models add` refuses bad models with one clear line and leaves nothing behind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from faasml.cli import main

REPO = Path(__file__).resolve().parents[2]


def _conv_classifier(path: Path, dims: list, classes: int = 3, opset: int = 17, rank: int = 4) -> Path:
    """A tiny real image classifier: 1x1 conv to `classes` channels, global pool, flatten."""
    weight = numpy_helper.from_array(np.ones((classes, 3, 1, 1), dtype=np.float32), "w")
    if rank == 4:
        nodes = [helper.make_node("Conv", ["input", "w"], ["c"]),
                 helper.make_node("GlobalAveragePool", ["c"], ["p"]),
                 helper.make_node("Flatten", ["p"], ["logits"])]
        initializers = [weight]
    else:  # a [batch, features] model: not an image classifier
        nodes = [helper.make_node("MatMul", ["input", "m"], ["logits"])]
        initializers = [numpy_helper.from_array(np.ones((dims[1], classes), dtype=np.float32), "m")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10
    onnx.save(model, str(path))
    return path


@pytest.fixture
def project(tmp_path):
    stack = tmp_path / "stack.yml"
    stack.write_bytes((REPO / "stack.yml").read_bytes())
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    (tmp_path / "models").mkdir()
    return tmp_path


def _snapshot(project: Path) -> tuple[bytes, list[str]]:
    return (project / "stack.yml").read_bytes(), sorted(str(p.relative_to(project)) for p in project.rglob("*"))


def _add(project: Path, model: Path, *extra: str) -> list[str]:
    return ["models", "add", str(model), "--models", str(project / "models"),
            "--stack", str(project / "stack.yml"), *extra]


CASES = {
    "not-onnx": (lambda p: (p / "notes.onnx").write_text("this is not a model") and p / "notes.onnx",
                 ["--name", "m", "--task", "image-classification", "--labels", "LABELS"],
                 "is not an ONNX model"),
    "wrong-rank": (lambda p: _conv_classifier(p / "flat.onnx", ["batch", 12], rank=2),
                   ["--name", "m", "--task", "image-classification", "--labels", "LABELS"],
                   "takes one NCHW input of rank 4; this one has rank 2"),
    "dynamic-size": (lambda p: _conv_classifier(p / "dyn.onnx", ["batch", 3, "h", "w"]),
                     ["--name", "m", "--task", "image-classification", "--labels", "LABELS"],
                     "height and width are dynamic; give the size it was trained at (--size N)"),
    "dynamic-channels": (lambda p: _conv_classifier(p / "dync.onnx", ["batch", "c", 16, 16]),
                         ["--name", "m", "--task", "image-classification", "--labels", "LABELS"],
                         "must have 3 (RGB) channels"),
    "no-labels": (lambda p: _conv_classifier(p / "nolabels.onnx", ["batch", 3, 16, 16]),
                  ["--name", "m", "--task", "image-classification"],
                  "a classifier needs its class labels"),
    "label-count": (lambda p: _conv_classifier(p / "five.onnx", ["batch", 3, 16, 16], classes=5),
                    ["--name", "m", "--task", "image-classification", "--labels", "LABELS"],
                    "it scores 5 classes but 3 labels were given"),
    "opset": (lambda p: _conv_classifier(p / "future.onnx", ["batch", 3, 16, 16], opset=30),
              ["--name", "m", "--task", "image-classification", "--labels", "LABELS"],
              "needs opset 30, which onnxruntime"),
    "no-task": (lambda p: _conv_classifier(p / "notask.onnx", ["batch", 3, 16, 16]),
                ["--name", "m", "--labels", "LABELS"], "say what the model does: --task"),
    "name-taken": (lambda p: _conv_classifier(p / "taken.onnx", ["batch", 3, 16, 16]),
                   ["--name", "efficientnet-lite0", "--task", "image-classification", "--labels", "LABELS"],
                   "already has function(s) efficientnet-lite0-fp32, efficientnet-lite0-int8"),
    "bad-name": (lambda p: _conv_classifier(p / "badname.onnx", ["batch", 3, 16, 16]),
                 ["--name", "My_Model", "--task", "image-classification", "--labels", "LABELS"],
                 "must be an OpenFaaS function name"),
    "data-for-a-tensor-model": (lambda p: _conv_classifier(p / "tensor.onnx", ["batch", 3, 16, 16]),
                                ["--name", "m", "--task", "tensor", "--data", "LABELS"],
                                "--data is a labelled photo folder, for image classifiers"),
    "text-without-ids": (lambda p: _conv_classifier(p / "notext.onnx", ["batch", 3, 16, 16]),
                         ["--name", "m", "--task", "sentence-embedding"], "a sentence encoder takes input_ids"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_model_is_one_clear_line_and_nothing_written(project, capsys, case):
    make, args, words = CASES[case]
    model = make(project)
    args = [str(project / "labels.txt") if a == "LABELS" else a for a in args]
    before = _snapshot(project)
    assert main(_add(project, model, *args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("faasml models: error: ") and words in err[0], err[0]
    assert _snapshot(project) == before


def test_remove_of_a_model_never_added_is_refused(project, capsys):
    before = _snapshot(project)
    assert main(["models", "remove", "nothing", "--models", str(project / "models"),
                 "--stack", str(project / "stack.yml")]) == 2
    assert "no `faasml models add` block for 'nothing'" in capsys.readouterr().err
    assert _snapshot(project) == before


def test_tiny_classifier_is_added_and_removed_leaving_the_stack_as_it_was(project, capsys):
    """The whole chain on a tiny real model (the real-model chain: test_add_end_to_end.py)."""
    import yaml

    model = _conv_classifier(project / "tiny.onnx", ["batch", 3, 16, 16])
    before = _snapshot(project)
    assert main(_add(project, model, "--name", "tiny", "--task", "image-classification",
                     "--labels", str(project / "labels.txt"), "--profile-requests", "3")) == 0, \
        capsys.readouterr().err
    functions = yaml.safe_load((project / "stack.yml").read_text())["functions"]
    for name, precision in (("tiny-fp32", "fp32"), ("tiny-int8", "int8")):
        annotations = functions[name]["annotations"]
        assert annotations["faasml.io/precision"] == precision and annotations["faasml.io/family"] == "tiny"
        assert annotations["faasml.io/task"] == "image-classification"
        assert float(annotations["faasml.io/latency-ms"]) > 0
        assert annotations["faasml.io/accuracy"] == "0"   # nothing measured, and it says so
        assert "not measured" in annotations["faasml.io/accuracy-source"]
        assert functions[name]["environment"]["FAASML_MODEL"] == f"models/{name}.card.json"
        assert (project / "models" / f"{name}.card.json").is_file()
    assert not [p for p in (project / "models").iterdir() if p.name.startswith(".")]
    assert main(["models", "remove", "tiny", "--models", str(project / "models"),
                 "--stack", str(project / "stack.yml")]) == 0
    assert _snapshot(project) == before


def test_text_encoder_from_a_config_with_a_vouched_figure(project, capsys, tmp_path):
    """sentence-embedding: tokenizer copied beside the cards, int8 by dynamic quantization,
    its value the given figure x int8's agreement with fp32 (an estimate, and labelled so)."""
    import yaml

    from faasml.modelcard import load_card
    from tests.models.tiny import text_with_matmul

    source = tmp_path / "user"
    source.mkdir()
    text_with_matmul(source, "encoder", "tok")
    (project / "model.yml").write_text(yaml.safe_dump({
        "task": "sentence-embedding", "tokenizer": str(source / "tok" / "tokenizer.json"),
        "text": {"pooling": "mean", "max_length": 32}}))
    before = _snapshot(project)
    assert main(_add(project, source / "encoder.onnx", "--name", "enc", "--config", str(project / "model.yml"),
                     "--accuracy", "0.6", "--accuracy-source", "our benchmark", "--profile-requests", "3")) == 0, \
        capsys.readouterr().err
    fp32, int8 = (load_card(project / "models" / f"enc-{p}.card.json") for p in ("fp32", "int8"))
    assert fp32.accuracy["value"] == 0.6 and fp32.accuracy["basis"] == "published"
    assert fp32.accuracy["source"] == "our benchmark"
    agreement = int8.accuracy["agreement_with_fp32"]["value"]
    assert 0.9 < agreement <= 1.0 and int8.accuracy["value"] == round(0.6 * agreement, 4)
    assert int8.accuracy["basis"] == "estimate"
    assert (project / "models" / "enc.tokenizer" / "tokenizer.json").is_file()
    assert fp32.text.tokenizer == "enc.tokenizer" and fp32.text.max_length == 32
    assert "dynamic" in int8.source["quantization"]["format"]
    functions = yaml.safe_load((project / "stack.yml").read_text())["functions"]
    assert functions["enc-int8"]["annotations"]["faasml.io/accuracy"] == f"{int8.accuracy['value']:.4g}"
    assert main(["models", "remove", "enc", "--models", str(project / "models"),
                 "--stack", str(project / "stack.yml")]) == 0
    assert _snapshot(project) == before


def test_task_and_labels_from_the_models_own_metadata(project, capsys):
    model_path = _conv_classifier(project / "meta.onnx", ["batch", 3, 16, 16])
    model = onnx.load(str(model_path))
    for key, value in (("faasml.task", "image-classification"), ("faasml.labels", '["r", "g", "b"]'),
                       ("faasml.image", '{"crop_pct": 1.0, "interpolation": "bilinear"}')):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(model_path))
    assert main(_add(project, model_path, "--name", "meta", "--no-int8", "--profile-requests", "3")) == 0, \
        capsys.readouterr().err
    from faasml.modelcard import load_card

    card = load_card(project / "models" / "meta-fp32.card.json")
    assert card.labels == ["r", "g", "b"] and card.image.size == 16 and card.image.crop_pct == 1.0
    assert card.image.interpolation == "bilinear"
    assert not (project / "models" / "meta-int8.card.json").exists()
