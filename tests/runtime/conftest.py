"""Fixtures: a real `faasml up` process on a free port, over toy functions in a temp folder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import requests
import yaml

from faasml.runtime.replicas import free_port

FUNCTIONS = Path(__file__).parent / "functions"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PASSWORD = "test-password"


class Runtime:
    """A running `faasml up`, with helpers to call it as faas-cli and curl would."""

    def __init__(self, folder: Path, stack: dict, nodes: dict | None, extra_args: list[str],
                 env: dict[str, str] | None = None):
        self.folder = folder
        (folder / "stack.yml").write_text(yaml.safe_dump(stack))
        args = [sys.executable, "-m", "faasml", "up", "-f", str(folder / "stack.yml")]
        if nodes is not None:
            (folder / "nodes.yml").write_text(yaml.safe_dump(nodes))
            args += ["--nodes", str(folder / "nodes.yml")]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = open(folder / "runtime.out", "w+")
        env = dict(os.environ, FAASML_GATEWAY_PASSWORD=PASSWORD, **(env or {}))
        self.process = subprocess.Popen(args + ["--port", str(self.port), *extra_args],
                                        env=env, stdout=self.output, stderr=subprocess.STDOUT)
        self.auth = ("admin", PASSWORD)
        self.http = requests.Session()
        self._wait_for(lambda: self.http.get(self.url + "/healthz", timeout=1).status_code == 200, 20)

    def _wait_for(self, check: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"faasml up exited:\n{self.log_text()}")
            try:
                if check():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s}s\n{self.log_text()}")

    def log_text(self) -> str:
        self.output.flush()
        return (self.folder / "runtime.out").read_text()

    def system(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("auth", self.auth)
        return self.http.request(method, self.url + path, timeout=10, **kwargs)

    def status(self, name: str) -> dict:
        response = self.system("GET", f"/system/function/{name}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_available(self, name: str, replicas: int, timeout_s: float = 20) -> dict:
        self._wait_for(lambda: self.status(name)["availableReplicas"] == replicas
                       and len(self.status(name)["faasml"]["replicaStates"]) == replicas, timeout_s)
        return self.status(name)

    def wait_until(self, check: Callable[[], bool], timeout_s: float = 20) -> None:
        self._wait_for(check, timeout_s)

    def invoke(self, path: str, method: str = "POST", **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.url + "/function/" + path, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()
        self.output.close()


def function(handler: str, image: str, **fields) -> dict:
    """A stack.yml function entry for one of the toy handlers."""
    return {"lang": "faasml-python3-http", "handler": str(FUNCTIONS / handler), "image": image, **fields}


def stack_of(functions: dict) -> dict:
    return {"version": 1.0, "provider": {"name": "openfaas"}, "functions": functions}


@pytest.fixture(scope="module")
def start_runtime(tmp_path_factory) -> Callable[..., Runtime]:
    started: list[Runtime] = []

    def start(functions: dict, nodes: dict | None = None, extra_args: list[str] | None = None,
              files: dict[str, str] | None = None, env: dict[str, str] | None = None) -> Runtime:
        folder = tmp_path_factory.mktemp("runtime")
        (folder / "templates").symlink_to(TEMPLATES)
        for relative, text in (files or {}).items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        runtime = Runtime(folder, stack_of(functions), nodes, extra_args or [], env)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
