"""The `faasml models` command line: list, eval (with --record), build errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from faasml.cli import main
from faasml.modelcard import card_path_for, load_card
from tests.models.test_evaluate import EXPECTED_TOP1, EXPECTED_TOP5, make_folder
from tests.models.tiny import ranked_classifier

REPO = Path(__file__).resolve().parents[2]


def _models(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    ranked_classifier(folder, "ranked-a")
    ranked_classifier(folder, "ranked-b")
    return folder


def test_list_table_and_json(tmp_path, capsys):
    folder = _models(tmp_path)
    with open(folder / "ranked-b.onnx", "ab") as fh:
        fh.write(b"\0")
    assert main(["models", "list", "--models", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "TASK", "PRECISION", "SIZE_MB", "ACCURACY", "SOURCE",
                                "SHA256", "STATUS"]
    card = load_card(card_path_for(folder, "ranked-a"))
    assert lines[1].startswith("ranked-a") and card.sha256[:12] in lines[1]
    assert lines[1].endswith("ok") and "0.5000" in lines[1]
    assert lines[2].endswith("ranked-b.onnx size differs from the card")
    assert main(["models", "list", "--models", str(folder), "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in items] == ["ranked-a", "ranked-b"]
    assert items[0]["sha256"] == card.sha256 and items[0]["status"] == "ok"
    assert "labels" not in items[0]


def test_list_of_an_empty_folder_says_how_to_build(tmp_path, capsys):
    assert main(["models", "list", "--models", str(tmp_path)]) == 1
    assert "faasml models build" in capsys.readouterr().err


def test_eval_prints_figures_and_records_them(tmp_path, capsys):
    folder = _models(tmp_path)
    data = make_folder(tmp_path / "data")
    record = tmp_path / "measured.json"
    assert main(["models", "eval", "--data", str(data), "--models", str(folder),
                 "--only", "ranked-a", "--record", "--record-file", str(record),
                 "--dataset", "six generated colour squares"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("ranked-a"))
    assert row.split()[1:6] == [f"{EXPECTED_TOP1:.4f}", f"{(EXPECTED_TOP1 * (1 - EXPECTED_TOP1) / 6) ** 0.5:.4f}",
                                f"{EXPECTED_TOP5:.4f}", f"{(EXPECTED_TOP5 * (1 - EXPECTED_TOP5) / 6) ** 0.5:.4f}", "6"]
    assert "ranked-b" not in out
    measured = json.loads(record.read_text())["variants"]["ranked-a"]
    card = load_card(card_path_for(folder, "ranked-a"))
    assert measured["top1"] == round(EXPECTED_TOP1, 4) and measured["n"] == 6
    assert measured["onnx_sha256"] == card.sha256 and "--record" in measured["command"]
    assert card.accuracy["value"] == measured["top1"] and card.accuracy["basis"] == "measured"
    assert card.accuracy["measured"]["matches_this_file"] is True
    assert measured["dataset"] == "six generated colour squares"
    assert card.accuracy["source"].startswith("six generated colour squares, n=6")


def test_eval_refuses_bad_requests(tmp_path, capsys):
    folder = _models(tmp_path)
    data = make_folder(tmp_path / "data")
    assert main(["models", "eval", "--data", str(data), "--models", str(folder),
                 "--record", "--limit", "3"]) == 2
    assert main(["models", "eval", "--data", str(tmp_path / "none"), "--models", str(folder)]) == 2
    assert main(["models", "eval", "--data", str(data), "--models", str(folder),
                 "--only", "nope"]) == 2
    with open(folder / "ranked-a.onnx", "ab") as fh:
        fh.write(b"\0")
    assert main(["models", "eval", "--data", str(data), "--models", str(folder)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert [e.split(":")[0] for e in errors] == ["faasml models"] * 4
    assert "rebuild it before measuring" in errors[-1]


def test_build_refuses_unknown_names_in_one_line(tmp_path, capsys):
    assert main(["models", "build", "--out", str(tmp_path), "--only", "resnet50"]) == 2
    assert main(["models", "build", "--out", str(tmp_path), "--name", "x"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "unknown variant(s) resnet50" in errors[0]


def test_from_hub_offline_is_one_clear_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-cache"),
           "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "faasml", "models", "build", "--out", str(tmp_path / "m"),
         "--from-hub", "sentence-transformers/all-MiniLM-L6-v2", "--name", "hub-minilm"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("faasml models: error:")]
    assert len(error) == 1
    assert "cannot load 'sentence-transformers/all-MiniLM-L6-v2' from the Hugging Face hub" in error[0]
    assert "HF_HUB_OFFLINE" in error[0]
    assert not list((tmp_path / "m").glob("*.card.json"))


def test_from_hub_name_must_be_a_function_name(tmp_path, capsys):
    assert main(["models", "build", "--out", str(tmp_path), "--from-hub", "x/y",
                 "--name", "Bad_Name"]) == 2
    assert "must be a function name" in capsys.readouterr().err


def test_bench_int8_pairs_fp32_with_int8_of_the_same_family(tmp_path, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    ranked_classifier(folder, "a-fp32", family="a")
    ranked_classifier(folder, "a-int8", family="a", precision="int8")
    ranked_classifier(folder, "b-fp32", family="b")  # no int8 partner
    from faasml.bench.int8 import int8_pairs

    assert int8_pairs(folder) == [("a-fp32", "a-int8")]
    assert main(["bench", "int8", "--models", str(folder), "--iterations", "3"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("a-fp32")]
    assert len(rows) == 1 and rows[0][1] == "a-int8"
    assert rows[0][4].endswith("x") and float(rows[0][4][:-1]) > 0
    assert main(["bench", "int8", "--models", str(tmp_path / "empty")]) == 2


def test_eval_compares_int8_with_fp32_on_the_same_images(tmp_path, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    ranked_classifier(folder, "x-fp32", family="x")
    # the "int8" ranks red's classes differently: 12 first, then 0
    swapped = {0: [12, 0, 10, 11, 13], 1: [1, 20, 21, 22, 23], 2: [2, 30, 31, 32, 33]}
    ranked_classifier(folder, "x-int8", family="x", precision="int8", ranking=swapped)
    record = tmp_path / "measured.json"
    assert main(["models", "eval", "--data", str(make_folder(tmp_path / "data")),
                 "--models", str(folder), "--record", "--record-file", str(record)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("x-int8") and "x-fp32" in line)
    # red images: case 0 only fp32 right, case 1 only int8 right, case 2 both wrong but
    # with different top-1; green/blue cases identical -> 3 of 6 the same
    assert row.split()[1:] == ["x-fp32", "0.5000", "1", "1", "6"]
    measured = json.loads(record.read_text())["variants"]
    assert measured["x-int8"]["paired_with_fp32"] == {
        "fp32": "x-fp32", "n": 6, "top1_agreement": 0.5, "only_reference_correct": 1,
        "only_candidate_correct": 1}
    assert "paired_with_fp32" not in measured["x-fp32"]


def test_eval_compares_resize_backends_on_the_same_images(tmp_path, capsys):
    folder = _models(tmp_path)
    data = make_folder(tmp_path / "data")
    assert main(["models", "eval", "--data", str(data), "--models", str(folder), "--only", "ranked-a",
                 "--resize-backend", "pillow", "opencv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split("]")[0] + "]": line.split("]")[1].split() for line in lines if line.startswith("ranked-a [")}
    assert set(rows) == {"ranked-a [pillow]", "ranked-a [opencv]"}
    assert rows["ranked-a [pillow]"][0] == rows["ranked-a [opencv]"][0] == f"{EXPECTED_TOP1:.4f}"
    paired = next(line.split() for line in lines if line.startswith("ranked-a ") and "pillow" in line
                  and "opencv" in line)
    assert paired == ["ranked-a", "pillow", "opencv", "0", "0", "0", "6"]  # flat colours: same top-1
    assert main(["models", "eval", "--data", str(data), "--models", str(folder),
                 "--resize-backend", "pillow", "--record"]) == 2
    assert "drop --resize-backend" in capsys.readouterr().err
