"""An arm64 executor image, built here and run here under emulation: the same
`faasml images build` path as `make images PLATFORMS=linux/arm64`, the stock faas-cli on
podman, an arm64 Debian base, the stock arm64 of-watchdog and aarch64 wheels from PyPI.
Run under podman (qemu through binfmt_misc), it classifies the sample photo with the same
top-1 as ONNX Runtime on this amd64 machine.

Skipped, with the reason, where podman, faas-cli, the arm64 of-watchdog, root or arm64
emulation is missing (make test installs and turns on what it can, as root). The first
run makes the arm64 base with debootstrap under qemu and installs the wheels there: minutes
(docs/deployment.md gives the figures); later runs reuse podman's layer cache.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from faasml.images.bases import base_image_name
from faasml.images.build import build_images, why_not_buildable
from faasml.images.engine import Podman
from faasml.images.platforms import elf_arch, emulated_run_args, host_arch
from faasml.runtime.containers import WATCHDOG_PORT
from faasml.runtime.replicas import free_port
from faasml.runtime.stack import load_stack

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = f"localhost/faasml-test-{os.getpid()}"   # podman's store is the machine's: names of its own
VARIANT = "efficientnet-lite0-int8"     # the edge variant: what a Raspberry Pi runs
PHOTO = ROOT / "samples" / "cat.jpg"
READY_TIMEOUT_S = 600                   # model load under emulation, on a busy machine


def _why_skip() -> str | None:
    if host_arch() == "arm64":
        return "this machine is arm64: its own images are arm64 (tests/runtime/test_containers.py)"
    return why_not_buildable("arm64") or (None if os.geteuid() == 0 else
                                          "needs root podman (debootstrap and cgroupfs, as in CI)")


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_why_skip() is not None, reason=str(_why_skip()))]


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Podman:
    return Podman(tmp_path_factory.mktemp("podman-arm64"))


@pytest.fixture(scope="module")
def arm64_image(reference_models, podman) -> str:
    if not podman.image_exists(base_image_name("arm64")) and not shutil.which("debootstrap"):
        pytest.skip("no arm64 base image and no debootstrap to make one: apt-get install debootstrap")
    (built,) = build_images(ROOT / "stack.yml", [VARIANT], podman.conf_dir, env={"FAASML_REGISTRY": REGISTRY},
                            log=lambda _: None, arch="arm64")
    yield built.image
    podman.remove_images(built.image)


def _post(port: int, body: bytes) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST",
                                     headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_/ready", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def amd64_top1() -> dict:
    """The same variant and photo through ONNX Runtime on this machine (amd64)."""
    done = subprocess.run([sys.executable, "-m", "faasml", "predict", str(ROOT / "models" / f"{VARIANT}.card.json"),
                           str(PHOTO), "--top-k", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["predictions"][0]


def test_the_image_is_arm64_through_and_through(arm64_image, podman):
    assert arm64_image == f"{REGISTRY}/executor-{VARIANT}:0.1.0-arm64"   # the host's name stays free
    assert podman.run("image", "inspect", "--format", "{{.Architecture}}", arm64_image).stdout.decode().strip() == "arm64"
    watchdog = podman.run("run", "--rm", "--entrypoint", "cat", arm64_image, "/usr/bin/fwatchdog").stdout
    header = Path(podman.conf_dir) / "fwatchdog-from-image"
    header.write_bytes(watchdog[:64])
    assert elf_arch(header) == "arm64"
    machine = podman.run("run", "--rm", *emulated_run_args("arm64", podman.conf_dir), "--entrypoint", "python",
                         arm64_image, "-c", "import platform, onnxruntime; print(platform.machine(), "
                         "onnxruntime.get_device(), onnxruntime.__file__)")
    arch, device, module = machine.stdout.decode().split()
    assert (arch, device) == ("aarch64", "CPU") and module.startswith("/opt/venv/"), machine.stdout


def test_an_arm64_executor_classifies_the_sample_photo_as_amd64_does(arm64_image, podman):
    spec = load_stack(ROOT / "stack.yml", env={"FAASML_REGISTRY": REGISTRY}).functions[VARIANT]
    port, name = free_port(), f"faasml-test-arm64-{uuid.uuid4().hex[:8]}"
    args = ["run", "-d", "--rm", "--name", name, "--pull", "never", "--publish", f"127.0.0.1:{port}:{WATCHDOG_PORT}",
            *emulated_run_args("arm64", podman.conf_dir)]
    for key, value in spec.environment.items():
        args += ["--env", f"{key}={value}"]
    podman.run(*args, arm64_image)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ready(port):
            running = podman.run("container", "exists", name, check=False).returncode == 0
            assert running and time.monotonic() < deadline, \
                podman.run("logs", name, check=False).stdout.decode(errors="replace")[-3000:]
            time.sleep(1)
        answer = _post(port, PHOTO.read_bytes())
    finally:
        podman.run("rm", "--force", "--ignore", name, check=False)
    expected = amd64_top1()
    top1 = answer["predictions"][0]
    assert (top1["index"], top1["label"]) == (expected["index"], expected["label"]), (top1, expected)
    assert abs(top1["score"] - expected["score"]) < 0.05, (top1, expected)
