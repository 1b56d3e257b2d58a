"""Async calls and cold starts on the repository's stack with a real model: the selector
behind the async queue (reading its gateway credential from the mounted `basic-auth`
secret, with no password in any function's environment) answers an async call's callback,
and `faasml bench coldstart` measures a variant from zero replicas."""
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
from tests.runtime.callbacks import CallbackReceiver

REPO = Path(__file__).resolve().parents[2]
VARIANT = "efficientnet-lite0-int8"


@pytest.mark.slow
def test_async_selector_call_is_classified_and_called_back(reference_models, tmp_path):
    from PIL import Image
    from skimage import data

    photo = io.BytesIO()
    Image.fromarray(data.chelsea()).save(photo, format="JPEG")
    port, receiver = free_port(), CallbackReceiver()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD")}
    runtime = subprocess.Popen(
        [sys.executable, "-m", "faasml", "up", "-f", str(REPO / "stack.yml"), "--port", str(port),
         "--filter", VARIANT, "--filter", "selector", "--state-dir", str(tmp_path / "state")],
        env=env, cwd=REPO, stdout=open(tmp_path / "out.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the selector is ready once it listed the variants
            try:
                if requests.get(url + "/function/selector/variants", timeout=5).json().get("variants"):
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        query = "?task=image-classification&tradeoff=0.5"
        accepted = requests.post(url + "/async-function/selector" + query, data=photo.getvalue(),
                                 headers={"X-Callback-Url": receiver.url}, timeout=10)
        assert accepted.status_code == 202, accepted.text
        (headers, body), = receiver.wait_for(1, timeout_s=60)
        assert headers["X-Call-Id"] == accepted.headers["X-Call-Id"], (tmp_path / "out.log").read_text()
        assert headers["X-Function-Status"] == "200", body
        assert headers["X-Faasml-Variant"] == VARIANT
    finally:
        receiver.close()
        runtime.send_signal(signal.SIGTERM)
        runtime.wait(30)


@pytest.mark.slow
def test_bench_coldstart_measures_a_variant_from_zero_beside_a_trivial_function(reference_models, tmp_path):
    import json

    result = subprocess.run(
        [sys.executable, "-m", "faasml", "bench", "coldstart", "--variant", VARIANT, "--rounds", "1",
         "--warm", "1", "--json", str(tmp_path / "cold.json")],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    trivial, variant = json.loads((tmp_path / "cold.json").read_text())
    assert (trivial["function"], variant["function"]) == ("bench-trivial", VARIANT)
    # cold: a process started and (for the variant) a model loaded, so slower than warm
    assert variant["cold_ms"][0] > variant["warm_ms"][0] and variant["model_load_s"][0] > 0
    assert f"| {VARIANT} |" in result.stdout
