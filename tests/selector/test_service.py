"""The selector service end to end over real HTTP: discovery from a gateway's
/system/functions, forwarding with fallback, the request API and its errors."""
from __future__ import annotations

import collections
import json
import threading

import pytest


from .conftest import TASK, body, get, make_service, post
from .toygateway import PASSWORD, ToyGateway, executor_status


def test_discovery_reads_annotations_and_reports_bad_ones(service):
    snapshot = service.registry.snapshot
    assert sorted(snapshot.by_key) == ["embed", "middle", "precise", "quick"]
    assert snapshot.tasks == ["image-classification", "sentence-embedding"]
    assert any("broken" in problem for problem in snapshot.problems)


def test_wrong_password_discovers_nothing_and_is_not_ready(gateway):
    selector = make_service(gateway, gateway_password="nope")
    try:
        assert get(selector, "/ready").status == 503
        assert "401" in selector.registry.snapshot.problems[0]
    finally:
        selector.stop()


def test_tradeoff_extremes_choose_different_variants_and_say_so(service, gateway):
    fast = post(service, task=TASK, tradeoff=0, top_k=3)
    accurate = post(service, headers={"X-Faasml-Task": TASK, "X-Faasml-Tradeoff": "1"})
    assert fast.status == accurate.status == 200
    assert fast.headers["X-Faasml-Variant"] == body(fast)["variant"] == "quick"
    assert accurate.headers["X-Faasml-Variant"] == body(accurate)["variant"] == "precise"
    assert accurate.headers["X-Faasml-Accuracy"] == "0.8"
    assert float(accurate.headers["X-Faasml-Predicted-Latency-Ms"]) > 0
    assert fast.headers["X-Faasml-Attempts"] == "1"
    # The executor gets its own parameters and the body, not the selector's.
    assert body(fast)["query"] == "top_k=3" and body(fast)["bytes"] == 3
    assert not any(k.lower().startswith("x-faasml") for k in gateway.calls[-1][2])


def test_failure_falls_back_to_the_next_in_ranking(service, gateway):
    gateway.behaviours["precise"] = "status:503"
    response = post(service, task=TASK, tradeoff=1)
    assert response.status == 200 and response.headers["X-Faasml-Variant"] == "middle"
    assert response.headers["X-Faasml-Attempts"] == "2"
    assert service.metrics.value("faasml_selector_retries_total", task=TASK, variant="precise", reason="503") == 1
    # The failed variant cools down: the next request goes straight to the runner-up.
    assert post(service, task=TASK, tradeoff=1).headers["X-Faasml-Attempts"] == "1"


def test_dropped_connection_falls_back(service, gateway):
    gateway.behaviours["precise"] = "drop"
    response = post(service, task=TASK, tradeoff=1)
    assert response.status == 200 and response.headers["X-Faasml-Variant"] == "middle"


@pytest.mark.parametrize("status", [400, 413, 415, 422])
def test_input_errors_are_not_retried(service, gateway, status):
    gateway.behaviours["precise"] = f"status:{status}"
    response = post(service, task=TASK, tradeoff=1)
    assert response.status == status and response.headers["X-Faasml-Attempts"] == "1"
    assert [call[0] for call in gateway.calls] == ["precise"]


def test_deadline_bounds_the_wait(service, gateway):
    for name in ("quick", "middle", "precise"):
        gateway.behaviours[name] = "slow:0.5"
    response = post(service, task=TASK, max_latency_ms=150)
    assert response.status == 504 and body(response)["error"]["code"] == "deadline_exceeded"


