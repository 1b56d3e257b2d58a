"""`models build`: planning, the no-op rebuild, int8 builds from tiny bases, interruption."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from faasml.models.accuracy import load_recorded
from faasml.models.build import UnknownVariant, plan_builds, run_build
from faasml.modelcard import card_path_for, card_problem, load_card
from faasml.models.variants import MINILM_TOKENIZER_DIR, REFERENCE_VARIANTS
from tests.models.tiny import ranked_classifier, text_with_matmul

REPO = Path(__file__).resolve().parents[2]


def fake_reference_folder(folder: Path) -> Path:
    """Intact tiny variants under every reference name (real ONNX files, real cards)."""
    folder.mkdir(parents=True)
    for variant in REFERENCE_VARIANTS:
        if variant.task == "image-classification":
            ranked_classifier(folder, variant.name, family=variant.family,
                              precision=variant.precision)
        else:
            text_with_matmul(folder, variant.name, MINILM_TOKENIZER_DIR)
    return folder


@pytest.fixture
def intact(tmp_path):
    return fake_reference_folder(tmp_path / "models")


def _names(plan):
    return [(p.variant.name, p.reason) for p in plan]


def test_plan_is_empty_when_everything_is_intact(intact):
    assert plan_builds(intact) == []


def test_plan_names_what_is_missing_or_altered(intact):
    card_path_for(intact, "efficientnet-lite1-int8").unlink()
    with open(intact / "minilm-l6-int8.onnx", "ab") as fh:
        fh.write(b"\0")
    assert _names(plan_builds(intact)) == [
        ("efficientnet-lite1-int8", "no card"),
        ("minilm-l6-int8", "minilm-l6-int8.onnx size differs from the card")]


def test_int8_is_rebuilt_with_its_base_and_pulls_a_broken_base_in(intact):
    (intact / "efficientnet-lite0-fp32.onnx").unlink()
    assert _names(plan_builds(intact, only=["efficientnet-lite0-int8"])) == [
        ("efficientnet-lite0-fp32", "base of a selected variant: efficientnet-lite0-fp32.onnx missing"),
        ("efficientnet-lite0-int8", "its base efficientnet-lite0-fp32 is rebuilt")]
    assert _names(plan_builds(intact, only=["efficientnet-lite2-fp32"], force=True)) == [
        ("efficientnet-lite2-fp32", "--force")]


def test_unknown_variant_is_refused(intact):
    with pytest.raises(UnknownVariant, match="known: efficientnet-lite0-fp32"):
        plan_builds(intact, only=["resnet50"])


def test_rebuild_of_intact_models_is_a_fast_no_op_without_torch(intact):
    before = {p.name: p.stat().st_mtime_ns for p in intact.glob("*.onnx")}
    code = ("import sys, time; t = time.monotonic(); from faasml.cli import main; "
            f"rc = main(['models', 'build', '--out', {str(intact)!r}]); "
            "print(rc, 'torch' in sys.modules, round(time.monotonic() - t, 3))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    rc, torch_loaded, seconds = done.stdout.split()
    assert (rc, torch_loaded) == ("0", "False"), done.stderr
    assert float(seconds) < 2.0
    assert "8 variant(s) already up to date" in done.stderr
    assert {p.name: p.stat().st_mtime_ns for p in intact.glob("*.onnx")} == before


def test_recorded_measurements_reach_intact_cards_with_a_sha_note(intact):
    recorded = load_recorded()
    assert "efficientnet-lite0-fp32" in recorded  # the committed file
    report = run_build(intact, stream=io.StringIO())
    assert report.built == [] and "efficientnet-lite0-fp32" in report.refreshed_accuracy
    accuracy = load_card(card_path_for(intact, "efficientnet-lite0-fp32")).accuracy
    assert accuracy["basis"] == "measured"
    assert accuracy["value"] == recorded["efficientnet-lite0-fp32"]["top1"]
    assert accuracy["measured"]["matches_this_file"] is False  # tiny file, other sha256
    assert "different sha256" in accuracy["source"]


def test_image_int8_build_from_an_fp32_base(intact):
    card_path_for(intact, "efficientnet-lite0-int8").unlink()
    out = io.StringIO()
    report = run_build(intact, only=["efficientnet-lite0-int8"], stream=out)
    assert report.built == ["efficientnet-lite0-int8"]
    # no recorded ranges fit this tiny graph: it falls back to calibrating, and says so
    assert "[1/1] efficientnet-lite0-int8: calibrating and quantizing (8 scikit-image photos)" in out.getvalue()
    card = load_card(card_path_for(intact, "efficientnet-lite0-int8"))
    base = load_card(card_path_for(intact, "efficientnet-lite0-fp32"))
    assert card_problem(intact, card.name) is None
    assert card.precision == "int8" and card.image == base.image
    assert card.source["quantized_from"] == {"variant": base.name, "sha256": base.sha256}
    calibration = card.source["quantization"]["calibration_set"]
    assert calibration.startswith("8 photos") and "chelsea" in calibration
    assert "calibrated at build time on this CPU" in card.source["quantization"]["note"]
    # the build's recipe keeps the classifier (this tiny model's one MatMul) in fp32
    kept = card.source["quantization"]["kept_fp32"]
    assert list(kept) == ["classifier"] and len(kept["classifier"]) == 1
    ops = {n.op_type for n in onnx.load(str(intact / card.file)).graph.node}
    assert "MatMul" in ops and "MatMulInteger" not in ops
    assert not [p for p in intact.iterdir() if p.name.startswith(".")]


def test_image_int8_build_from_recorded_ranges_is_byte_identical(intact, tmp_path, monkeypatch):
    """With ranges recorded for the family, the build runs no calibration and two builds
    give the same bytes (the ranges, not the CPU, fix the file)."""
    from faasml.executor.variant import load_variant
    from faasml.models import calibration
    from faasml.models.quantize import StaticRecipe, calibrate_ranges

    monkeypatch.setattr(calibration, "RANGES_DIR", tmp_path / "ranges")
    fp32_card = card_path_for(intact, "efficientnet-lite0-fp32")
    fp32 = load_variant(fp32_card, "cpu", 0)
    feeds = calibration.calibration_feeds(fp32, calibration.calibration_files())
    recipe = StaticRecipe("minmax", keep_fp32=("classifier",))
    ranges = calibrate_ranges(intact / fp32.card.file, feeds, recipe)
    calibration.save_ranges("efficientnet-lite0", {
        "recipe": recipe.to_dict(), "fp32_sha256": fp32.card.sha256, "calibration_set": "test photos",
        "evaluation_set": "none", "cpu": "test", "date": "2026-01-01", "command": "test",
        "ranges": {k: list(v) for k, v in ranges.items()}})
    digests = []
    for _ in range(2):
        card_path_for(intact, "efficientnet-lite0-int8").unlink()
        out = io.StringIO()
        run_build(intact, only=["efficientnet-lite0-int8"], stream=out)
        assert "quantizing from the recorded ranges (minmax, per-channel, QDQ, fp32 classifier)" in out.getvalue()
        assert "calibrating" not in out.getvalue()
        card = load_card(card_path_for(intact, "efficientnet-lite0-int8"))
        digests.append(card.sha256)
    quantization = card.source["quantization"]
    assert quantization["calibration_set"] == "test photos" and "note" not in quantization
    assert quantization["recipe"]["keep_fp32"] == ["classifier"]
    assert digests[0] == digests[1]


def test_text_int8_build_measures_agreement_and_derives_its_value(intact):
    card_path_for(intact, "minilm-l6-int8").unlink()
    run_build(intact, only=["minilm-l6-int8"], stream=io.StringIO())
    card = load_card(card_path_for(intact, "minilm-l6-int8"))
    measured = card.accuracy["agreement_with_fp32"]
    assert card.accuracy["basis"] == "estimate"
    assert card.accuracy["value"] == round(0.6806 * measured["spearman_pair_similarity"], 4)
    assert "Spearman" in card.accuracy["source"] and "estimate" in card.accuracy["source"]
    assert 0.9 < measured["cosine_mean"] <= 1.0 and measured["pairs"] >= 40
    assert card.text.tokenizer == MINILM_TOKENIZER_DIR
    assert "MatMulInteger" in {n.op_type for n in onnx.load(str(intact / card.file)).graph.node}
    assert not [p for p in intact.iterdir() if p.name.startswith(".")]  # pending card gone


class InterruptAt(io.StringIO):
    """A progress stream that raises KeyboardInterrupt when a phase starts (like Ctrl-C)."""

    def __init__(self, phase: str):
        super().__init__()
        self.phase = phase

    def write(self, text: str) -> int:
        if self.phase in text:
            raise KeyboardInterrupt
        return super().write(text)


def test_interrupted_build_leaves_nothing_that_looks_complete(intact):
    card_path_for(intact, "efficientnet-lite0-int8").unlink()
    (intact / "efficientnet-lite0-int8.onnx").unlink()
    with pytest.raises(KeyboardInterrupt):
        # after the .onnx is in place, before its card is written
        run_build(intact, only=["efficientnet-lite0-int8"], stream=InterruptAt("checking int8"))
    assert (intact / "efficientnet-lite0-int8.onnx").exists()
    assert not card_path_for(intact, "efficientnet-lite0-int8").exists()
    assert _names(plan_builds(intact)) == [("efficientnet-lite0-int8", "no card")]
    assert not [p for p in intact.iterdir() if p.name.startswith(".")]
