"""Fixtures: a real `faasml up` process on a free port, over toy functions in a temp folder
(the one launcher, faasml/launch.py, with a fixed password and faasml up's own state
folder beside the stack)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import requests
import yaml

from faasml.launch import LaunchError, LocalPlatform, write_stack

FUNCTIONS = Path(__file__).parent / "functions"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PASSWORD = "test-password"


class Runtime(LocalPlatform):
    """A running `faasml up`, with helpers to call it as faas-cli and curl would."""

    def __init__(self, folder: Path, stack: dict, nodes: dict | None, extra_args: list[str],
                 env: dict[str, str] | None = None):
        stack_file, _ = write_stack(folder, stack["functions"])
        nodes_file = None
        if nodes is not None:
            nodes_file = folder / "nodes.yml"
            nodes_file.write_text(yaml.safe_dump(nodes))
        super().__init__(folder, stack_file, nodes_file, args=extra_args, env=env, password=PASSWORD,
                         state_dir=folder / ".faasml")
        self.auth = self.admin
        self.start()
        try:
            self.wait_healthy(timeout_s=20)
        except LaunchError as exc:
            self.stop()
            raise AssertionError(str(exc)) from None

    def _wait_for(self, check: Callable[[], bool], timeout_s: float) -> None:
        try:
            self.wait_for(check, timeout_s, "the test's condition", every_s=0.05)
        except LaunchError as exc:
            raise AssertionError(str(exc)) from None

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
