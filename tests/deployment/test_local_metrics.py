"""stack.yml names the cluster's gateway metrics URL for the selector; under `faasml up`
the selector must still read the local gateway's load (the runtime overrides the URL)."""
from __future__ import annotations

import time

import pytest

from faasml.launch import LocalPlatform

VARIANT = "efficientnet-lite0-int8"


@pytest.mark.slow
def test_the_selector_reads_load_from_faasml_up(reference_models, tmp_path):
    with LocalPlatform(tmp_path, only=["selector", VARIANT], start_timeout_s=120) as platform:
        platform.wait_ready("image-classification")
        # The gateway has a series for a function once it has been called.
        from faasml.profiling.measure import sample_input

        body, content_type = sample_input("image-classification")
        assert platform.http.post(f"{platform.url}/function/{VARIANT}", data=body, timeout=30,
                                  headers={"Content-Type": content_type}).status_code == 200
        deadline, live = time.monotonic() + 20, {}
        while time.monotonic() < deadline:
            variants = platform.http.get(f"{platform.url}/function/selector/variants", timeout=5).json()
            live = next(v["live"] for v in variants["variants"] if v["function"] == VARIANT)
            if live["gateway_inflight"] is not None:  # a fresh reading of the gateway's load
                break
            time.sleep(0.5)
        assert live["gateway_inflight"] is not None, f"no gateway load read: {live}\n{platform.log_tail()}"
