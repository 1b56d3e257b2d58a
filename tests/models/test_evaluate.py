"""Top-1/top-5 arithmetic, through the executor's real pipeline on a generated folder."""
from __future__ import annotations

import json
import math

import pytest

from faasml.executor.variant import load_variant
from faasml.models.accuracy import SAMPLE_DATASET
from faasml.modelcard import file_sha256, load_card
from faasml.models.evaluate import EvalResult, evaluate, measurement_record, paired_comparison
from faasml.models.imagenet import imagenet_classes
from faasml.models.labelled import read_labelled_folder
from tests.models.tiny import colour_png, ranked_classifier

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# (colour, true class): red ranks 0,10,11,12,13; green 1,20..23; blue 2,30..33
CASES = [(RED, 0), (RED, 12), (RED, 500), (GREEN, 1), (BLUE, 33), (BLUE, 1)]
EXPECTED_TOP1, EXPECTED_TOP5 = 2 / 6, 4 / 6


def make_folder(root):
    wnids = [c.wnid for c in imagenet_classes()]
    for k, (colour, index) in enumerate(CASES):
        colour_png(root / f"{wnids[index]}_case{k}.png", colour)
    return root


def test_result_arithmetic_and_standard_error():
    result = EvalResult()
    result.add(3, [3, 1, 2, 4, 5])
    result.add(4, [3, 1, 2, 4, 5])
    result.add(9, [3, 1, 2, 4, 5, 9])  # a 6th guess does not count for top-5
    result.add(1, [])
    assert (result.n, result.top1_hits, result.top5_hits) == (4, 1, 2)
    assert result.top1 == 0.25 and result.top5 == 0.5
    assert result.top1_stderr == pytest.approx(math.sqrt(0.25 * 0.75 / 4))
    assert EvalResult.standard_error(0.5, 100) == pytest.approx(0.05)
    assert math.isnan(EvalResult().top1)


def test_evaluate_through_the_executor_pipeline(tmp_path):
    (tmp_path / "models").mkdir()
    card_path = ranked_classifier(tmp_path / "models", "ranked")
    images = read_labelled_folder(make_folder(tmp_path / "data"))
    seen = []
    result = evaluate(load_variant(card_path, provider="cpu").classify, images,
                      on_progress=lambda done, total: seen.append((done, total)))
    assert result.n == 6
    assert result.top1 == pytest.approx(EXPECTED_TOP1) and result.top5 == pytest.approx(EXPECTED_TOP5)
    assert seen[-1] == (6, 6) and len(seen) == 6


def test_measurement_record_says_what_and_on_which_file(tmp_path):
    (tmp_path / "models").mkdir()
    card_path = ranked_classifier(tmp_path / "models", "ranked")
    card = load_card(card_path)
    result = EvalResult(n=1000, top1_hits=776, top5_hits=930)
    record = measurement_record(result, card.sha256, "faasml models eval --data d --record")
    assert record["top1"] == 0.776 and record["top5"] == 0.93 and record["n"] == 1000
    assert record["top1_stderr"] == pytest.approx(0.0132, abs=1e-4)
    assert record["dataset"] == SAMPLE_DATASET and "not the ImageNet validation set" in record["dataset"]
    assert record["onnx_sha256"] == file_sha256(tmp_path / "models" / "ranked.onnx")
    json.dumps(record)  # must be storable as JSON


def test_paired_comparison_counts_discordant_images():
    reference, candidate = EvalResult(), EvalResult()
    for truth, ref_top1, cand_top1 in [(1, 1, 1), (2, 2, 9), (3, 8, 3), (4, 7, 7), (5, 6, 0)]:
        reference.add(truth, [ref_top1])
        candidate.add(truth, [cand_top1])
    assert paired_comparison(reference, candidate) == {
        "n": 5, "top1_agreement": 0.4, "only_reference_correct": 1, "only_candidate_correct": 1}
    with pytest.raises(ValueError):
        paired_comparison(reference, EvalResult())
