"""Image size and cold start per function image: `podman run` until the function is ready.

Cold start is measured from just before `podman run` to the first 200 on the function's
`ready_path` through of-watchdog (the executors: model loaded), or on of-watchdog's
`/_/health` where there is none (the selector). It covers container creation, the
watchdog and Python starting, imports and the model load: what a scale-from-zero or a
rescheduled pod waits for before its first request, with the image already on the node.
"""
from __future__ import annotations

import http.client
import statistics
import time
import uuid
from pathlib import Path

from faasml.images.engine import EngineError, Podman
from faasml.images.platforms import emulated_run_args, host_arch, tag_for
from faasml.runtime.containers import WATCHDOG_PORT
from faasml.runtime.replicas import free_port
from faasml.runtime.stack import FunctionSpec, load_stack

READY_TIMEOUT_S = 120.0
POLL_S = 0.02


def http_status(port: int, path: str, timeout_s: float = 1.0) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def cold_start_s(podman: Podman, spec: FunctionSpec, image: str | None = None, arch: str | None = None) -> float:
    port, name = free_port(), f"faasml-coldstart-{uuid.uuid4().hex[:8]}"
    args = ["run", "-d", "--rm", "--name", name, "--pull", "never",
            "--publish", f"127.0.0.1:{port}:{WATCHDOG_PORT}",
            *emulated_run_args(arch or host_arch(), podman.conf_dir)]
    for key, value in spec.environment.items():
        args += ["--env", f"{key}={value}"]
    path = spec.ready_path or "/_/health"
    started = time.monotonic()
    try:
        podman.run(*args, image or spec.image)
        while time.monotonic() - started < READY_TIMEOUT_S:
            if http_status(port, path) == 200:
                return time.monotonic() - started
            time.sleep(POLL_S)
        raise EngineError(f"{spec.name}: {path} not 200 within {READY_TIMEOUT_S:g}s")
    finally:
        podman.run("rm", "--force", "--ignore", name, check=False)


def model_bytes(podman: Podman, image: str) -> int:
    """Bytes under the image's models/: the layer only this variant's image carries."""
    out = podman.run("run", "--rm", "--pull", "never", "--entrypoint", "du", image, "-sb", "models").stdout
    return int(out.decode().split()[0])


def measure_images(stack_path: Path, functions: list[str], runs: int, conf_dir: Path,
                   arch: str | None = None) -> list[dict]:
    if Podman.available():
        raise EngineError(Podman.available())
    podman = Podman(conf_dir)
    specs = load_stack(stack_path).functions
    rows = []
    for name in functions:
        spec = specs[name]
        image = tag_for(spec.image, arch or host_arch())
        if not podman.image_exists(image):
            raise EngineError(f"image {image} is not built: run `make images`")
        times = [cold_start_s(podman, spec, image, arch) for _ in range(runs)]
        rows.append({
            "function": name, "image": image, "arch": arch or host_arch(),
            "size_mb": podman.image_size(image) / 1e6,
            "layers": len(podman.image_layers(image)),
            "model_mb": model_bytes(podman, image) / 1e6,
            "cold_start_s": {"median": statistics.median(times), "min": min(times), "max": max(times),
                             "runs": [round(t, 3) for t in times]},
        })
    return rows
