"""`faasml up` as a command: defaults, bad input, shutdown, and `faasml bench gateway`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.runtime.conftest import function

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def test_up_reads_the_default_nodes_file_and_replicas_die_with_it(start_runtime):
    nodes_file = (REPO / "edge" / "nodes.local.yml").read_text()
    runtime = start_runtime(
        {"edgy": function("toy", "faasml/toy:dev", annotations={"faasml.io/node-class": "edge"})},
        files={"edge/nodes.local.yml": nodes_file})
    status = runtime.wait_available("edgy", 1)
    assert status["faasml"]["nodes"] == ["edge"]
    assert "nodes from " + str(runtime.folder / "edge" / "nodes.local.yml") in runtime.log_text()
    # A count, then the ids: "cpus 0" read as zero CPUs.
    assert "node edge (1 CPU, id 0; labels faasml.io/node-class=edge; " in runtime.log_text()
    pid = status["faasml"]["replicaStates"][0]["pid"]
    runtime.process.send_signal(signal.SIGKILL)  # no clean shutdown: the replica must not linger
    runtime.process.wait(10)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_up_reports_functions_it_cannot_run(start_runtime):
    runtime = start_runtime({
        "fine": function("toy", "faasml/toy:dev"),
        "elsewhere": {"lang": "no-such-template", "handler": "./nope", "image": "x/y"},
        "garbled": function("toy", "faasml/toy:dev", constraints=["not a constraint"]),
    })
    runtime.wait_available("fine", 1)
    assert "[elsewhere.openfaas-fn] NOT RUNNABLE LOCALLY" in runtime.log_text()
    runtime.wait_until(lambda: "[garbled.openfaas-fn] NOT DEPLOYED: bad constraint" in runtime.log_text(), 5)
    assert "faas-cli login -g " + runtime.url + " -u admin --password-stdin\n" in runtime.log_text()
    assert f"  dashboard: {runtime.url}/ui/ (user admin, the password " in runtime.log_text()
    assert {f["name"] for f in runtime.system("GET", "/system/functions").json()} == {"fine"}
    runtime.wait_until(lambda: "1/1 functions serving" in runtime.log_text(), 10)
    assert f"{runtime.url}/function/fine" in runtime.log_text()


def test_up_with_a_bad_stack_exits_with_a_clear_message(tmp_path):
    (tmp_path / "stack.yml").write_text("functions: [not, a, map]\n")
    result = subprocess.run([sys.executable, "-m", "faasml", "up", "-f", str(tmp_path / "stack.yml")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no `functions:` map" in result.stdout


def test_up_with_a_bad_setting_stops_with_one_line(tmp_path):
    (tmp_path / "stack.yml").write_text("functions: {}\n")
    command = [sys.executable, "-m", "faasml", "up", "-f", str(tmp_path / "stack.yml")]
    by_env = subprocess.run(command, env={**os.environ, "FAASML_UP_READY_WAIT_S": "soon"},
                            capture_output=True, text=True, timeout=30)
    by_flag = subprocess.run(command + ["--port", "http"], capture_output=True, text=True, timeout=30)
    assert (by_env.returncode, by_env.stdout) == (2, "")
    assert by_env.stderr == "faasml up: FAASML_UP_READY_WAIT_S='soon': not a number\n"
    assert (by_flag.returncode, by_flag.stderr) == (2, "faasml up: --port='http': not a whole number\n")


def test_bench_gateway_prints_both_sides_and_the_ratios(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "faasml", "bench", "gateway", "--requests", "50", "--duration", "1",
         "--rounds", "1", "--connections", "4", "--json", str(tmp_path / "bench.json")],
        capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "direct" in result.stdout and "gateway" in result.stdout
    assert "added latency: p50" in result.stdout and "throughput ratio gateway/direct" in result.stdout
    import json
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["direct"]["best_rps"] > 0 and figures["gateway"]["best_rps"] > 0
    assert figures["gateway"]["p50_ms"] > 0


def test_a_crash_looping_function_is_reported_and_restarted_with_growing_backoff(start_runtime):
    runtime = start_runtime({"broken": function("broken", "faasml/broken:dev"),
                             "stable": function("toy", "faasml/toy:dev")}, extra_args=["--ready-wait", "1"])
    runtime.wait_until(lambda: "restart #3" in runtime.log_text(), 20)
    text = runtime.log_text()
    assert "restart #1 in 0.5s" in text and "restart #2 in 1.0s" in text and "restart #3 in 2.0s" in text
    status = runtime.status("broken")
    assert status["availableReplicas"] == 0 and status["faasml"]["restarts"] >= 3
    logs = runtime.system("GET", "/system/logs?name=broken").text
    assert "broken on purpose" in logs  # the replica's own traceback is in its log
    response = runtime.invoke("broken", timeout=30)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"

    # An update to a version that never becomes ready keeps the old replica serving.
    old_pid = runtime.wait_available("stable", 1)["faasml"]["replicaStates"][0]["pid"]
    update = runtime.system("PUT", "/system/functions",
                            json={"service": "stable", "image": "faasml/broken:dev"})
    assert update.status_code == 202
    runtime.wait_until(lambda: runtime.status("stable")["faasml"]["restarts"] >= 1, 10)
    assert runtime.status("stable")["availableReplicas"] == 1
    assert all(runtime.invoke("stable").json()["pid"] == old_pid for _ in range(3))


def test_up_on_a_busy_port_says_so(tmp_path):
    import socket

    (tmp_path / "stack.yml").write_text("functions: {}\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "faasml", "up", "-f", str(tmp_path / "stack.yml"),
                                 "--port", str(port), "--state-dir", str(tmp_path / "state")],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "address already in use" in result.stdout.lower()
