"""The dashboard's and `faasml status`'s view of FunctionStatus lists (no browser)."""
from __future__ import annotations

from faasml.runtime.dashboard.overview import RateTracker, summarize_function, summarize_nodes


def status(name, replicas, role="executor", unschedulable=""):
    return {"name": name, "namespace": "openfaas-fn", "replicas": len(replicas),
            "availableReplicas": sum(state == "ready" for _, state, _ in replicas), "invocationCount": 7,
            "labels": {"faasml.io/role": role},
            "annotations": {"faasml.io/task": "t", "faasml.io/accuracy": "0.8"},
            "faasml": {"nodes": ["edge", "cloud"], "cpus": {"edge": 1, "cloud": 3}, "rttMs": {"edge": 0, "cloud": 20},
                       "unschedulable": unschedulable,
                       "replicaStates": [{"node": node, "state": state, "inFlight": flight}
                                         for node, state, flight in replicas]}}


def test_replicas_and_load_per_node():
    statuses = [status("a", [("edge", "ready", 2), ("cloud", "ready", 1), ("cloud", "starting", 0)]),
                status("b", [], unschedulable="no node matches")]
    a, b = (summarize_function(s) for s in statuses)
    assert a["per_node"] == {"edge": {"replicas": 1, "ready": 1, "in_flight": 2},
                             "cloud": {"replicas": 2, "ready": 1, "in_flight": 1}}
    assert a["in_flight"] == 3 and a["accuracy"] == 0.8 and a["available_replicas"] == 2
    assert b["per_node"] == {} and b["unschedulable"] == "no node matches"
    nodes = {n["name"]: n for n in summarize_nodes(statuses)}
    assert nodes["cloud"]["cpus"] == 3 and nodes["cloud"]["rtt_ms"] == 20
    assert (nodes["cloud"]["replicas"], nodes["cloud"]["in_flight"], nodes["cloud"]["functions"]) == (2, 1, ["a"])


def test_rates_over_a_window():
    rates = RateTracker(window_s=5)
    assert rates.observe(100.0, {"a": 10}) == {"a": None}        # one look: no rate yet
    assert rates.observe(102.0, {"a": 20, "b": 4}) == {"a": 5.0, "b": 2.0}
    rates.observe(106.0, {"a": 30, "b": 4})
    assert rates.observe(110.0, {"a": 30, "b": 4})["a"] == 1.25  # the 100 s sample aged out
