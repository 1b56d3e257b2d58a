"""`faasml up --empty`: a clean provider with no functions, to which `faas-cli deploy` (or
any client of the API) adds them; in process mode the stack's handlers stay deployable by
image, and nothing else is."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from faasml.runtime.replicas import free_port
from tests.runtime.conftest import PASSWORD, function


def test_empty_start_deploys_nothing_until_asked(start_runtime):
    runtime = start_runtime({"echo": function("toy", "faasml/toy:dev", environment={"GREETING": "hi"})},
                            extra_args=["--empty"])
    assert runtime.system("GET", "/system/functions").json() == []
    assert runtime.invoke("echo").status_code == 404
    assert "no functions (--empty)" in runtime.log_text()
    # faas-cli deploy -f stack.yml against it: the stack's image runs its handler
    deployed = runtime.system("POST", "/system/functions", json={"service": "echo", "image": "faasml/toy:dev"})
    assert deployed.status_code == 202, deployed.text
    runtime.wait_available("echo", 1)
    assert runtime.invoke("echo").status_code == 200
    labels = runtime.status("echo")["labels"]
    assert labels["faas_function"] == "echo"
    foreign = runtime.system("POST", "/system/functions",
                             json={"service": "alpine", "image": "docker.io/functions/alpine:latest"})
    assert foreign.status_code == 400 and "--containers podman" in foreign.json()["error"]["message"]
    info = runtime.system("GET", "/system/info").json()["provider"]
    assert info["orchestration"] == "local-processes" and info["version"]["sha"]


def test_empty_start_needs_no_stack_file(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, FAASML_GATEWAY_PASSWORD=PASSWORD)
    with open(tmp_path / "up.log", "w") as log:
        up = subprocess.Popen([sys.executable, "-m", "faasml", "up", "--empty", "-f", str(tmp_path / "absent.yml"),
                               "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.1)
        listed = requests.get(url + "/system/functions", auth=("admin", PASSWORD), timeout=5)
        assert listed.status_code == 200 and listed.json() == []
        assert (tmp_path / ".faasml").is_dir()  # the state folder: beside where the stack would be
        # without --empty, a missing stack file is still the clear error it was
        done = subprocess.run([sys.executable, "-m", "faasml", "up", "-f", str(tmp_path / "absent.yml"),
                               "--port", str(free_port())], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and "cannot read stack file" in done.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)
