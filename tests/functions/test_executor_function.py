"""The executor function as OpenFaaS runs it: the template's index.py + the handler, a real
process on a free port, driven over HTTP."""
from __future__ import annotations

import subprocess
import time

import pytest
import requests

from tests.executor.conftest import encode
from tests.gpu import WITHOUT_GPU_ONLY, cuda_session_works
from tests.executor.test_service import png_claiming

from .process import start_function


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> list[int]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()
        try:
            seen.append(requests.get(f"{url}/ready", timeout=2).status_code)
            if seen[-1] == 200:
                return seen
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout}s: {seen}")


@pytest.fixture
def function(tmp_path, tiny_models):
    process, url = start_function(tmp_path, {"FAASML_MODEL": str(tiny_models["image"]),
                                             "FAASML_MAX_BODY_BYTES": "100000"})
    wait_ready(url, process)
    yield process, url
    process.terminate()
    process.wait(10)


def test_serves_predictions_health_and_survives_bad_input(function):
    process, url = function
    health = requests.get(f"{url}/health", timeout=5).json()
    assert health["status"] == "ready" and health["provider"] == "CPUExecutionProvider"

    ok = requests.post(url, data=encode((250, 5, 5), "PNG"), headers={"Content-Type": "image/png"},
                       params={"top_k": 1}, timeout=5)
    assert ok.status_code == 200 and ok.json()["predictions"][0]["label"] == "red"
    assert float(ok.headers["X-Faasml-Compute-Ms"]) > 0

    bad = [
        (b"", {}, 400), (b"\x00\x01garbage", {}, 400), (png_claiming(90000, 90000), {}, 413),
        (b"x" * 100_001, {}, 413), (b"{}", {"Content-Type": "application/json"}, 415),
    ]
    for body, headers, status in bad:
        response = requests.post(url, data=body, headers=headers, timeout=5)
        assert response.status_code == status, (status, response.text)
        assert response.headers["Content-Type"].startswith("application/json")
        assert "error" in response.json()
    assert process.poll() is None
    assert requests.post(url, data=encode((5, 5, 250)), timeout=5).json()["predictions"][0]["label"] == "blue"


def test_not_ready_until_loaded_then_ready(tmp_path, tiny_models):
    process, url = start_function(tmp_path, {"FAASML_MODEL": str(tiny_models["text"])})
    try:
        wait_ready(url, process)
        response = requests.post(url, data="hello".encode(), timeout=5)
        assert response.status_code == 200 and response.json()["dim"] == 8
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.skipif(cuda_session_works(), reason=WITHOUT_GPU_ONLY)
def test_cuda_variant_reports_the_error_on_its_ready_path(tmp_path, tiny_models):
    process, url = start_function(tmp_path, {"FAASML_MODEL": str(tiny_models["image"]),
                                             "FAASML_PROVIDER": "cuda"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = requests.get(f"{url}/ready", timeout=2)
                if ready.json()["error"]["code"] != "loading":
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "provider_unavailable"
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(10)
