"""Card round-trip and the integrity check that makes a rebuild a no-op."""
from __future__ import annotations

from faasml.modelcard import (ImagePreprocessing, ModelCard, TextPreprocessing, card_path_for,
                                card_problem, file_sha256, load_card, save_card, stamp_file)
from tests.models.tiny import ranked_classifier, text_with_matmul


def test_round_trip_keeps_every_field(tmp_path):
    card = ModelCard(name="v", task="image-classification", family="f", precision="int8",
                     file="v.onnx", input_names=["input"], output_names=["logits"],
                     image=ImagePreprocessing(size=240, crop_pct=0.9), labels=["a", "b"],
                     sha256="ab" * 32, size_bytes=12,
                     accuracy={"value": 0.8, "measured": {"n": 3}}, source={"opset": 17})
    loaded = load_card(save_card(card, tmp_path))
    assert loaded == card
    assert isinstance(loaded.image, ImagePreprocessing) and loaded.image.size == 240
    text = ModelCard(name="t", task="sentence-embedding", family="f", precision="fp32",
                     file="t.onnx", text=TextPreprocessing(tokenizer="tok", max_length=128))
    assert load_card(save_card(text, tmp_path)).text == TextPreprocessing("tok", 128)


def test_stamp_file_records_sha256_and_size(tmp_path):
    (tmp_path / "v.onnx").write_bytes(b"not really onnx")
    card = stamp_file(ModelCard("v", "image-classification", "f", "fp32", "v.onnx"), tmp_path)
    assert card.sha256 == file_sha256(tmp_path / "v.onnx")
    assert card.size_bytes == len(b"not really onnx")


def test_intact_variant_has_no_problem(tmp_path):
    ranked_classifier(tmp_path, "img")
    assert card_problem(tmp_path, "img") is None


def test_problems_are_named(tmp_path):
    assert card_problem(tmp_path, "absent") == "no card"
    ranked_classifier(tmp_path, "img")
    onnx_path = tmp_path / "img.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    onnx_path.write_bytes(bytes(data))
    assert card_problem(tmp_path, "img") == "img.onnx sha256 differs from the card"
    onnx_path.write_bytes(bytes(data) + b"x")
    assert card_problem(tmp_path, "img") == "img.onnx size differs from the card"
    onnx_path.unlink()
    assert card_problem(tmp_path, "img") == "img.onnx missing"
    card_path_for(tmp_path, "img").write_text("{not json", encoding="utf-8")
    assert card_problem(tmp_path, "img").startswith("unreadable card")


def test_text_variant_needs_its_tokenizer_folder(tmp_path):
    text_with_matmul(tmp_path, "txt", "txt.tokenizer")
    assert card_problem(tmp_path, "txt") is None
    for path in (tmp_path / "txt.tokenizer").iterdir():
        path.unlink()
    (tmp_path / "txt.tokenizer").rmdir()
    assert card_problem(tmp_path, "txt") == "tokenizer folder txt.tokenizer missing"
