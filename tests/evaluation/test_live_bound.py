"""The live platform as a bound: measured figures in, a System out; per-input correctness."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from faasml.evaluation.bound import exact_bound
from faasml.evaluation.inputs import image_inputs
from faasml.evaluation.live_bound import (MACHINE, correctness_table, for_cell, live_bounds, live_system,
                                          observed_correct, run_figures, variant_cards)
from faasml.evaluation.loadgen import Record
from faasml.evaluation.scenario import load_scenario
from faasml.evaluation.trace import poisson_trace

from .test_quick import REPO


def record(seq, variant, latency, correct=True, status=200, index=0):
    return Record(seq=seq, cls="balanced", policy="p", t_s=seq * 0.01, lateness_ms=0.0, outcome=str(status),
                  status=status, latency_ms=latency, deadline_ms=200.0, tradeoff=0.5, variant=variant,
                  accuracy=0.8, correct=correct, in_time=status == 200 and latency <= 200.0, input_index=index)


VARIANTS = {"fast": SimpleNamespace(node="edge"), "slow": SimpleNamespace(node="cloud")}
REPLICAS = [SimpleNamespace(function="fast", node="edge"), SimpleNamespace(function="slow", node="cloud"),
            SimpleNamespace(function="selector", node="control")]
IDLE = {"fast": {"requests": 6, "failures": 0, "cpu_ms_per_request": 10.0, "quiet_latency_ms": 14.0,
                 "latency_p10_ms": 15.0, "service_p10_ms": 9.0},
        "slow": {"requests": 6, "failures": 0, "cpu_ms_per_request": math.nan, "quiet_latency_ms": 40.0,
                 "latency_p10_ms": 41.0, "service_p10_ms": 35.0}}


def test_least_figures_and_overhead_on_the_whole_machine():
    records = [record(i, "fast", 12.0 + i) for i in range(30)] + [record(30 + i, "slow", 60.0) for i in range(5)]
    totals = {"fast": 0.27, "slow": 0.5, "selector": 0.35, "gateway": 0.3, "harness": 0.05, "machine": 2.0}
    run = run_figures("r1", records, totals, ["fast", "slow"])
    assert run["answers"] == {"fast": 30, "slow": 5} and run["least_latency_ms"]["fast"] == 12.0
    assert run["overhead_cpu_s"] == pytest.approx(0.7)       # selector + gateway + harness, not executors
    system, figures = live_system(VARIANTS, REPLICAS, {"edge": 1, "cloud": 1, "control": 2}, IDLE, [run], cpus=2)
    pools = {p.name: p for p in system.pools}
    assert set(pools) == {"edge", "cloud", MACHINE} and pools["edge"].inside == (MACHINE,)
    assert pools[MACHINE].cpus == 2 and system.offered_ms == {MACHINE: pytest.approx(700 / 35)}
    work = {p.model: p.work_ms for p in system.placements}
    assert work["fast"] == pytest.approx(9.0)       # 0.27 s over 30 answers beats the idle 10 ms
    assert work["slow"] == pytest.approx(35.0)      # no CPU reading and too few answers: compute p10
    least = {p.model: p.least_latency_ms for p in system.placements}
    assert least == {"fast": 12.0, "slow": 40.0}     # a run's fastest answer beats the idle figures
    assert figures["variants"]["fast"]["work_from"].startswith("CPU per answer")


def test_a_cell_gets_its_own_least_overhead_and_other_work():
    totals = {"fast": 0.1, "gateway": 0.2, "selector": 0.2}
    samples = [(0.5, {"edge": 0.5, "others": 0.8}), (1.0, {"others": 0.6}), (1.5, {"others": 1.1})]
    quiet = [(0.5, {"others": 0.0})]
    busy = [run_figures("a", [record(i, "fast", 12.0) for i in range(40)], totals, ["fast"], samples, 9.0),
            run_figures("b", [record(i, "fast", 12.0) for i in range(80)], totals, ["fast"], samples, 8.5)]
    system, _ = live_system(VARIANTS, REPLICAS, {"edge": 1, "cloud": 1}, IDLE, busy, cpus=2)
    cell, figures = for_cell(system, busy)
    assert cell.offered_ms == {MACHINE: pytest.approx(400 / 80)}          # the least of 10 and 5 ms
    (reserved,) = cell.reserved
    assert (reserved.pool, reserved.cpus, reserved.end_s, reserved.slack_s) == (MACHINE, 0.6, 8.5, 1.0)
    assert figures["others_cores_reserved"] == 0.6
    # the cell's own runs say what an answer cost there: 0.1 s over 80 answers
    assert {p.model: p.work_ms for p in cell.placements} == {"fast": pytest.approx(1.25), "slow": 35.0}
    assert figures["work_ms"]["fast"] == 1.25
    calm, _ = for_cell(system, busy + [run_figures("c", [], {}, ["fast"], quiet, 9.0)])
    assert calm.reserved == ()     # one run saw the machine to itself: nothing is reserved


def test_a_variant_that_never_answered_is_left_out():
    idle = dict(IDLE, slow={"requests": 6, "failures": 6})
    system, _ = live_system(VARIANTS, REPLICAS, {"edge": 1, "cloud": 1}, idle, [], cpus=2)
    assert [p.model for p in system.placements] == ["fast"]
    assert system.offered_ms == {MACHINE: 0.0}      # no CPU readings: no overhead charged


def test_seen_right_answers_join_the_table():
    runs = [[record(0, "fast", 10, True, index=3), record(1, "slow", 10, False, index=4)]]
    seen = observed_correct(runs, 6, ["fast", "slow"])
    assert seen["fast"].tolist() == [False, False, False, True, False, False] and not seen["slow"].any()


def test_live_bounds_on_a_trace():
    scenario = load_scenario(REPO / "scenarios" / "mix.yml")
    trace = poisson_trace(scenario, 80.0, 4.0, 10, "seed")
    system, _ = live_system(VARIANTS, REPLICAS, {"edge": 1, "cloud": 1}, IDLE, [], cpus=2)
    # `slow` is right on every input but its one CPU serves 1 / 35 ms = 29/s; `fast` (10 ms
    # of work) is right on half of them: all can be in time, not all right
    correct = {"fast": np.arange(10) % 2 == 0, "slow": np.ones(10, dtype=bool)}
    bounds = live_bounds(scenario, trace, system, {"fast": 0.7, "slow": 0.8}, correct)
    assert bounds["in_time"].rate > 0.97
    assert 0.6 < bounds["correct_in_time"].rate < 0.96   # slow cannot take every wrong-for-fast one
    assert 0.7 < bounds["effective_accuracy"].rate < 0.8
    reference = exact_bound(system, _trace(scenario, trace, correct))
    assert bounds["correct_in_time"].bound == pytest.approx(reference.bound, rel=1e-6)
    text = live_bounds(scenario, trace, system, {"fast": 0.7, "slow": 0.8}, None)
    assert text["correct_in_time"] is text["in_time"]


def _trace(scenario, arrivals, correct):
    """The same trace written out by hand: one pattern per request."""
    from faasml.evaluation.bound import Trace

    classes = scenario.class_names
    values = [[float(correct["fast"][a.input_index]), float(correct["slow"][a.input_index])] for a in arrivals]
    return Trace([a.t_s for a in arrivals], [classes.index(a.cls) for a in arrivals],
                 [scenario.by_name(c).deadline_ms for c in classes], list(range(len(arrivals))), values,
                 ["fast", "slow"])


@pytest.mark.slow
def test_correctness_is_the_executors_top1_and_is_cached(tmp_path, reference_models):
    from faasml.evaluation.defaults import DEFAULT_DATA

    if not DEFAULT_DATA.is_dir():
        pytest.skip(f"labelled ImageNet sample not found at {DEFAULT_DATA.resolve()}")
    inputs = image_inputs(DEFAULT_DATA, 12)
    cards = variant_cards(REPO / "stack.yml", ["efficientnet-lite0-int8", "efficientnet-lite2-fp32", "selector"])
    assert set(cards) == {"efficientnet-lite0-int8", "efficientnet-lite2-fp32"}   # the selector has no model
    table = correctness_table(cards, inputs, tmp_path)
    assert {len(v) for v in table.values()} == {12}
    from faasml.executor.variant import load_variant

    variant = load_variant(cards["efficientnet-lite0-int8"][0], "cpu", 1)
    expected = [variant.classify(item.body, 1)[0]["index"] == item.label for item in inputs]
    assert table["efficientnet-lite0-int8"].tolist() == expected
    assert len(list(tmp_path.glob("correct-*.json"))) == 2
    again = correctness_table(cards, inputs, tmp_path)      # from the cache, the same
    assert all((again[k] == table[k]).all() for k in table)
