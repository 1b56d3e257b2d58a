"""Async calls and cold starts on the repository's stack with a real model: the selector
behind the async queue (reading its gateway credential from the mounted `basic-auth`
secret, with no password in any function's environment) answers an async call's callback,
and `faasml bench coldstart` measures a variant from zero replicas."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from faasml.launch import LocalPlatform
from tests.runtime.callbacks import CallbackReceiver

REPO = Path(__file__).resolve().parents[2]
VARIANT = "efficientnet-lite0-int8"


@pytest.mark.slow
def test_async_selector_call_is_classified_and_called_back(reference_models, tmp_path):
    from PIL import Image
    from skimage import data

    photo = io.BytesIO()
    Image.fromarray(data.chelsea()).save(photo, format="JPEG")
    receiver = CallbackReceiver()
    # The runtime keeps its password out of every function's environment: the selector
    # reads it from its `basic-auth` secret.
    try:
        with LocalPlatform(tmp_path, only=(VARIANT, "selector"), start_timeout_s=90) as runtime:
            runtime.wait_ready("image-classification")   # the selector listed the variant
            query = "?task=image-classification&tradeoff=0.5"
            accepted = requests.post(runtime.url + "/async-function/selector" + query, data=photo.getvalue(),
                                     headers={"X-Callback-Url": receiver.url}, timeout=10)
            assert accepted.status_code == 202, accepted.text
            (headers, body), = receiver.wait_for(1, timeout_s=60)
            assert headers["X-Call-Id"] == accepted.headers["X-Call-Id"], runtime.log_text()
            assert headers["X-Function-Status"] == "200", body
            assert headers["X-Faasml-Variant"] == VARIANT
    finally:
        receiver.close()

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
