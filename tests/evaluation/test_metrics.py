"""Metrics on hand-built records, checked against figures worked out by hand."""
from __future__ import annotations

import dataclasses

import pytest

from faasml.evaluation.loadgen import TIMEOUT, Record
from faasml.evaluation.metrics import prediction, summarise, utility


def rec(seq, cls, outcome, latency, deadline, tradeoff, variant=None, accuracy=None, correct=False):
    status = int(outcome) if outcome.isdigit() else 0
    return Record(seq=seq, cls=cls, policy="p", t_s=seq * 0.1, lateness_ms=seq * 1.0, outcome=outcome,
                  status=status, latency_ms=latency, deadline_ms=deadline, tradeoff=tradeoff, variant=variant,
                  accuracy=accuracy, compute_ms=None, correct=correct and status == 200,
                  in_time=status == 200 and latency <= deadline)


RECORDS = [
    rec(0, "fast", "200", 20, 50, 0.0, "small", 0.7, correct=True),    # correct in time
    rec(1, "fast", "200", 80, 50, 0.0, "small", 0.7, correct=True),    # right but late
    rec(2, "slow", "200", 500, 1000, 1.0, "big", 0.9, correct=False),  # in time, wrong label
    rec(3, "slow", "200", 100, 1000, 0.5, "big", 0.9, correct=True),   # correct in time
    rec(4, "fast", "429", 2, 50, 0.0),
    rec(5, "slow", TIMEOUT, 5000, 1000, 1.0),
    rec(6, "slow", "418", 3, 1000, 1.0),                               # "other"
    rec(7, "fast", "422", 2, 50, 0.0),
]


def test_utility_by_hand():
    assert utility(RECORDS[0]) == pytest.approx(1 - 20 / 50)          # w=0: share of deadline left
    assert utility(RECORDS[1]) == 0.0                                  # late: worth nothing
    assert utility(RECORDS[2]) == pytest.approx(0.9)                   # w=1: the accuracy
    assert utility(RECORDS[3]) == pytest.approx(0.5 * 0.9 + 0.5 * 0.9)  # 1 - 100/1000 = 0.9
    assert utility(RECORDS[4]) == 0.0


def test_summary_by_hand():
    m = summarise(RECORDS, duration_s=2.0, classes=["fast", "slow"],
                  variant_nodes={"small": "edge", "big": "cloud"}, node_cpus={"edge": 1, "cloud": 2},
                  service_ms={"small": 100.0, "big": 400.0},
                  cpu_samples=[(0.5, {"edge": 0.5, "cloud": 1.0, "others": 0.2, "steal": 0.1}),
                               (1.0, {"edge": 0.7, "cloud": 0.6, "others": 0.4, "steal": 0.0})])
    assert m["requests"] == 8
    assert m["correct_in_time_rate"] == pytest.approx(2 / 8)
    assert m["in_time_rate"] == pytest.approx(3 / 8)
    assert m["correct_rate"] == pytest.approx(3 / 8)
    assert m["effective_accuracy"] == pytest.approx((0.7 + 0.9 + 0.9) / 8)
    assert m["mean_utility"] == pytest.approx((0.6 + 0.9 + 0.9) / 8)
    assert m["goodput_per_s"] == pytest.approx(2 / 2.0)
    assert m["status"] == {"200": 4, "422": 1, "429": 1, "503": 0, "504": 0, "other": 1,
                           "client-timeout": 1, "connection-error": 0}
    assert sum(m["status"].values()) == m["requests"]
    fast, slow = m["classes"]["fast"], m["classes"]["slow"]
    assert (fast["requests"], slow["requests"]) == (4, 4)
    assert fast["deadline_attainment"] == pytest.approx(1 / 4)
    assert slow["deadline_attainment"] == pytest.approx(2 / 4)
    assert slow["correct_in_time_rate"] == pytest.approx(1 / 4)
    assert fast["latency_ms"]["p50"] == pytest.approx(50.0)  # of the 200 answers: 20 and 80
    assert m["variant_share"] == {"small": 0.5, "big": 0.5}
    # work: 2 answers x 100 ms on edge's 1 CPU over 2 s; 2 x 400 ms on cloud's 2 CPUs
    assert m["nodes"]["edge"]["work_utilisation"] == pytest.approx(0.2 / 2.0)
    assert m["nodes"]["cloud"]["work_utilisation"] == pytest.approx(0.8 / 4.0)
    assert m["nodes"]["edge"]["cpu_utilisation"] == pytest.approx(0.6)
    assert m["nodes"]["cloud"]["cpu_utilisation"] == pytest.approx(0.4)
    assert m["others_cpu_cores"] == pytest.approx(0.3)
    assert m["steal_cpu_cores"] == pytest.approx(0.05)
    assert m["generator_lateness_ms"]["max"] == pytest.approx(7.0)
    assert m["latency_ms"]["p99"] <= 500


def test_empty_class_is_not_a_crash():
    m = summarise(RECORDS[:1], 1.0, ["fast", "absent"], {}, {})
    assert m["classes"]["absent"]["requests"] == 0
    assert m["correct_in_time_rate"] == 1.0


def test_prediction_calibration_by_hand():
    # actual is counted from when the request was sent (latency - lateness): 20-0, 80-1,
    # 500-2, 100-3 ms against predictions of 10, 79, 249, 97 ms: ratios 2, 1, 2, 1; a 429
    # (not an answer) and an answer with no prediction (one that did not pass the selector) do not count.
    records = [dataclasses.replace(r, predicted_ms=p) for r, p in zip(RECORDS, (10, 79, 249, 97, 5, None, None, None))]
    records.append(dataclasses.replace(RECORDS[0], seq=8, predicted_ms=None))
    answered = [r for r in records if r.status == 200]
    assert prediction(answered) == {"answered": 4, "actual_over_predicted_p50": pytest.approx(1.5),
                                    "actual_over_predicted_p90": pytest.approx(2.0)}
    assert prediction([r for r in RECORDS if r.status == 200])["actual_over_predicted_p50"] is None