def test_tight_requests_that_miss_their_limit_suspend_their_fast_lane(gateway):
    """The service records how each request with a limit ended on the node that served
    it; /variants shows the fast lane's budget and, once its tight requests miss anyway,
    that it is suspended (admission.py)."""
    quick = executor_status("quick", TASK, 0.70, 5.0)
    quick["annotations"].update({"faasml.io/node": "edge", "faasml.io/node-cpus": "1"})
    gateway.functions = [quick]
    gateway.behaviours["quick"] = "hang"       # every call runs past its 60 ms limit
    selector = make_service(gateway, cooldown_s=0.0)
    try:
        for count in range(1, 11):
            response = post(selector, task=TASK, tradeoff=0, max_latency_ms=60)
            assert response.status == 504, response.body
            lane, = body(get(selector, "/variants"))["fast_lanes"]
            assert (lane["node"], lane["deadline_ms"], lane["recent_tight_requests"]) == ("edge", 60.0, count)
            assert lane["suspended"] == (count >= 10)   # too few to say before ten
        assert lane["recent_met_share"] == 0.0
        assert post(selector, task=TASK, tradeoff=0.5, max_latency_ms=1000).status == 504
        assert body(get(selector, "/variants"))["fast_lanes"][0]["recent_tight_requests"] == 10  # a looser limit
    finally:
        selector.stop()


def test_every_variant_failing_is_503(service, gateway):
    for name in ("quick", "middle", "precise"):
        gateway.behaviours[name] = "status:500"
    response = post(service, task=TASK)
    assert response.status == 503
    attempts = body(response)["error"]["attempts"]
    assert [a["outcome"] for a in attempts] == ["500"] * 3 and response.headers["X-Faasml-Attempts"] == "3"
    # Two attempts failed over to the next variant; the third had nowhere to go.
    retries = [service.metrics.value("faasml_selector_retries_total", task=TASK, variant=a["variant"], reason="500")
               for a in attempts]
    assert retries == [1, 1, 0]
    assert service.metrics.value("faasml_selector_failed_total", task=TASK, code="no_healthy_variant") == 1
    assert post(service, task=TASK).status == 503  # all cooling down now: none healthy


@pytest.mark.parametrize("query, status, code", [
    ({"task": TASK, "tradeoff": "2"}, 400, "bad_parameter"),
    ({"task": TASK, "tradeoff": "x"}, 400, "bad_parameter"),
    ({"task": TASK, "explain": "maybe"}, 400, "bad_parameter"),
    ({"task": TASK, "policy": "nope"}, 400, "bad_parameter"),
    ({}, 400, "missing_task"),
    ({"task": "translation"}, 404, "unknown_task"),
    ({"variant": "ghost"}, 404, "unknown_variant"),
    ({"task": TASK, "min_accuracy": "0.95"}, 422, "infeasible"),
    ({"task": TASK, "max_latency_ms": "1"}, 422, "infeasible"),
])
def test_parameter_errors(service, query, status, code):
    response = post(service, **query)
    assert response.status == status, response.body
    error = body(response)["error"]
    assert error["code"] == code and error["message"]
    if code == "unknown_task":
        assert error["known_tasks"] == ["image-classification", "sentence-embedding"]


def test_pinned_variant_is_used_and_still_held_to_the_limits(service):
    response = post(service, variant="middle", tradeoff=1)
    assert response.headers["X-Faasml-Variant"] == "middle"
    assert response.headers["X-Faasml-Policy"] == "pinned"
    assert post(service, variant="middle", min_accuracy=0.9).status == 422
    assert post(service, variant="middle", task="sentence-embedding").status == 400


def test_explain_lists_every_candidate_with_parts_and_exclusions(service, gateway):
    response = post(service, task=TASK, explain=1, min_accuracy=0.72)
    table = body(response)
    assert table["chosen"] in {"middle", "precise"}
    rows = {row["variant"]: row for row in table["candidates"]}
    assert set(rows) == {"quick", "middle", "precise"}
    assert "min_accuracy" in rows["quick"]["excluded"] and rows["quick"]["rank"] is None
    for key in ("accuracy", "predicted_latency_ms", "rtt_ms", "service_ms", "queue_ms", "score"):
        assert key in rows["middle"]
    assert gateway.calls == []  # explain never forwards


