"""The repository's own stack.yml under `faasml up` (what `make run` starts) classifies a photo."""
from __future__ import annotations

import io

import pytest
import requests

from faasml.launch import LocalPlatform

VARIANT = "efficientnet-lite0-int8"


@pytest.mark.slow
def test_make_run_stack_serves_a_classification(reference_models, tmp_path):
    from PIL import Image
    from skimage import data

    photo = io.BytesIO()
    Image.fromarray(data.chelsea()).save(photo, format="JPEG")  # a real photo of a cat
    with LocalPlatform(tmp_path, only=(VARIANT,), start_timeout_s=60) as runtime:
        runtime.wait_ready()   # its replica answered its ready path: the model is loaded
        response = requests.post(f"{runtime.url}/function/{VARIANT}", data=photo.getvalue(), timeout=30)
        assert response.status_code == 200, runtime.log_tail()
        assert response.headers["X-Faasml-Variant"] == VARIANT
        top = response.json()["predictions"][0]["label"]
        assert "cat" in top.lower() or "tabby" in top.lower(), response.json()
        # its constraint, on the default nodes file
        assert runtime.status(VARIANT)["faasml"]["nodes"] == ["edge"]
