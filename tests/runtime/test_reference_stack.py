"""The repository's own stack.yml under `faasml up` (what `make run` starts) classifies a photo."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from faasml.runtime.replicas import free_port

REPO = Path(__file__).resolve().parents[2]
VARIANT = "efficientnet-lite0-int8"


@pytest.mark.slow
def test_make_run_stack_serves_a_classification(reference_models, tmp_path):
    from PIL import Image
    from skimage import data

    photo = io.BytesIO()
    Image.fromarray(data.chelsea()).save(photo, format="JPEG")  # a real photo of a cat
    port = free_port()
    runtime = subprocess.Popen(
        [sys.executable, "-m", "faasml", "up", "-f", str(REPO / "stack.yml"), "--port", str(port),
         "--filter", VARIANT, "--state-dir", str(tmp_path / "state")],
        env=dict(os.environ, FAASML_GATEWAY_PASSWORD="x"), cwd=REPO,
        stdout=open(tmp_path / "out.log", "w"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/function/{VARIANT}"
        deadline, response = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                response = requests.post(url, data=photo.getvalue(), timeout=30)
                if response.status_code != 503:  # 503 only while the model loads
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert response is not None and response.status_code == 200, (tmp_path / "out.log").read_text()
        assert response.headers["X-Faasml-Variant"] == VARIANT
        top = response.json()["predictions"][0]["label"]
        assert "cat" in top.lower() or "tabby" in top.lower(), response.json()
        status = requests.get(f"http://127.0.0.1:{port}/system/function/{VARIANT}", auth=("admin", "x"),
                              timeout=5).json()
        assert status["faasml"]["nodes"] == ["edge"]  # its constraint, on the default nodes file
    finally:
        runtime.send_signal(signal.SIGTERM)
        runtime.wait(30)
