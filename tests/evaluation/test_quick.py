"""The --quick preset end to end on the real reference stack (a reduced budget): the
report's structure and internal consistency, not which policy wins."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from faasml.evaluation.defaults import DEFAULT_DATA

REPO = Path(__file__).resolve().parents[2]
POLICIES = ["tradeoff", "weighted-bucket", "random"]
LOADS = [0.5, 1.5]
ROUNDS = 2


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, reference_models):
    if not DEFAULT_DATA.is_dir():
        pytest.skip(f"labelled ImageNet sample not found at {DEFAULT_DATA.resolve()} "
                    "(the evaluation needs labelled photos to judge answers)")
    out = tmp_path_factory.mktemp("evaluation")
    command = [sys.executable, "-m", "faasml", "bench", "evaluate", "--quick", "--out", str(out),
               "--duration", "4", "--capacity-seconds", "3", "--loads", ",".join(map(str, LOADS)),
               "--idle-requests", "4", "--images", "60", "--drain", "1", "--repeats", str(ROUNDS)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, json.loads((out / "report.json").read_text()), done.stdout + done.stderr


@pytest.mark.slow
def test_structure(quick_report):
    out, report, output = quick_report
    assert "estimated" in output and f"[{6 * ROUNDS}/{6 * ROUNDS}]" in output  # progress lines while it ran
    assert report["settings"]["quick"] is True
    assert [s["name"] for s in report["scenarios"]] == ["mix"]
    mix = report["scenarios"][0]
    assert mix["capacity"]["throughput_per_s"] > 0
    assert [lv["load"] for lv in mix["loads"]] == LOADS
    for level in mix["loads"]:
        assert list(level["policies"]) == POLICIES
        assert level["rate_per_s"] == pytest.approx(level["load"] * mix["capacity"]["throughput_per_s"], rel=1e-3)
    assert (out / "report.md").is_file()
    markdown = (out / "report.md").read_text()
    for plot in report["plots"]["mix"]:
        data = (out / plot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert f"]({plot})" in markdown
    assert {"load-mix.png", "diff-mix.png", "ecdf-mix-050.png", "cpu-mix-150.png"} <= set(report["plots"]["mix"])
    assert "Ours (`tradeoff`) against each policy" in markdown and "The bound's model" in markdown
    # The idle phase's compute times are the selector's profiles, in the platform's own file
    assert mix["profiles"].startswith("measured here: ") and "The selector's latency profiles" in markdown
    written = json.loads((out / "state" / "mix" / "profiles.json").read_text())["variants"]
    for name, figures in mix["idle"].items():
        assert written[name]["compute_ms"] == pytest.approx(figures["service_p50_ms"], abs=1e-3)


@pytest.mark.slow
def test_every_policy_replays_the_same_trace(quick_report):
    out, report, _ = quick_report
    for level in report["scenarios"][0]["loads"]:
        assert level["rounds"] == ROUNDS and len(level["runs"]) == ROUNDS
        for run in level["runs"]:
            assert list(run) == POLICIES
            fingerprints = {p: m["replayed_fingerprint"] for p, m in run.items()}
            assert set(fingerprints.values()) == {level["trace"]["fingerprint"]}, fingerprints
        for policy, m in level["policies"].items():
            assert len(m["records_files"]) == ROUNDS == len(set(m["records_files"]))
            for name in m["records_files"]:
                with gzip.open(out / name, "rt") as handle:
                    rows = [json.loads(line) for line in handle]
                assert [r["seq"] for r in rows] == list(range(level["trace"]["requests"]))
                assert {r["answered_policy"] for r in rows if r["status"] == 200} <= {policy}


@pytest.mark.slow
def test_counts_add_up_and_rates_are_rates(quick_report):
    _, report, _ = quick_report
    mix = report["scenarios"][0]
    accuracies = [v["accuracy"] for v in mix["topology"]["variants"].values()
                  if v["task"] == "image-classification"]
    for level in mix["loads"]:
        runs = [run[p] for run in level["runs"] for p in POLICIES]
        pooled = list(level["policies"].values())
        for m in runs + pooled:
            rounds = ROUNDS if "records_files" in m else 1
            n = level["trace"]["requests"] * rounds
            label = m.get("records_file") or m["records_files"]
            assert m["requests"] == n and sum(m["status"].values()) == n
            assert {c: v["requests"] for c, v in m["classes"].items()} == \
                {c: k * rounds for c, k in level["trace"]["classes"].items()}
            for key in ("correct_in_time_rate", "in_time_rate", "correct_rate", "effective_accuracy",
                        "mean_utility"):
                assert 0.0 <= m[key] <= 1.0, (label, key, m[key])
            assert m["correct_in_time_rate"] <= min(m["in_time_rate"], m["correct_rate"]) + 1e-9
            assert m["effective_accuracy"] <= m["in_time_rate"] * max(accuracies) + 1e-9
            # both figures are rounded in the report (rate to 4 digits, goodput to 3): the
            # rate's rounding grows with the requests per second (0.01 at 200/s)
            rounding = 0.5e-4 * n / m["duration_s"] + 0.5e-3 + 1e-9
            assert m["goodput_per_s"] == pytest.approx(m["correct_in_time_rate"] * n / m["duration_s"],
                                                       abs=rounding)
            for c in m["classes"].values():
                assert 0.0 <= c["deadline_attainment"] <= 1.0
            if m["status"]["200"]:
                assert sum(m["variant_share"].values()) == pytest.approx(1.0, abs=1e-3)
            latency = m["latency_ms"]
            if m["status"]["200"]:
                assert latency["p50"] <= latency["p95"] <= latency["p99"]


@pytest.mark.slow
def test_the_bound_holds_every_run(quick_report):
    """Built from this run's own measurements so that no recorded run can beat it: each
    round of each policy, on the bound's own unit, is at or below it."""
    _, report, _ = quick_report
    mix = report["scenarios"][0]
    model = mix["bound_model"]
    assert model["machine_cpus"] >= 1
    assert model["correctness"]["runs_right_where_table_wrong"] >= 0
    for level in mix["loads"]:
        bound = level["bound"]
        assert bound["overhead"]["ms_per_request"] > 0
        for which in ("correct_in_time", "effective_accuracy", "in_time"):
            assert bound[which]["status"] in ("optimal", "stalled"), bound[which]
        for run in level["runs"]:
            for policy, m in run.items():
                assert m["correct_in_time_rate"] <= bound["correct_in_time"]["rate"] + 1e-3, policy
                assert m["in_time_rate"] <= bound["in_time"]["rate"] + 1e-3, policy
        for policy, m in level["policies"].items():
            assert m["vs_bound"]["correct_in_time"] == pytest.approx(
                m["correct_in_time_rate"] / bound["correct_in_time"]["rate"], abs=1e-3)
        comparisons = level["comparisons"]
        assert set(comparisons) == {"weighted-bucket", "random"}
        for c in comparisons.values():
            for metric in c.values():
                low, high = metric["ci95"]
                assert metric["pairs"] == ROUNDS and low <= metric["difference"] <= high
                assert metric["verdict"] == ("win" if low > 0 else "loss" if high < 0 else "tie")