def test_variants_and_metrics_endpoints(service):
    post(service, task=TASK, tradeoff=0)
    listing = body(get(service, "/variants"))
    assert {v["variant"] for v in listing["variants"]} == {"quick", "middle", "precise", "embed"}
    quick = next(v for v in listing["variants"] if v["variant"] == "quick")
    assert quick["live"]["service_source"] == "blended"   # one answer, weighed with the profile
    assert quick["live"]["service_ms"] == pytest.approx((0.2 + 3 * 5.0) / 4)  # 1 sample + profile
    text = get(service, "/metrics").body.decode()
    assert 'faasml_selector_decisions_total{policy="tradeoff",task="image-classification",variant="quick"} 1' in text
    assert "faasml_selector_decision_seconds_count 1" in text
    assert get(service, "/nowhere").status == 404


def test_concurrent_requests_spread_over_equal_variants(gateway):
    gateway.functions = [executor_status(f"twin{i}", TASK, 0.75, 50.0) for i in range(4)]
    gateway.behaviours = {f"twin{i}": "slow:0.3" for i in range(4)}
    # Queue, do not hold: the spread is the point. No stall bound either: these twins take
    # six times their 50 ms profile, which is what a stall is (test_stalls.py).
    selector = make_service(gateway, max_queue_ms=1000.0, stall_factor=0.0)
    answers: list[str] = []
    def call() -> None:
        response = post(selector, task=TASK)
        answers.append(response.headers.get("X-Faasml-Variant", f"error {response.body!r}"))
    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    selector.stop()
    assert sorted(collections.Counter(answers).values()) == [4, 4, 4, 4]


def test_gateway_metrics_are_a_load_signal(gateway):
    gateway.metrics_text = (
        '# TYPE gateway_function_invocation_started counter\n'
        'gateway_function_invocation_started{function_name="precise.openfaas-fn"} 12\n'
        'gateway_function_invocation_total{code="200",function_name="precise.openfaas-fn"} 4\n'
        'gateway_service_count{function_name="precise.openfaas-fn"} 2\n')
    selector = make_service(gateway)
    try:
        row = next(v for v in body(get(selector, "/variants"))["variants"] if v["variant"] == "precise")
        assert row["live"]["inflight"] == 8 and row["live"]["slots"] == 2
        assert row["live"]["load_source"] == "gateway"
        assert row["live"]["queue_ms"] == pytest.approx(60.0 * 7 / 2)
    finally:
        selector.stop()


def test_same_function_on_two_gateways_gets_distinct_keys(gateway):
    other = ToyGateway().start()
    other.functions = [executor_status("quick", TASK, 0.70, 5.0)]
    other.behaviours = {"quick": "echo"}
    selector = make_service(gateway, other)
    try:
        keys = sorted(selector.registry.snapshot.by_key)
        assert "quick" not in keys and len([k for k in keys if k.startswith("quick@")]) == 2
        response = post(selector, variant=[k for k in keys if k.startswith("quick@")][1])
        assert response.status == 200
    finally:
        selector.stop()
        other.stop()


def test_profile_command_writes_what_the_selector_reads(gateway, tmp_path, monkeypatch, capsys):
    from faasml.cli import main

    sample = tmp_path / "input.bin"
    sample.write_bytes(b"some input")
    out = tmp_path / "profiles.json"
    monkeypatch.setenv("FAASML_GATEWAY_PASSWORD", PASSWORD)
    code = main(["profile", "--gateway", gateway.url, "--task", TASK, "--input", f"{TASK}={sample}",
                 "--requests", "5", "--step", "0.2", "--out", str(out)])
    assert code == 0
    progress = capsys.readouterr().err            # one numbered step per variant, timed
    assert "[1/3]" in progress and "[3/3]" in progress and "done in" in progress
    profiles = json.loads(out.read_text())
    assert profiles["measured_on"] and set(profiles["variants"]) == {"quick", "middle", "precise"}
    quick = profiles["variants"]["quick"]
    assert quick["compute_ms"] == 0.2 and quick["saturation_rps"] > 0
    assert quick["latency_ms"]["p50"] <= quick["latency_ms"]["p99"]
    selector = make_service(gateway, profiles_path=str(out))
    try:
        variant = selector.registry.snapshot.by_key["quick"]
        assert variant.profile_latency_ms == 0.2          # the measured compute, not the annotation's 5
        assert variant.rtt_ms == quick["overhead_ms"]
    finally:
        selector.stop()
