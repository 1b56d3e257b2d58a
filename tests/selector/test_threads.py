"""The selector process runs one thread (plus uvloop's address-resolving pool): its event
loop serves requests and runs every background task (registry refresh, load sampling,
stall probes) as asyncio tasks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from faasml.runtime.replicas import free_port

from .conftest import TASK
from .toygateway import PASSWORD, ToyGateway, executor_status

ROOT = Path(__file__).resolve().parents[2]


def threads_of(pid: int) -> list[str]:
    """The names of a process's threads (/proc/<pid>/task/*/comm)."""
    return [(task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()]


@pytest.fixture
def gateway():
    toy = ToyGateway().start()
    toy.functions = [executor_status("quick", TASK, 0.70, 5.0), executor_status("precise", TASK, 0.80, 60.0)]
    toy.behaviours = {"quick": "echo", "precise": "hang"}   # a hung variant: stalls, probes
    toy.metrics_text = 'gateway_service_count{function_name="quick.openfaas-fn"} 1\n'
    yield toy
    toy.stop()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to count threads")
def test_the_selector_runs_one_thread_at_rest_and_after_work(gateway, tmp_path):
    folder = tmp_path / "selector"
    shutil.copytree(ROOT / "functions/selector", folder / "function")
    shutil.copy(ROOT / "templates/faasml-python3-http/index.py", folder / "index.py")
    port = free_port()
    env = {**os.environ, "FAASML_LISTEN_PORT": str(port), "FAASML_GATEWAYS": gateway.url,
           "FAASML_GATEWAY_PASSWORD": PASSWORD, "FAASML_METRICS_POLL_S": "0.1",
           "FAASML_REGISTRY_REFRESH_S": "0.2", "FAASML_STALL_FLOOR_MS": "100"}
    process = subprocess.Popen([sys.executable, "index.py"], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/?task={TASK}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5).read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the selector did not start"
                time.sleep(0.1)
        for tradeoff in ("0", "1", "1", "0.5"):   # tradeoff=1 finds `precise` hung: a stall, then probes
            urllib.request.urlopen(urllib.request.Request(f"{url}&tradeoff={tradeoff}", data=b"img"),
                                   timeout=10).read()
        time.sleep(1.0)   # refreshes, samples and probes have run meanwhile
        names = threads_of(process.pid)
        # uvloop's libuv pool resolves addresses (getaddrinfo) on threads of its own.
        assert len([n for n in names if n != "libuv-worker"]) == 1, names
    finally:
        process.kill()
        process.wait()