@pytest.mark.slow
def test_a_given_capacity_is_not_measured(tmp_path, reference_models):
    """`--capacity` sets 100% load: two settings' runs then offer the same request rates."""
    if not DEFAULT_DATA.is_dir():
        pytest.skip(f"labelled ImageNet sample not found at {DEFAULT_DATA.resolve()}")
    command = [sys.executable, "-m", "faasml", "bench", "evaluate", "--quick", "--out", str(tmp_path),
               "--capacity", "8", "--loads", "0.5", "--policies", "random", "--duration", "2",
               "--idle-requests", "2", "--images", "20", "--drain", "0.5", "--shipped-profiles"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr   # (progress lines go to stderr)
    assert "measuring capacity" not in output and "capacity given as 8 answers/s" in output
    mix = json.loads((tmp_path / "report.json").read_text())["scenarios"][0]
    assert mix["capacity"] == {"given": True, "throughput_per_s": 8.0}
    assert mix["loads"][0]["rate_per_s"] == pytest.approx(4.0)
    assert "given with `--capacity`, not measured" in (tmp_path / "report.md").read_text()
    # --shipped-profiles: the selector read the repository's profiles, untouched
    assert mix["profiles"] == "as deployed"
    shipped = (REPO / "functions/selector/profiles.json").read_text()
    assert (tmp_path / "state" / "mix" / "profiles.json").read_text() == shipped
