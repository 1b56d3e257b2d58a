"""The fast part of `make chaos`: a whole variant killed twice, then hung, then the two
variants `tradeoff=1` favours hung together, under load, on sleepy test executors (no
models), through a real `faasml up` on loopback.

The full run (the reference models, every experiment, 20 s each) is `make chaos`; its
figures are in docs/reliability.md.
"""
from __future__ import annotations

from pathlib import Path

from faasml.bench.chaos import ChaosSettings, run_chaos

REPO = Path(__file__).resolve().parents[2]


def test_kills_and_a_hang_under_load_leave_no_request_unanswered_and_the_hang_costs_under_a_second():
    settings = ChaosSettings(duration_s=6.0, rate=15.0, hang_s=3.0, hang_two_rate=15.0, models=False,
                             experiments=("kill-variant", "hang", "hang-two"))
    killed, hung, hung_without_bounds, both_hung = run_chaos(settings, REPO, REPO / "models")
    assert killed.sent == 90 and hung.sent == hung_without_bounds.sent == 45
    for result in (killed, hung, hung_without_bounds):
        assert result.unanswered == 0, result
        assert result.other_answers == 0, result.statuses   # every error is explicit JSON
    # The runtime restarted what died, and the registry showed it gone meanwhile.
    assert killed.registry["echo-best"]["restarts"] >= 2
    assert killed.registry["echo-best"]["min_available_replicas"] == 0
    assert killed.success_pct >= 95.0, killed.statuses
    # The hung variant's requests moved on within their stall bound.
    assert hung.success_pct >= 95.0, hung.statuses
    assert hung.p99_ms is not None and hung.p99_ms < 1000.0, hung
    # Side by side, without stall bounds, some request waited out the hang.
    assert hung_without_bounds.max_ms > 2000.0, hung_without_bounds
    assert all(peak > 0 for peak in hung.peak_rss_mib.values()) and "selector" in hung.peak_rss_mib
    # Both variants tradeoff=1 favours hung at once: requests moved on past both.
    assert both_hung.sent == 90 and both_hung.unanswered == 0 and both_hung.other_answers == 0, both_hung
    assert sorted(both_hung.registry) == ["echo-best", "echo-mid"]
    assert both_hung.success_pct >= 95.0, both_hung.statuses
    assert both_hung.p99_all_ms is not None and both_hung.p99_all_ms < 1000.0, both_hung
    assert both_hung.notes[-2].endswith(": met"), both_hung.notes
