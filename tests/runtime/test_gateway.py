"""`faasml up` end to end: real replica processes on free ports, called as faas-cli and curl do.

One runtime serves the whole module: `echo` (2 replicas spread over edge and cloud),
`slowpoke` (cloud only, exec_timeout 1s), `late` (ready after 4 s), `distant` (on a node
with a simulated 150 ms RTT) and `gpuonly` (fits no node).
"""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import threading
import time

import pytest
import requests

from tests.runtime.conftest import function

CPUS = sorted(os.sched_getaffinity(0))
EDGE_CPUS, CLOUD_CPUS = CPUS[:1], (CPUS[1:] or CPUS)
NODES = {"nodes": [
    {"name": "edge", "labels": {"faasml.io/node-class": "edge"}, "cpus": EDGE_CPUS},
    {"name": "cloud", "labels": {"faasml.io/node-class": "cloud"}, "cpus": CLOUD_CPUS},
    {"name": "far", "labels": {"faasml.io/node-class": "far"}, "cpus": "all", "rtt_ms": 150},
]}
FUNCTIONS = {
    "echo": function("toy", "faasml/toy:dev", environment={"GREETING": "hello"},
                     labels={"com.openfaas.scale.min": "2", "faasml.io/role": "executor"},
                     constraints=["faasml.io/node-class!=far"]),
    "slowpoke": function("toy", "faasml/slowpoke:dev", environment={"exec_timeout": "1s", "max_inflight": "1"},
                         constraints=["faasml.io/node-class=cloud"]),
    "late": function("lateready", "faasml/late:dev",
                     environment={"ready_path": "/ready", "READY_AFTER_S": "4"}),
    "distant": function("toy", "faasml/distant:dev", annotations={"faasml.io/node-class": "far"}),
    "gpuonly": function("toy", "faasml/gpuonly:dev", constraints=["faasml.io/node-class=gpu"]),
}


@pytest.fixture(scope="module")
def runtime(start_runtime):
    # --ready-wait: `late` is ready 4 s after its Python process has imported its handler,
    # and on 2 slow cores, with the other four replicas starting beside it, the imports
    # alone can take seconds; the default 5 s would time the test, not the runtime.
    return start_runtime(FUNCTIONS, NODES, ["--max-body-mb", "4", "--ready-wait", "20"])


@pytest.fixture(scope="module")
def ready(runtime):
    runtime.wait_available("echo", 2)
    runtime.wait_available("slowpoke", 1)
    runtime.wait_available("distant", 1)
    return runtime


def test_replica_is_ready_only_when_its_ready_path_answers_200(runtime):
    # the replica's process is spawned right after start-up; wait until it is listed
    runtime.wait_until(lambda: runtime.status("late")["faasml"]["replicaStates"], 10)
    status = runtime.status("late")
    assert status["replicas"] == 1 and status["availableReplicas"] == 0
    states = status["faasml"]["replicaStates"]
    assert [s["state"] for s in states] == ["starting"]
    # A request waits for the starting replica (up to --ready-wait) instead of failing.
    response = runtime.invoke("late", timeout=30)
    assert response.status_code == 200 and response.json()["answer"] == 42
    assert runtime.status("late")["availableReplicas"] == 1


def test_a_ready_replica_whose_ready_path_fails_is_unrouted_until_it_recovers(ready):
    ready.wait_available("late", 1)
    assert ready.invoke("late/unload").status_code == 503  # its own answer, passed through
    ready.wait_until(lambda: ready.status("late")["availableReplicas"] == 0, 10)
    state = ready.status("late")["faasml"]["replicaStates"][0]
    assert state["state"] == "unready"
    assert "not ready: /ready failed 3 times" in ready.system("GET", "/system/logs?name=late").text
    # The gateway no longer routes to it, so it is told to recover on its own port.
    assert requests.post(f"http://127.0.0.1:{state['port']}/load", timeout=5).status_code == 200
    ready.wait_available("late", 1, timeout_s=10)
    assert ready.invoke("late").json()["pid"] == state["pid"]  # the same process, not a restart


def test_invoke_passes_method_subpath_query_headers_and_body(ready):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        body = b"" if method == "GET" else f"body of {method}".encode()
        response = ready.invoke("echo/sub/path?x=1&y=a%20b", method=method, data=body,
                                headers={"X-Custom": "v1", "Content-Type": "text/plain"})
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["method"] == method and seen["path"] == "/sub/path"
        assert seen["query"] == {"x": "1", "y": "a b"}
        assert seen["headers"]["x-custom"] == "v1"
        assert base64.b64decode(seen["body_b64"]) == body
        assert seen["greeting"] == "hello" and seen["cwd"] == str(ready.folder)
        assert response.headers["X-Replica-Pid"] == str(seen["pid"])
    assert ready.invoke("echo.openfaas-fn/").json()["path"] == "/"


