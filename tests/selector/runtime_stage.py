"""The local runtime (`faasml up`) with real reference variants and the selector, for
the selector's integration tests: real processes on free ports, stopped by their pid."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .prometheus import free_port

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"


def ensure_models() -> Path:
    """Build the reference variants with the builder's CLI when they are missing."""
    needed = ("efficientnet-lite0-int8", "efficientnet-lite1-fp32", "efficientnet-lite2-fp32")
    if not all((MODELS / f"{name}.card.json").exists() for name in needed):
        subprocess.run([sys.executable, "-m", "faasml", "models", "build", "--out", str(MODELS)],
                       cwd=REPO, check=True)
    return MODELS


def executor(name: str, node_class: str, accuracy: str, latency_ms: str) -> dict[str, Any]:
    return {
        "lang": "faasml-python3-http", "handler": str(REPO / "functions/executors"),
        "image": f"faasml/test-{name}:0", "constraints": [f"faasml.io/node-class={node_class}"],
        "environment": {"FAASML_MODEL": str(MODELS / f"{name}.card.json"), "FAASML_PROVIDER": "cpu",
                        "FAASML_INTRA_OP_THREADS": "1", "ready_path": "/ready"},
        "labels": {"faasml.io/role": "executor"},
        "annotations": {"faasml.io/task": "image-classification", "faasml.io/accuracy": accuracy,
                        "faasml.io/accuracy-source": "test stack", "faasml.io/latency-ms": latency_ms,
                        "faasml.io/node-class": node_class},
    }


class RuntimeStage:
    """`faasml up` over a stack of three image variants (edge: lite0-int8; cloud, behind a
    simulated round trip: lite1-fp32, lite2-fp32) and the selector."""

    def __init__(self, folder: Path, selector_env: dict[str, str], cloud_rtt_ms: float = 0.0,
                 port: int | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        functions = {
            "efficientnet-lite0-int8": executor("efficientnet-lite0-int8", "edge", "0.757", "12"),
            "efficientnet-lite1-fp32": executor("efficientnet-lite1-fp32", "cloud", "0.79", "30"),
            "efficientnet-lite2-fp32": executor("efficientnet-lite2-fp32", "cloud", "0.81", "45"),
            "selector": {"lang": "faasml-python3-http", "handler": str(REPO / "functions/selector"),
                         "image": "faasml/test-selector:0", "labels": {"faasml.io/role": "selector"},
                         "environment": {"FAASML_SERVER_THREADS": "64", **selector_env}},
        }
        (folder / "stack.yml").write_text(yaml.safe_dump(
            {"version": 1.0, "provider": {"name": "openfaas"}, "functions": functions}))
        nodes = [{"name": "edge", "labels": {"faasml.io/node-class": "edge"}, "cpus": "0", "rtt_ms": 0},
                 {"name": "cloud", "labels": {"faasml.io/node-class": "cloud"}, "cpus": "1-",
                  "rtt_ms": cloud_rtt_ms}]
        (folder / "nodes.yml").write_text(yaml.safe_dump({"nodes": nodes}))
        self.process: subprocess.Popen | None = None
        self.password = ""

    def start(self, timeout_s: float = 120.0) -> "RuntimeStage":
        log = open(self.folder / "up.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "faasml", "up", "-f", str(self.folder / "stack.yml"),
             "--nodes", str(self.folder / "nodes.yml"), "--port", str(self.port),
             "--state-dir", str(self.folder / "state")], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"faasml up exited: {(self.folder / 'up.log').read_text()[-3000:]}")
            if self.all_ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"runtime not ready: {(self.folder / 'up.log').read_text()[-3000:]}")

    def functions(self) -> list[dict[str, Any]]:
        if not self.password:
            path = self.folder / "state" / "basic-auth-password"
            self.password = path.read_text().strip() if path.exists() else ""
        request = urllib.request.Request(f"{self.url}/system/functions")
        request.add_header("Authorization", "Basic " + __import__("base64").b64encode(
            f"admin:{self.password}".encode()).decode())
        return json.loads(urllib.request.urlopen(request, timeout=5).read())

    def all_ready(self) -> bool:
        try:
            functions = self.functions()
            ready = urllib.request.urlopen(f"{self.url}/function/selector/ready", timeout=5).status == 200
        except (OSError, ValueError):
            return False
        return ready and len(functions) == 4 and all(f["availableReplicas"] >= 1 for f in functions)

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
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def cat_image(scale: int = 1, format: str = "JPEG") -> bytes:
    """scikit-image's `chelsea` (a tabby cat); enlarged as PNG it takes the executor a
    few hundred ms to decode (PNG, unlike JPEG, cannot be decoded at reduced size)."""
    import io

    import skimage.data
    from PIL import Image

    image = Image.fromarray(skimage.data.chelsea())
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale))
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()

