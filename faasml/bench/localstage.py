"""A throw-away `faasml up` over a generated stack, for the selector's benchmark and its
integration tests: a real runtime process on a free port, stopped by its own pid.

It runs from a checkout: `faasml up` starts in `checkout` (where `templates/` is found)
and the stack's handlers are the checkout's `functions/` folders.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from faasml.runtime.replicas import free_port
from faasml.selector.views import listed_available, ready_executors

TEMPLATE = "faasml-python3-http"


def find_checkout(folder: Path | None = None) -> Path:
    """The checkout the stages run from: the working directory, which must hold functions/
    and templates/ (as when run from the repository root, like `make bench`)."""
    folder = (folder or Path.cwd()).resolve()
    if not ((folder / "functions/selector/handler.py").is_file() and (folder / "templates").is_dir()):
        raise FileNotFoundError(f"{folder} has no functions/ and templates/: run from the repository root")
    return folder


def stop_process(process: subprocess.Popen | None, grace_s: float = 20.0) -> None:
    """Terminate one process we started (by its pid), killing it after a grace period."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def executor_function(name: str, model_card: Path, task: str, node_class: str, accuracy: float,
                      latency_ms: float, handler: Path) -> dict[str, Any]:
    """A stack entry for one variant, with the `faasml.io/*` annotations the selector reads
    (docs/architecture.md); `handler` is usually the checkout's functions/executors."""
    return {
        "lang": TEMPLATE, "handler": str(handler),
        "image": f"faasml/local-{name}:0", "constraints": [f"faasml.io/node-class={node_class}"],
        "environment": {"FAASML_MODEL": str(model_card), "FAASML_PROVIDER": "cpu",
                        "FAASML_INTRA_OP_THREADS": "1", "ready_path": "/ready"},
        "labels": {"faasml.io/role": "executor"},
        "annotations": {"faasml.io/task": task, "faasml.io/accuracy": str(accuracy),
                        "faasml.io/accuracy-source": "generated stack", "faasml.io/latency-ms": str(latency_ms),
                        "faasml.io/node-class": node_class},
    }


def selector_function(env: dict[str, str], handler: Path) -> dict[str, Any]:
    """The selector's stack entry; `handler` is usually the checkout's functions/selector."""
    return {"lang": TEMPLATE, "handler": str(handler), "image": "faasml/local-selector:0",
            "labels": {"faasml.io/role": "selector"}, "secrets": ["basic-auth"],  # reads /system/functions
            "environment": dict(env)}


def two_nodes(cloud_rtt_ms: float = 0.0) -> list[dict[str, Any]]:
    return [{"name": "edge", "labels": {"faasml.io/node-class": "edge"}, "cpus": "0", "rtt_ms": 0},
            {"name": "cloud", "labels": {"faasml.io/node-class": "cloud"}, "cpus": "1-", "rtt_ms": cloud_rtt_ms}]


class LocalStage:
    """`secrets`: OpenFaaS secrets (name -> value, in the functions' namespace) in place
    before the runtime starts; `selector_key`: an API key the stage presents to the
    selector, when the stack turns its keys on."""

    def __init__(self, folder: Path, functions: dict[str, Any], nodes: list[dict[str, Any]],
                 checkout: Path, port: int | None = None, secrets: dict[str, bytes] | None = None,
                 selector_key: str | None = None):
        self.folder = folder
        self.checkout = checkout
        self.secrets = dict(secrets or {})
        self.selector_headers = {"X-Api-Key": selector_key} if selector_key else {}
        self.state_dir = folder / "state"   # faasml up's --state-dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.expected = len(functions)
        (folder / "stack.yml").write_text(yaml.safe_dump(
            {"version": 1.0, "provider": {"name": "openfaas"}, "functions": functions}))
        (folder / "nodes.yml").write_text(yaml.safe_dump({"nodes": nodes}))
        self.process: subprocess.Popen | None = None
        self._auth = ""

    def start(self, timeout_s: float = 120.0) -> "LocalStage":
        if self.secrets:
            from faasml.runtime.secret_store import SecretStore
            store = SecretStore(self.state_dir, {})
            for name, value in self.secrets.items():
                store.create(None, name, value)
        log = open(self.folder / "up.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "faasml", "up", "-f", str(self.folder / "stack.yml"),
             "--nodes", str(self.folder / "nodes.yml"), "--port", str(self.port),
             "--state-dir", str(self.state_dir)], cwd=self.checkout, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"faasml up exited: {self.log_tail()}")
            if self.all_ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"runtime not ready after {timeout_s:g}s: {self.log_tail()}")

    def log_tail(self) -> str:
        return (self.folder / "up.log").read_text(errors="replace")[-3000:]

    def functions(self) -> list[dict[str, Any]]:
        if not self._auth:
            password = (self.state_dir / "basic-auth-password").read_text().strip()
            self._auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        request = urllib.request.Request(f"{self.url}/system/functions", headers={"Authorization": self._auth})
        return json.loads(urllib.request.urlopen(request, timeout=5).read())

    def all_ready(self) -> bool:
        try:
            functions = self.functions()
            # An unschedulable function (a test's on purpose) never becomes available.
            runnable = [f for f in functions if not f.get("faasml", {}).get("unschedulable")]
            return (len(functions) == self.expected and all(f["availableReplicas"] >= 1 for f in runnable)
                    and self.selector_sees(runnable))
        except (OSError, ValueError):
            return False

    def selector_sees(self, functions: list[dict[str, Any]]) -> bool:
        """The selector is ready and its own registry lists every available executor as
        available: the gateway reports a replica ready up to one listing interval before
        the selector does, and a first request in that gap would be ranked without it."""
        if self.call("/function/selector/ready")[0] != 200:
            return False
        status, _, raw = self.call("/function/selector/variants", headers=self.selector_headers)
        return status == 200 and ready_executors(functions) <= listed_available(json.loads(raw))

    def replica(self, name: str) -> dict[str, Any]:
        status = next(f for f in self.functions() if f["name"] == name)
        return status["faasml"]["replicaStates"][0]

    def call(self, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
             timeout_s: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, data=body if body else None,
                                         headers=headers or {}, method="POST" if body else "GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
