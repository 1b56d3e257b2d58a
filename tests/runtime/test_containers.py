"""Real images on podman: the selector and two executors, built by the stock faas-cli
(`faasml images build`, as `make images`), run as containers behind `faasml up`.

Skipped where podman, faas-cli, the stock of-watchdog or (for a first base image)
debootstrap is absent. The images are built under their own registry prefix and removed
at the end; the base and watchdog images and podman's layer cache are kept, so a second
run rebuilds nothing but the small code layers. First run here: about 3-6 minutes, most
of it pip installing the shared dependencies layer once.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
import requests

from faasml.images.bases import base_image_name
from faasml.images.build import build_images, why_not_buildable
from faasml.images.engine import EngineError, Podman
from faasml.images.tools import OF_WATCHDOG, find_tool, missing_reason
from faasml.launch import LocalPlatform
from faasml.runtime.containers import LABEL, WATCHDOG_PORT
from faasml.runtime.replicas import free_port
from faasml.runtime.stack import load_stack
from tests.clone import fresh_clone

ROOT = Path(__file__).resolve().parents[2]
# Its own names: podman's image store is the machine's, and another checkout's test run at
# the same time would otherwise retag these names under this one's checks.
REGISTRY = f"localhost/faasml-test-{os.getpid()}"
EXECUTORS = ("efficientnet-lite0-int8", "efficientnet-lite0-fp32")
FUNCTIONS = ("selector", *EXECUTORS)
PASSWORD = "container-test"


def _why_skip() -> str | None:
    if why_not_buildable():
        return why_not_buildable()
    if find_tool(OF_WATCHDOG) is None:
        return missing_reason(OF_WATCHDOG)
    if os.geteuid() != 0:
        return "needs root podman (debootstrap and cgroupfs, as in CI)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_why_skip() is not None, reason=str(_why_skip()))]


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Podman:
    return Podman(tmp_path_factory.mktemp("podman"))


@pytest.fixture(scope="module")
def images(reference_models, podman) -> dict[str, str]:
    if not podman.image_exists(base_image_name()) and not _has("debootstrap"):
        pytest.skip("no base image and no debootstrap to make one: apt-get install debootstrap (make test does, as root)")
    env = {"FAASML_REGISTRY": REGISTRY}
    built = build_images(ROOT / "stack.yml", list(FUNCTIONS), podman.conf_dir, env=env, log=lambda _: None)
    yield {image.function: image.image for image in built}
    podman.remove_images(*(image.image for image in built))


def _has(program: str) -> bool:
    from shutil import which
    return which(program) is not None


def _photo() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, format="JPEG")  # a real photo of a cat
    return buffer.getvalue()


def test_each_executor_image_holds_only_its_own_model(images, podman):
    for name in EXECUTORS:
        listed = podman.run("run", "--rm", "--entrypoint", "ls", images[name], "models").stdout.decode().split()
        assert listed == [f"{name}.card.json", f"{name}.onnx"], listed
    selector = podman.run("run", "--rm", "--entrypoint", "ls", images["selector"], "models").stdout
    assert selector.decode().split() == []
    # the dependencies layer is one layer shared by every executor; the selector's is its own
    # (its role's extra), above the same base, watchdog and user layers
    base = len(podman.image_layers(base_image_name()))
    executors = [set(podman.image_layers(images[name])) for name in EXECUTORS]
    shared = set.intersection(*executors)
    assert len(shared) >= base + 3  # base, watchdog, user, deps
    assert base + 2 <= len(shared & set(podman.image_layers(images["selector"]))) < len(shared)


def _installed(podman, image: str) -> set[str]:
    listed = podman.run("run", "--rm", "--entrypoint", "pip", image, "list", "--format", "freeze").stdout
    return {line.split("==")[0].lower().replace("_", "-") for line in listed.decode().split()}


def test_each_image_installs_only_its_roles_dependencies(images, podman):
    """pyproject.toml's extras by role: an executor carries ONNX Runtime, its decoders and
    tokenizers, and no transformers or aiohttp; the selector no ONNX Runtime or OpenCV."""
    executor = _installed(podman, images["efficientnet-lite0-int8"])
    assert {"onnxruntime", "opencv-python-headless", "simplejpeg", "pillow", "tokenizers", "numpy"} <= executor
    assert not executor & {"transformers", "torch", "aiohttp", "requests"}, executor
    selector = _installed(podman, images["selector"])
    assert {"numpy", "uvicorn", "httptools", "multidict", "uvloop"} <= selector
    assert not selector & {"onnxruntime", "opencv-python-headless", "pillow", "simplejpeg", "tokenizers",
                           "transformers", "aiohttp"}, selector


def test_executor_is_not_ready_until_its_model_loads_and_runs_as_non_root(images, podman):
    spec = load_stack(ROOT / "stack.yml", env={"FAASML_REGISTRY": REGISTRY}).functions["efficientnet-lite0-fp32"]
    port, name = free_port(), f"faasml-test-ready-{os.getpid()}"
    args = ["run", "-d", "--rm", "--name", name, "--pull", "never", "--cpus", "0.25",
            "--publish", f"127.0.0.1:{port}:{WATCHDOG_PORT}"]
    for key, value in spec.environment.items():
        args += ["--env", f"{key}={value}"]
    podman.run(*args, images["efficientnet-lite0-fp32"])
    try:
        seen, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/_/ready", timeout=2)
                seen.append(answer.status_code)
                if answer.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.02)
        # of-watchdog answered 503 (the handler's /ready: model loading) before it answered 200
        assert seen and seen[-1] == 200 and 503 in seen, seen
        loading = seen.index(503)
        assert all(code == 503 for code in seen[loading:-1]), seen
        processes = podman.run("top", name, "user", "args").stdout.decode().splitlines()[1:]
        assert processes and all(line.split()[0] != "root" for line in processes), processes
        assert any("index.py" in line for line in processes), processes
    finally:
        podman.run("rm", "--force", "--ignore", name, check=False)


def test_faasml_up_runs_the_images_as_containers_and_classifies_a_photo(images, podman, tmp_path):
    up = LocalPlatform(tmp_path, ROOT / "stack.yml", only=FUNCTIONS, cwd=ROOT, password=PASSWORD,
                       env={"FAASML_REGISTRY": REGISTRY}, args=["--containers", "podman"],
                       start_timeout_s=180, stop_grace_s=60)
    state = up.state_dir
    with up:
        up.wait_ready("image-classification")
        assert _all_available(up.url), up.log_text()
        running = podman.run("ps", "--filter", f"label={LABEL}={state.resolve()}",
                             "--format", "{{.Image}}").stdout.decode().split()
        assert sorted(running) == sorted(images.values())
        response = requests.post(f"{up.url}/function/selector", data=_photo(),
                                 params={"task": "image-classification"},
                                 headers={"Content-Type": "image/jpeg"}, timeout=60)
        assert response.status_code == 200, response.text + up.log_text()
        assert response.headers["X-Faasml-Variant"] in EXECUTORS
        top = response.json()["predictions"][0]["label"].lower()
        assert "cat" in top or "tabby" in top, response.json()
    left = podman.run("ps", "-a", "-q", "--filter", f"label={LABEL}={state.resolve()}").stdout.split()
    assert left == [], "containers left behind"


def _all_available(url: str) -> bool:
    try:
        for name in FUNCTIONS:
            status = requests.get(f"{url}/system/function/{name}", auth=("admin", PASSWORD), timeout=5)
            if status.status_code != 200 or status.json()["availableReplicas"] < 1:
                return False
    except requests.RequestException:
        return False
    return True


def test_an_executor_build_before_make_models_says_to_run_it(images, podman, tmp_path):
    clone = fresh_clone(tmp_path / "clone")  # models/ holds only its README
    with pytest.raises(EngineError, match="run 'make models' before building images"):
        build_images(clone / "stack.yml", ["efficientnet-lite0-int8"], podman.conf_dir,
                     env={"FAASML_REGISTRY": REGISTRY + "-no-model"}, log=lambda _: None)
