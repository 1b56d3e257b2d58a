"""Autoscaling by OpenFaaS's labels: the policy read from labels, and a real `faasml up`
scaling one function up under load, down after it, to zero when idle, and back from zero
on the next request, without losing a request on the way."""
from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from faasml.runtime.autoscaler import ScalePolicy, load_over_window, policy_from_labels
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


def test_the_installations_defaults_fill_in_only_what_labels_leave_out():
    policy, _ = policy_from_labels({P + "max": "2", P + "zero": "true"}, cpu_bound=2,
                                   default_target=5, default_zero_duration_s=20)
    assert (policy.target, policy.zero_duration_s) == (5, 20)
    assert policy.desired(10) == 2  # the certifier's 10 rps: 2 replicas at 5 x 0.9 each
    policy, _ = policy_from_labels({P + "max": "2", P + "target": "50", P + "zero-duration": "1m"}, cpu_bound=2,
                                   default_target=5, default_zero_duration_s=20)
    assert (policy.target, policy.zero_duration_s) == (50, 60) and policy.desired(10) == 1


def test_desired_replicas_follow_load_over_target_times_proportion():
    policy = ScalePolicy(min=1, max=5, target=10, proportion=0.5)  # 5 per replica
    assert [policy.desired(load) for load in (0, 5, 5.1, 12, 100)] == [1, 1, 2, 3, 5]


def test_load_is_a_rate_for_rps_and_an_average_for_capacity_and_cpu():
    samples = [(10.0, 100, 2, 400.0), (11.0, 130, 4, 800.0), (12.0, 160, 6, 1200.0)]
    assert load_over_window("rps", samples) == 30.0
    assert load_over_window("capacity", samples) == 4.0
    assert load_over_window("cpu", samples) == 800.0
    assert load_over_window("rps", samples[:1]) == 0.0  # one sample: no rate yet


SCALING = {P + "min": "1", P + "max": "2", P + "type": "capacity", P + "target": "1",
           P + "target-proportion": "1", P + "zero": "true", P + "zero-duration": "3s"}


def _drive_scaling(runtime, name: str, path: str, body: bytes, headers: dict[str, str]) -> None:
    """Four clients at `name` until it has 2 ready replicas and a second more; then idle
    until it is back at 1, then at 0; then one request wakes it. No request may fail."""
    runtime.wait_available(name, 1, timeout_s=60)
    statuses: list[int] = []
    stop = threading.Event()

    def client():
        with requests.Session() as http:
            while not stop.is_set():
                statuses.append(http.post(f"{runtime.url}/function/{name}{path}", data=body,
                                          headers=headers, timeout=60).status_code)

    clients = [threading.Thread(target=client) for _ in range(4)]
    started = time.monotonic()
    for thread in clients:
        thread.start()
    try:  # 4 in flight against a target of 1 per replica: up to max (2) within the window
        runtime.wait_until(lambda: runtime.status(name)["availableReplicas"] == 2, timeout_s=30)
        scaled_up_s = time.monotonic() - started
        time.sleep(1.0)  # load keeps flowing over both replicas
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    # the 1 s window plus the start of a replica (a model load for a variant)
    assert scaled_up_s < 1 + 10, f"scaled up after {scaled_up_s:.1f}s"
    runtime.wait_until(lambda: runtime.status(name)["replicas"] == 1, timeout_s=15)  # idle: down
    runtime.wait_until(lambda: runtime.status(name)["replicas"] == 0, timeout_s=15)  # then to zero
    runtime.wait_until(lambda: runtime.status(name)["faasml"]["replicaStates"] == [], timeout_s=15)
    woken = runtime.http.post(f"{runtime.url}/function/{name}{path}", data=body, headers=headers, timeout=120)
    assert woken.status_code == 200, woken.text  # from zero: it waited for the replica (and its model)
    assert runtime.status(name)["replicas"] == 1
    assert statuses and set(statuses) == {200}, f"{len(statuses)} requests: {sorted(set(statuses))}"
    log = runtime.log_text()
    assert "autoscaler: 1 -> 2 replica(s) (up)" in log and "autoscaler: 1 -> 0 replica(s) (to_zero)" in log
    metrics = runtime.http.get(runtime.url + "/metrics").text
    for direction in ("up", "down", "to_zero", "from_zero"):
        assert f'faasml_autoscaler_scale_events_total{{function_name="{name}.openfaas-fn",direction="{direction}"}}' \
            in metrics


FAST_SCALING = {"FAASML_AUTOSCALE_INTERVAL_S": "0.2", "FAASML_AUTOSCALE_WINDOW_S": "1",
                "FAASML_AUTOSCALE_DOWN_DELAY_S": "1"}
TWO_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="scaling to 2 replicas needs 2 CPUs")


@TWO_CPUS
def test_load_scales_up_then_down_then_to_zero_and_back_losing_nothing(start_runtime):
    runtime = start_runtime({"busy": function("toy", "faasml/busy:dev", labels=SCALING)}, env=FAST_SCALING)
    _drive_scaling(runtime, "busy", "/sleep?s=0.2", b"", {})


@TWO_CPUS
@pytest.mark.slow
def test_a_model_variant_scales_the_same_way_its_model_loading_included(start_runtime, reference_models):
    """The same with the reference stack's efficientnet-lite0-int8 (one request at a time
    per replica, ready only once its model is loaded), on one node with every CPU."""
    import io

    import yaml
    from PIL import Image
    from skimage import data

    repo = reference_models.parent
    entry = yaml.safe_load((repo / "stack.yml").read_text())["functions"]["efficientnet-lite0-int8"]
    entry["handler"] = str(repo / "functions" / "executors")
    entry["environment"]["FAASML_MODEL"] = str(repo / entry["environment"]["FAASML_MODEL"])
    entry["annotations"].pop("faasml.io/node-class")  # one unlabelled node here
    entry.pop("constraints", None)
    entry["labels"].update(SCALING)
    photo = io.BytesIO()
    Image.fromarray(data.chelsea()).save(photo, format="JPEG")
    runtime = start_runtime({"variant": entry}, env=FAST_SCALING)
    _drive_scaling(runtime, "variant", "", photo.getvalue(), {"Content-Type": "image/jpeg"})
