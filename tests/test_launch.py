"""The one launcher of a local platform (faasml/launch.py): a real `faasml up` over a
generated stack, on a free port with a folder and a password of its own, ready once the
selector lists every ready executor, and gone for sure when its `with` block ends or its
harness is killed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from faasml.launch import LaunchError, LocalPlatform, executor_function, selector_function, two_nodes

REPO = Path(__file__).resolve().parents[1]
ECHO_HANDLER = '''def handle(event, context):
    return {"statusCode": 200, "body": b'{"ok":true}',
            "headers": {"Content-Type": "application/json", "X-Faasml-Compute-Ms": "0.01"}}
'''


def echo_functions(folder: Path, selector: bool = True) -> dict:
    (folder / "echo").mkdir(exist_ok=True)
    (folder / "echo" / "handler.py").write_text(ECHO_HANDLER)
    functions = {"echo": executor_function("echo", folder / "none.card.json", "echo", "cloud", 0.5, 0.05,
                                           handler=folder / "echo")}
    if selector:
        functions["selector"] = selector_function({"FAASML_REGISTRY_REFRESH_S": "1"}, REPO / "functions/selector")
    return functions


def alive(pid: int) -> bool:
    """Running, or at least not yet reaped as a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def gone_within(pids: list[int], timeout_s: float = 20.0) -> list[int]:
    """The pids still alive after `timeout_s` (waiting for all to go)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(map(alive, pids)):
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    folder = tmp_path_factory.mktemp("launch")
    with LocalPlatform.generated(folder, echo_functions(folder), two_nodes()) as platform:
        platform.wait_ready("echo")
        yield platform


def test_a_platform_of_its_own_port_folder_and_password(platform):
    assert platform.port and platform.url == f"http://127.0.0.1:{platform.port}"
    assert "faasml up: gateway on" in (platform.folder / "faasml-up.log").read_text()
    assert (platform.state_dir / "logs").is_dir() and platform.state_dir.parent == platform.folder
    assert len(platform.password or "") >= 24
    assert requests.get(f"{platform.url}/system/functions", timeout=5).status_code == 401
    assert requests.get(f"{platform.url}/system/functions", auth=("admin", platform.password),
                        timeout=5).status_code == 200
    # nobody else's platform: a second one gets another port and password
    other = LocalPlatform(platform.folder / "other", platform.stack)
    assert other.port == 0 and other.password is None   # chosen when it starts


def test_ready_means_the_selector_lists_every_ready_executor(platform):
    assert platform.readiness("echo") == ""
    listed = json.loads(platform.call("/function/selector/variants")[2])
    assert [v["function"] for v in listed["variants"] if v["available_replicas"] >= 1] == ["echo"]
    with pytest.raises(LaunchError, match="no ready executor for task 'no-such-task'"):
        platform.readiness("no-such-task")


def test_topology_names_each_process_and_its_node(platform):
    topology = platform.topology()
    assert topology.gateway_pid == platform.process.pid
    assert set(topology.variants) == {"echo"} and topology.variants["echo"].node == "cloud"
    assert topology.variants["echo"].task == "echo" and topology.variants["echo"].accuracy == 0.5
    assert set(topology.node_cpus) == {"edge", "cloud"}
    assert {r.function for r in topology.replicas} == {"echo", "selector"}
    assert all(alive(pid) for pid in topology.pids())
    assert topology.pids("echo", node="cloud") == [platform.replica("echo")["pid"]]
    assert topology.pids("echo", node="edge") == []


def test_a_restarted_selector_is_a_new_process_that_lists_again(platform):
    before = platform.replica("selector")["pid"]
    seconds = platform.restart_selector("echo")
    after = platform.replica("selector")["pid"]
    assert after != before and seconds > 0 and not alive(before)
    status, headers, _ = platform.call("/function/selector?task=echo", b"hi", {"Content-Type": "text/plain"})
    assert status == 200 and headers["X-Faasml-Variant"] == "echo"
    assert platform.drain(timeout_s=5, settle_s=0) == 0


def test_the_with_block_stops_it_and_its_replicas(tmp_path):
    with LocalPlatform.generated(tmp_path, echo_functions(tmp_path, selector=False), two_nodes()) as platform:
        platform.wait_ready()
        pids = [platform.gateway_pid, *platform.topology().pids()]
        assert len(pids) == 2 and all(map(alive, pids))
    assert platform.process is None and gone_within(pids) == []


def test_a_platform_whose_harness_is_killed_goes_with_it(tmp_path):
    harness = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from faasml.launch import LocalPlatform, two_nodes
        from tests.test_launch import echo_functions

        folder = Path({str(tmp_path)!r})
        platform = LocalPlatform.generated(folder, echo_functions(folder, selector=False), two_nodes()).up()
        print(json.dumps([platform.gateway_pid, *platform.topology().pids()]), flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", harness], stdout=subprocess.PIPE, cwd=REPO)
    try:
        pids = json.loads(process.stdout.readline() or "[]")
        assert len(pids) == 2 and all(map(alive, pids)), (tmp_path / "faasml-up.log").read_text()
    finally:
        os.kill(process.pid, signal.SIGKILL)   # no `with` block, no atexit: only the kernel is left
        process.wait()
    assert gone_within(pids) == [], (tmp_path / "faasml-up.log").read_text()


def test_a_platform_that_cannot_start_says_why(tmp_path):
    (tmp_path / "stack.yml").write_text("functions: [\n")   # not YAML
    platform = LocalPlatform(tmp_path, tmp_path / "stack.yml", start_timeout_s=20)
    with pytest.raises(LaunchError, match="faasml up exited"):
        platform.up()
    assert platform.process is None
