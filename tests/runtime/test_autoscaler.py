"""Autoscaling by OpenFaaS's labels: the policy read from labels, and a real `faasml up`
scaling one function up under load, down after it, to zero when idle, and back from zero
on the next request, without losing a request on the way."""
from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from faasml.runtime.autoscaler import ScalePolicy, policy_from_labels
from tests.runtime.conftest import function

P = "com.openfaas.scale."


def test_only_functions_with_scaling_labels_are_autoscaled_and_max_is_bounded_by_cpus():
    assert policy_from_labels({P + "min": "2"}, cpu_bound=8) == (None, [])
    policy, problems = policy_from_labels({P + "max": "10"}, cpu_bound=4)
    assert problems == [] and policy == ScalePolicy(min=1, max=4)  # OpenFaaS's defaults, 4 CPUs
    policy, _ = policy_from_labels({P + "type": "capacity", P + "target": "5", P + "target-proportion": "0.5",
                                    P + "zero": "true", P + "zero-duration": "2m", P + "min": "3"}, cpu_bound=2)
    assert (policy.type, policy.per_replica, policy.zero, policy.zero_duration_s) == ("capacity", 2.5, True, 120)
    assert policy.max == 3  # never below min
    policy, problems = policy_from_labels({P + "type": "memory", P + "target": "-1"}, cpu_bound=2)
    assert (policy.type, policy.target) == ("rps", 50.0) and len(problems) == 2


def test_desired_replicas_follow_load_over_target_times_proportion():
    policy = ScalePolicy(min=1, max=5, target=10, proportion=0.5)  # 5 per replica
    assert [policy.desired(load) for load in (0, 5, 5.1, 12, 100)] == [1, 1, 2, 3, 5]


SCALING = {P + "min": "1", P + "max": "2", P + "type": "capacity", P + "target": "1",
           P + "target-proportion": "1", P + "zero": "true", P + "zero-duration": "3s"}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="scaling to 2 replicas needs 2 CPUs")
def test_load_scales_up_then_down_then_to_zero_and_back_losing_nothing(start_runtime):
    runtime = start_runtime({"busy": function("toy", "faasml/busy:dev", labels=SCALING)},
                            env={"FAASML_AUTOSCALE_INTERVAL_S": "0.2", "FAASML_AUTOSCALE_WINDOW_S": "1",
                                 "FAASML_AUTOSCALE_DOWN_DELAY_S": "1"})
    runtime.wait_available("busy", 1)
    statuses: list[int] = []
    stop = threading.Event()

    def client():
        with requests.Session() as http:
            while not stop.is_set():
                statuses.append(http.post(runtime.url + "/function/busy/sleep?s=0.2", timeout=30).status_code)

    clients = [threading.Thread(target=client) for _ in range(4)]
    started = time.monotonic()
    for thread in clients:
        thread.start()
    try:  # 4 in flight against a target of 1 per replica: up to max (2) within the window
        runtime.wait_until(lambda: runtime.status("busy")["availableReplicas"] == 2, timeout_s=15)
        scaled_up_s = time.monotonic() - started
        time.sleep(1.0)  # load keeps flowing over both replicas
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert scaled_up_s < 1 + 5, f"scaled up after {scaled_up_s:.1f}s"
    runtime.wait_until(lambda: runtime.status("busy")["replicas"] == 1, timeout_s=15)  # idle: down
    runtime.wait_until(lambda: runtime.status("busy")["replicas"] == 0, timeout_s=15)  # then to zero
    runtime.wait_until(lambda: runtime.status("busy")["faasml"]["replicaStates"] == [], timeout_s=15)
    woken = runtime.invoke("busy")  # from zero: waits for the replica instead of failing
    assert woken.status_code == 200, woken.text
    assert runtime.status("busy")["replicas"] == 1
    assert statuses and set(statuses) == {200}, f"{len(statuses)} requests: {sorted(set(statuses))}"
    log = runtime.log_text()
    assert "autoscaler: 1 -> 2 replica(s) (up)" in log and "autoscaler: 1 -> 0 replica(s) (to_zero)" in log
    metrics = runtime.http.get(runtime.url + "/metrics").text
    for direction in ("up", "down", "to_zero", "from_zero"):
        assert f'faasml_autoscaler_scale_events_total{{function_name="busy.openfaas-fn",direction="{direction}"}}' \
            in metrics
