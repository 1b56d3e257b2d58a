"""The report's reading of one cell against the selection targets."""
from __future__ import annotations

from faasml.evaluation.report import targets


def _verdict(difference: float, low: float, high: float, verdict: str) -> dict:
    c = {"difference": difference, "ci95": [low, high], "verdict": verdict, "pairs": 5, "requests": 100}
    return {"correct_in_time": c, "first_class_in_time": c, "utility": c}


LEVEL = {
    "load": 1.0, "rate_per_s": 10.0, "trace": {"requests": 100}, "rounds": 5,
    "comparisons": {"random": _verdict(0.05, 0.01, 0.09, "win"), "fastest": _verdict(0.0, -0.02, 0.02, "tie"),
                    "most-accurate": _verdict(-0.04, -0.07, -0.01, "loss")},
    "policies": {"tradeoff": {"vs_bound": {"correct_in_time": 0.85},
                              "classes": {"latency-critical": {"deadline_attainment": 0.97},
                                          "balanced": {"deadline_attainment": 0.5}},
                              "prediction": {"answered": 90, "actual_over_predicted_p50": 1.1,
                                             "actual_over_predicted_p90": 1.7}}},
}


def test_a_cell_against_the_targets():
    t = targets(LEVEL, "tradeoff")
    assert t["losses"] == ["most-accurate"] and t["wins"] == ["random"] and t["against"] == 3
    assert t["of_bound"] == 0.85 and t["first_class_in_deadline"] == 0.97
    assert t["prediction"]["actual_over_predicted_p90"] == 1.7


def test_the_simulators_prediction_figures_are_read_where_it_keeps_them():
    level = {**LEVEL, "policies": {"tradeoff": {"sim": {"prediction": {"actual_over_predicted_p50": 0.9}}}}}
    t = targets(level, "tradeoff")
    assert t["prediction"]["actual_over_predicted_p50"] == 0.9 and t["of_bound"] is None
