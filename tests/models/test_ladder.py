"""`faasml models ladder` on a tiny real classifier: every trial built as a build builds it,
scored on the evaluation half, paired with fp32, timed; the table and the plot."""
from __future__ import annotations

from faasml.models.calibration import calibration_files
from faasml.models.ladder import TRIALS, plot, run_family, table
from faasml.models.labelled import read_labelled_folder
from faasml.models.split import half
from tests.models.test_evaluate import make_folder
from tests.models.tiny import ranked_classifier


def test_ladder_rows_for_fp32_and_each_trial(tmp_path):
    (tmp_path / "models").mkdir()
    card = ranked_classifier(tmp_path / "models", "ranked-fp32")
    images = read_labelled_folder(make_folder(tmp_path / "data"))
    trials = tuple(t for t in TRIALS if t.key in ("minmax", "minmax-skimage8", "minmax-fp32-classifier"))
    seen = []
    rows = run_family(card, half(images, "evaluation"), half(images, "calibration"), calibration_files(),
                      trials, seen.append)
    assert [r["trial"] for r in rows] == ["fp32", "minmax-skimage8", "minmax", "minmax-fp32-classifier"]
    assert rows == seen
    fp32 = rows[0]
    assert fp32["n"] == 3 and 0 <= fp32["top1"] <= fp32["top5"] <= 1
    for row in rows[1:]:
        assert row["calibration_images"] == (8 if row["trial"] == "minmax-skimage8" else 3)
        assert row["only_fp32_right"] + row["top1"] * 3 == fp32["top1"] * 3 + row["only_int8_right"]
        assert row["p50_ms"] > 0 and row["size_bytes"] > 0
    text = table(rows)
    assert "minmax-fp32-classifier" in text and "evaluation half" in text
    plot(rows, tmp_path / "ladder.png", {"tiny-ranked": "minmax"})
    assert (tmp_path / "ladder.png").read_bytes()[:4] == b"\x89PNG"
