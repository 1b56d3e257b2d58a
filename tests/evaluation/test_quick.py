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
TOLERANCE = 0.02  # the oracle uses median service times; a lucky run may edge past it


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, reference_models):
    if not DEFAULT_DATA.is_dir():
        pytest.skip(f"labelled ImageNet sample not found at {DEFAULT_DATA.resolve()} "
                    "(the evaluation needs labelled photos to judge answers)")
    out = tmp_path_factory.mktemp("evaluation")
    command = [sys.executable, "-m", "faasml", "bench", "evaluate", "--quick", "--out", str(out),
               "--duration", "4", "--capacity-seconds", "3", "--loads", ",".join(map(str, LOADS)),
               "--idle-requests", "4", "--images", "60", "--drain", "1"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, json.loads((out / "report.json").read_text()), done.stdout + done.stderr


@pytest.mark.slow
def test_structure(quick_report):
    out, report, output = quick_report
    assert "estimated" in output and "[6/6]" in output  # progress lines while it ran
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
    assert {"load-mix.png", "ecdf-mix-050.png", "cpu-mix-150.png"} <= set(report["plots"]["mix"])
    # The idle phase's compute times are the selector's profiles, in the platform's own file
    assert mix["profiles"].startswith("measured here: ") and "The selector's latency profiles" in markdown
    written = json.loads((out / "state" / "mix" / "profiles.json").read_text())["variants"]
    for name, figures in mix["idle"].items():
        assert written[name]["compute_ms"] == pytest.approx(figures["service_p50_ms"], abs=1e-3)


@pytest.mark.slow
def test_every_policy_replays_the_same_trace(quick_report):
    out, report, _ = quick_report
    for level in report["scenarios"][0]["loads"]:
        fingerprints = {p: m["replayed_fingerprint"] for p, m in level["policies"].items()}
        assert set(fingerprints.values()) == {level["trace"]["fingerprint"]}, fingerprints
        for policy, m in level["policies"].items():
            with gzip.open(out / m["records_file"], "rt") as handle:
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
        for policy, m in level["policies"].items():
            n = level["trace"]["requests"]
            assert m["requests"] == n and sum(m["status"].values()) == n
            assert {c: v["requests"] for c, v in m["classes"].items()} == level["trace"]["classes"]
            for key in ("correct_in_time_rate", "in_time_rate", "correct_rate", "effective_accuracy",
                        "mean_utility"):
                assert 0.0 <= m[key] <= 1.0, (policy, key, m[key])
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
def test_oracle_bounds_every_policy(quick_report):
    _, report, _ = quick_report
    for level in report["scenarios"][0]["loads"]:
        oracle = level["oracle"]
        assert oracle["effective_accuracy"]["status"] == "optimal"
        for policy, m in level["policies"].items():
            assert m["effective_accuracy"] <= oracle["effective_accuracy"]["rate"] + TOLERANCE, policy
            assert m["in_time_rate"] <= oracle["in_time"]["rate"] + TOLERANCE, policy
            assert m["vs_oracle"]["effective_accuracy"] == pytest.approx(
                m["effective_accuracy"] / oracle["effective_accuracy"]["rate"], abs=1e-3)


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