def test_binary_body_round_trips_unchanged(ready):
    payload = os.urandom(1 << 20) + b"\x00\r\n\r\n\xff"
    response = ready.invoke("echo/raw", data=payload, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200
    assert response.content == payload and response.headers["Content-Type"] == "image/jpeg"
    chunked = ready.invoke("echo/raw", data=iter([b"ab", b"\x00c", b"d"]),
                           headers={"Content-Type": "application/octet-stream"})
    assert chunked.content == b"ab\x00cd"


def test_faas_cli_invoke_request_shape(ready):
    """`echo hi | faas-cli invoke echo --query task=x -H 'X-Faasml-Tradeoff: 0.2'`."""
    response = ready.http.post(
        ready.url + "/function/echo.openfaas-fn?task=image-classification",
        data=b"hi\n", headers={"Content-Type": "text/plain", "X-Faasml-Tradeoff": "0.2",
                               "User-Agent": "Go-http-client/1.1"}, timeout=10)
    assert response.status_code == 200
    seen = response.json()
    assert seen["query"] == {"task": "image-classification"}
    assert seen["headers"]["x-faasml-tradeoff"] == "0.2"
    assert seen["headers"]["content-type"] == "text/plain"
    assert base64.b64decode(seen["body_b64"]) == b"hi\n"


def test_unknown_function_is_a_json_404(ready):
    for path in ("nope", "nope/sub", "echo.other-namespace"):
        response = ready.invoke(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "function_not_found"
    assert ready.http.get(ready.url + "/no/such/route").status_code == 404


def test_system_paths_need_basic_auth_function_paths_do_not(ready):
    url = ready.url + "/system/functions"
    anonymous = ready.http.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    # faas-cli before `login` sends an empty bearer token.
    assert ready.http.get(url, headers={"Authorization": "Bearer "}).status_code == 401
    assert ready.http.get(url, auth=("admin", "wrong")).status_code == 401
    assert ready.http.get(url, auth=("root", "test-password")).status_code == 401
    token = base64.b64encode(b"admin:test-password").decode()
    assert ready.http.get(url, headers={"Authorization": f"Basic {token}"}).status_code == 200
    for path in ("/system/function/echo", "/system/info", "/system/namespaces", "/system/logs?name=echo"):
        assert ready.http.get(ready.url + path).status_code == 401
    assert ready.invoke("echo").status_code == 200
    assert ready.http.get(ready.url + "/healthz").status_code == 200
    assert ready.http.get(ready.url + "/metrics").status_code == 200


def test_list_and_describe_have_openfaas_shapes(ready):
    listed = {f["name"]: f for f in ready.system("GET", "/system/functions").json()}
    assert set(listed) == set(FUNCTIONS)
    echo = listed["echo"]
    for key, kind in (("name", str), ("image", str), ("namespace", str), ("invocationCount", int),
                      ("replicas", int), ("availableReplicas", int), ("createdAt", str),
                      ("labels", dict), ("annotations", dict), ("envVars", dict), ("constraints", list)):
        assert isinstance(echo[key], kind), key
    assert echo["image"] == "faasml/toy:dev" and echo["namespace"] == "openfaas-fn"
    assert echo["labels"]["faasml.io/role"] == "executor" and echo["replicas"] == 2
    described = ready.system("GET", "/system/function/echo?usage=1")
    assert described.status_code == 200
    usage = described.json()["usage"]
    assert usage["totalMemoryBytes"] > 10e6 and usage["cpu"] >= 0
    assert "usage" not in ready.status("echo")
    assert ready.system("GET", "/system/functions?namespace=openfaas-fn").json()
    assert ready.system("GET", "/system/functions?namespace=nope").status_code == 400
    missing = ready.system("GET", "/system/function/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "function_not_found"


def test_info_namespaces_and_healthz(ready):
    info = ready.system("GET", "/system/info").json()  # the gateway's shape (faas-cli version)
    assert set(info) == {"provider", "version", "arch"} and info["arch"]
    assert set(info["version"]) == {"sha", "release", "commit_message"}
    provider = info["provider"]
    assert provider["provider"] == "faasml" and provider["orchestration"] == "local-processes"
    # the provider's shape, for a stock gateway forwarding to us (it adds X-Forwarded-Host)
    forwarded = ready.system("GET", "/system/info", headers={"X-Forwarded-Host": "gw:8080"}).json()
    assert forwarded == provider == ready.system("GET", "/system/info?shape=provider").json()
    assert ready.system("GET", "/system/namespaces").json() == ["openfaas-fn"]
    health = ready.http.get(ready.url + "/healthz")
    assert health.status_code == 200 and health.text == "OK"


def test_bad_bodies_are_json_400s_and_wrong_methods_405(ready):
    for method, path, body in (("POST", "/system/functions", b"{bad"),
                               ("PUT", "/system/functions", b"[1]"),
                               ("DELETE", "/system/functions", b"nope"),
                               ("DELETE", "/system/functions", b"{}"),
                               ("POST", "/system/scale-function/echo", b"{bad"),
                               ("POST", "/system/scale-function/echo", b'{"replicas": -2}'),
                               ("POST", "/system/functions", b'{"service": "UPPER", "image": "x"}')):
        response = ready.system(method, path, data=body)
        assert response.status_code == 400, (method, path, body)
        assert response.json()["error"]["message"]
    wrong = ready.system("PATCH", "/system/functions")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert ready.system("POST", "/system/logs").status_code == 405


def test_deploy_update_remove_like_faas_cli(ready):
    body = {"service": "deployed", "image": "faasml/toy:dev", "namespace": "openfaas-fn",
            "envProcess": "python index.py", "envVars": {"GREETING": "first"},
            "labels": {"com.openfaas.scale.min": "1"}, "annotations": {"faasml.io/task": "t"},
            "constraints": [], "secrets": [], "limits": {}, "requests": {},
            "readOnlyRootFilesystem": False}
    # faas-cli deploy: PUT first, POST when the function does not exist yet.
    assert ready.system("PUT", "/system/functions", json=body).status_code == 404
    assert ready.system("POST", "/system/functions", json=body).status_code == 202
    status = ready.wait_available("deployed", 1)
    assert status["annotations"] == {"faasml.io/task": "t"} and status["envVars"]["GREETING"] == "first"
    assert ready.invoke("deployed").json()["greeting"] == "first"
    body["envVars"] = {"GREETING": "second"}
    assert ready.system("PUT", "/system/functions", json=body).status_code == 202
    ready.wait_until(lambda: ready.invoke("deployed").json()["greeting"] == "second")
    ready.wait_available("deployed", 1)  # the old generation is retired
    deleted = ready.system("DELETE", "/system/functions", json={"functionName": "deployed"})
    assert deleted.status_code == 202
    assert ready.invoke("deployed").status_code == 404
    assert ready.system("DELETE", "/system/functions", json={"functionName": "deployed"}).status_code == 404
    assert "deployed" not in {f["name"] for f in ready.system("GET", "/system/functions").json()}


def test_deploying_an_image_with_no_local_handler_is_a_clear_400(ready):
    response = ready.system("POST", "/system/functions",
                            json={"service": "foreign", "image": "ghcr.io/someone/else:1.0"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "image_not_local" and "faasml/toy:dev" in error["message"]
    assert "--containers podman" in error["message"]  # where any image runs
    assert ready.system("GET", "/system/function/foreign").status_code == 404


def _pids_serving(runtime, name: str, calls: int) -> set[int]:
    return {runtime.invoke(name).json()["pid"] for _ in range(calls)}


def test_scale_up_and_down(ready):
    scale = lambda n: ready.system("POST", "/system/scale-function/echo",  # noqa: E731
                                   json={"serviceName": "echo", "replicas": n, "namespace": "openfaas-fn"})
    assert scale(3).status_code == 202
    assert ready.status("echo")["replicas"] == 3  # desired at once, available when ready
    status = ready.wait_available("echo", 3)
    pids = {s["pid"] for s in status["faasml"]["replicaStates"]}
    assert _pids_serving(ready, "echo", 12) == pids  # idle replicas share sequential traffic
    assert scale(1).status_code == 202
    status = ready.wait_available("echo", 1)
    assert status["replicas"] == 1 and _pids_serving(ready, "echo", 4) <= pids
    assert scale(2).status_code == 202
    ready.wait_available("echo", 2)
    missing = ready.system("POST", "/system/scale-function/nope", json={"replicas": 1})
    assert missing.status_code == 404
    assert scale(1000).status_code == 400 and ready.status("echo")["replicas"] == 2


def test_requests_go_to_the_replica_with_least_in_flight(ready):
    status = ready.wait_available("echo", 2)
    slow_result = {}
    slow = threading.Thread(target=lambda: slow_result.update(
        ready.invoke("echo/sleep?s=3", headers={"X-Test": "slow"}).json()))
    slow.start()
    ready.wait_until(lambda: any(s["inFlight"] == 1 for s in ready.status("echo")["faasml"]["replicaStates"]), 5)
    busy_pid = next(s["pid"] for s in ready.status("echo")["faasml"]["replicaStates"] if s["inFlight"])
    quick_pids = _pids_serving(ready, "echo", 6)
    slow.join()
    assert slow_result["pid"] == busy_pid and busy_pid not in quick_pids
    assert len(quick_pids) == 1 and quick_pids < {s["pid"] for s in status["faasml"]["replicaStates"]}


def test_killed_replica_is_restarted_and_reported(ready):
    before = ready.wait_available("echo", 2)
    victim = before["faasml"]["replicaStates"][0]
    os.kill(victim["pid"], signal.SIGKILL)
    ready.wait_until(lambda: victim["pid"] not in
                     {s["pid"] for s in ready.status("echo")["faasml"]["replicaStates"]}, 10)
    after = ready.wait_available("echo", 2)
    assert after["faasml"]["restarts"] >= 1
    logs = ready.system("GET", "/system/logs?name=echo&tail=50").text
    assert f"replica {victim['instance']} (pid {victim['pid']}) exited with code -9" in logs
    assert "restart #1" in ready.log_text()
    assert all(ready.invoke("echo").status_code == 200 for _ in range(4))


def test_replica_crash_mid_request_is_a_502_and_the_gateway_survives(ready):
    restarts = ready.wait_available("echo", 2)["faasml"]["restarts"]
    response = ready.invoke("echo/exit")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "bad_gateway"
    assert ready.http.get(ready.url + "/healthz").status_code == 200
    ready.wait_until(lambda: ready.status("echo")["faasml"]["restarts"] == restarts + 1, 10)
    ready.wait_available("echo", 2)


def test_exec_timeout_is_a_504(ready):
    started = time.monotonic()
    response = ready.invoke("slowpoke/sleep?s=3")
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert time.monotonic() - started < 2.5


def test_max_inflight_is_enforced_like_of_watchdog(ready):
    busy = threading.Thread(target=lambda: ready.invoke("slowpoke/sleep?s=0.8"))
    busy.start()
    ready.wait_until(lambda: ready.status("slowpoke")["faasml"]["replicaStates"][0]["inFlight"] == 1, 5)
    refused = ready.invoke("slowpoke")
    busy.join()
    assert refused.status_code == 429 and refused.headers["X-OpenFaaS-Internal"] == "faas-middleware"
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert ready.invoke("slowpoke").status_code == 200  # free again


def test_body_over_the_limit_is_a_413_and_the_gateway_survives(ready):
    response = ready.invoke("echo/raw", data=b"x" * (5 << 20))
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    garbage = socket.create_connection(("127.0.0.1", ready.port))
    garbage.sendall(b"\x16\x03\x01 NOT HTTP AT ALL\r\n\r\n")
    garbage.recv(1024)
    garbage.close()
    assert ready.invoke("echo").status_code == 200


def test_placement_follows_constraints_and_annotations(ready):
    states = ready.wait_available("echo", 2)["faasml"]["replicaStates"]
    echo_cpus = {tuple(ready.invoke("echo").json()["cpus"]) for _ in range(6)}
    assert echo_cpus == {tuple(EDGE_CPUS), tuple(CLOUD_CPUS)}, states  # spread over both nodes
    assert ready.invoke("slowpoke").json()["cpus"] == CLOUD_CPUS
    nodes = {s["node"] for s in ready.status("echo")["faasml"]["replicaStates"]}
    assert nodes == {"edge", "cloud"}
    assert [s["node"] for s in ready.status("distant")["faasml"]["replicaStates"]] == ["far"]


def test_function_fitting_no_node_is_reported_not_started(ready):
    status = ready.status("gpuonly")
    assert status["replicas"] == 1 and status["availableReplicas"] == 0
    assert "faasml.io/node-class=gpu" in status["faasml"]["unschedulable"]
    assert status["faasml"]["replicaStates"] == []
    response = ready.invoke("gpuonly")
    assert response.status_code == 503 and response.json()["error"]["code"] == "unschedulable"
    assert "UNSCHEDULABLE" in ready.system("GET", "/system/logs?name=gpuonly").text
    assert "[gpuonly.openfaas-fn] UNSCHEDULABLE" in ready.log_text()


def test_simulated_rtt_is_added_on_the_path_to_its_node(ready):
    def fastest(name):
        best = 10.0
        for _ in range(3):
            started = time.perf_counter()
            assert ready.invoke(name).status_code == 200
            best = min(best, time.perf_counter() - started)
        return best
    assert fastest("distant") >= 0.150
    assert fastest("echo") < 0.150


def test_logs_are_ndjson_records_like_openfaas(ready):
    ready.invoke("echo/print?text=marker-one")
    response = ready.system("GET", "/system/logs?name=echo&namespace=openfaas-fn&tail=500&follow=false")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in response.text.splitlines()]
    printed = [r for r in records if r["text"] == "marker-one"]
    assert printed and set(printed[0]) == {"name", "namespace", "instance", "timestamp", "text"}
    assert printed[0]["name"] == "echo" and printed[0]["instance"].startswith("echo-")
    only = ready.system("GET", f"/system/logs?name=echo&instance={printed[0]['instance']}").text
    assert {json.loads(line)["instance"] for line in only.splitlines()} == {printed[0]["instance"]}
    assert ready.system("GET", "/system/logs").status_code == 400
    assert ready.system("GET", "/system/logs?name=nope").status_code == 404
    assert ready.system("GET", "/system/logs?name=echo&since=yesterday").status_code == 400
    files = list((ready.folder / ".faasml" / "logs").glob("echo.openfaas-fn.log"))
    assert files and "marker-one" in files[0].read_text()


def test_logs_follow_streams_new_lines(ready):
    with ready.http.get(ready.url + "/system/logs?name=echo&follow=true&tail=0", auth=ready.auth,
                        stream=True, timeout=10) as stream:
        threading.Timer(0.3, lambda: ready.invoke("echo/print?text=marker-two")).start()
        for line in stream.iter_lines():
            if json.loads(line)["text"] == "marker-two":
                break
        else:
            pytest.fail("follow stream ended without the new line")


def test_metrics_count_invocations_with_gateway_names(ready):
    def scrape() -> dict[str, float]:
        values = {}
        for line in ready.http.get(ready.url + "/metrics").text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
        return values
    label = 'function_name="echo.openfaas-fn"'
    before = scrape()
    for _ in range(5):
        assert ready.invoke("echo").status_code == 200
    assert ready.invoke("echo/status?code=418").status_code == 418
    after = scrape()
    delta = lambda key: after.get(key, 0) - before.get(key, 0)  # noqa: E731
    assert delta(f"gateway_function_invocation_started{{{label}}}") == 6
    assert delta(f'gateway_function_invocation_total{{{label},code="200"}}') == 5
    assert delta(f'gateway_function_invocation_total{{{label},code="418"}}') == 1
    assert delta(f'gateway_functions_seconds_count{{code="200",{label}}}') == 5
    assert after[f"gateway_service_count{{{label}}}"] == 2
    assert after[f"gateway_function_invocation_inflight{{{label}}}"] == 0
    assert after[f"faasml_service_available_replicas{{{label}}}"] == 2
    assert ready.status("echo")["invocationCount"] == sum(
        v for k, v in after.items() if k.startswith("gateway_function_invocation_total{" + label))


def test_concurrent_requests_each_get_their_own_answer(ready):
    """Pooled upstream connections must never hand one request's response to another."""
    from concurrent.futures import ThreadPoolExecutor

    def call(i: int) -> tuple[int, int, bytes]:
        body = f"payload-{i}".encode() * (1 + i % 7)
        with requests.Session() as session:
            response = session.post(f"{ready.url}/function/echo/raw?i={i}", data=body,
                                    headers={"Content-Type": "text/plain", "Expect": "100-continue"},
                                    timeout=30)
        return i, response.status_code, response.content == body
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(call, range(240)))
    assert all(status == 200 and same for _, status, same in results), results[:5]
    seen = ready.invoke("echo", headers={"Expect": "100-continue"}, data=b"x").json()
    assert "expect" not in seen["headers"]  # the gateway answered it; the replica never sees it
    states = ready.status("echo")["faasml"]["replicaStates"]
    assert all(s["inFlight"] == 0 for s in states)
