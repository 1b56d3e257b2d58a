"""CPU sampling from /proc and the command line's presets."""
from __future__ import annotations

import os
import time

import pytest

from faasml.cli import build_parser
from faasml.evaluation.commands import settings_from
from faasml.evaluation.cpu import CpuSampler, Tracked, cpu_seconds


def test_cpu_of_a_busy_process_is_seen():
    sampler = CpuSampler([Tracked(os.getpid(), "me", "node-a")], interval_s=0.1).start()
    # Burn 0.6 s of CPU, however long a busy machine takes to give it.
    cpu_start, give_up = time.process_time(), time.monotonic() + 30
    while time.process_time() - cpu_start < 0.6 and time.monotonic() < give_up:
        pass
    totals = sampler.stop()
    assert totals["me"] > 0.3
    # The samples (CPU cores per interval) add up to what was burned, however thinly a busy
    # machine spread it.
    times = [0.0] + [t for t, _ in sampler.samples]
    seen = sum(s.get("node-a", 0) * (t - before) for (t, s), before in zip(sampler.samples, times))
    assert sampler.samples and seen > 0.3
    assert "others" in sampler.samples[-1][1]
    assert cpu_seconds(2**22 + 12345) is None  # no such process


def test_quick_preset_and_overrides():
    parser = build_parser()
    quick = settings_from(parser.parse_args(["bench", "evaluate", "--quick"]))
    assert quick.quick and quick.scenarios == ["mix"] and quick.loads == [0.5, 1.0, 1.5]
    assert len(quick.policies) == 3 and not quick.throughput
    tuned = settings_from(parser.parse_args(["bench", "evaluate", "--quick", "--duration", "3",
                                              "--loads", "25%,150%", "--policies", "tradeoff,random"]))
    assert tuned.duration_s == 3 and tuned.loads == [0.25, 1.5] and tuned.policies == ["tradeoff", "random"]
    full = settings_from(parser.parse_args(["bench", "evaluate"]))
    assert not full.quick and full.throughput and full.scenarios == [] and full.loads is None
    assert full.capacity_per_s is None   # measured
    given = settings_from(parser.parse_args(["bench", "evaluate", "--quick", "--capacity", "42.5"]))
    assert given.capacity_per_s == 42.5 and given.quick
    assert {"tradeoff", "weighted-bucket", "random", "slo-greedy"} <= set(full.policies)
    assert full.profile_here and quick.profile_here   # the idle phase profiles this machine
    assert not settings_from(parser.parse_args(["bench", "evaluate", "--shipped-profiles"])).profile_here
    assert full.repeats == 5 and quick.repeats == 3
    assert settings_from(parser.parse_args(["bench", "evaluate", "--quick", "--repeats", "7"])).repeats == 7


def test_idle_figures_become_profiles_where_compute_was_measured():
    from faasml.evaluation.runner import idle_profiles
    from faasml.selector.engine.registry import apply_profile
    from faasml.selector.engine.variant import Variant

    idle = {"fast": {"service_p50_ms": 6.91234, "latency_p50_ms": 9.6, "compute_ms_samples": [6.5, 6.912, 7.3]},
            "unmeasured": {"service_p50_ms": float("nan"), "latency_p50_ms": 40.0}}
    profiles = idle_profiles(idle)
    # the samples travel too: the simulator's --validate draws service times from them
    assert profiles == {"fast": {"compute_ms": 6.912, "latency_ms": {"p50": 9.6},
                                 "compute_ms_samples": [6.5, 6.912, 7.3]}}
    variant = Variant(name="fast", namespace="openfaas-fn", gateway="g", task="t", accuracy=0.7,
                      profile_latency_ms=38.0, rtt_ms=1.0)
    assert apply_profile(variant, profiles).profile_latency_ms == 6.912
    assert apply_profile(variant, profiles).rtt_ms == 1.0   # no overhead: the declared round trip stays


def test_bad_loads_are_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "evaluate", "--loads", "half"])
    assert "fractions" in capsys.readouterr().err


@pytest.mark.parametrize("rounds", ["0", "-1", "two", "1.5"])
def test_bad_repeats_are_refused(capsys, rounds):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "evaluate", "--repeats", rounds])
    assert "--repeats" in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["0", "-3", "fast", "inf", "nan"])
def test_bad_capacities_are_refused(capsys, rate):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "evaluate", "--capacity", rate])
    assert "--capacity" in capsys.readouterr().err


def test_full_run_estimate_is_in_the_planned_range():
    from faasml.evaluation.runner import Settings, estimate_s
    from faasml.evaluation.scenario import resolve_scenarios

    # 4 scenarios x 5 loads x 4 policies x 5 rounds of 12 s traces: about two hours
    estimate = estimate_s(Settings(), resolve_scenarios([]))
    assert 100 * 60 <= estimate <= 140 * 60
    from faasml.evaluation.runner import quick_settings

    quick = estimate_s(quick_settings(), resolve_scenarios(["mix"]))
    assert 4 * 60 < quick < 9 * 60
    # rounds multiply the replay time, nothing else
    one = estimate_s(quick_settings(repeats=1), resolve_scenarios(["mix"]))
    three = estimate_s(quick_settings(repeats=3), resolve_scenarios(["mix"]))
    assert three - one == pytest.approx(2 * 3 * 3 * (8 + 1 + 1.5 + 0.5 + 1.5))


@pytest.mark.parametrize("tty", [False, True])
def test_progress_on_a_terminal_and_in_a_log(tty):
    import io

    from faasml.evaluation.progress import Reporter

    stream = io.StringIO()
    reporter = Reporter(2, stream=stream, tty=tty)
    reporter.say("starting")
    for i in range(2):
        reporter.cell_start(f"cell {i}", 3)
        for _ in range(3):
            reporter.cell_event("sent")
            reporter.cell_event("done")
        reporter.cell_done(f"cell {i}: done")
    reporter.close()
    text = stream.getvalue()
    assert "starting" in text and "[2/2] cell 1: done" in text
    if not tty:
        assert "[1/2] cell 0: 3 requests" in text and "\r" not in text
