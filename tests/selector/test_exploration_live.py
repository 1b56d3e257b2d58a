"""Exploration on a running platform: `faasml up` with the real selector started on a
profiles file that is wrong for one variant (ten times too slow, measured on another
machine) routes that variant its fair share under a steady load within 60 s.

Two executors that are the same in every way (the sleepy test executor: 10 ms per
request, accuracy 0.7, one node) make the fair share known without a second run: by
symmetry it is one half. Without exploration the mislabelled one would get nothing at
tradeoff 0 (test_exploration.py shows that on the engine)."""
from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import pytest

from faasml.launch import LocalPlatform, executor_function, selector_function

REPO = Path(__file__).resolve().parents[2]
SLEEPY = REPO / "tests" / "client" / "functions" / "sleepy"
TASK = "explore-task"
TRUE_MS = 10.0
WITHIN_S = 60.0
WINDOW = 60          # the last answers the share is judged on
FAIR_SHARE = 0.5


def _twin(name: str) -> dict:
    entry = executor_function(name, SLEEPY / "handler.py", TASK, "slow", 0.7, TRUE_MS, handler=SLEEPY)
    entry["environment"] = {"TASK": TASK, "SLEEP_S": str(TRUE_MS / 1000.0)}
    return entry


@pytest.fixture
def platform(tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({
        "measured_on": "another machine (a test)", "method": "deliberately wrong for one variant",
        "variants": {"steady": {"compute_ms": TRUE_MS, "overhead_ms": 1.0},
                     "mislabelled": {"compute_ms": 10 * TRUE_MS, "overhead_ms": 1.0}}}))
    functions = {
        "steady": _twin("steady"),
        "mislabelled": _twin("mislabelled"),
        # Exploration at its defaults (FAASML_EXPLORE_S, FAASML_EXPLORE_AGED_S unset).
        "selector": selector_function({"FAASML_PROFILES": str(profiles), "FAASML_PROTECT_S": "0",
                                       "FAASML_REGISTRY_REFRESH_S": "1", "FAASML_METRICS_POLL_S": "0.5"},
                                      REPO / "functions/selector"),
    }
    nodes = [{"name": "slow", "labels": {"faasml.io/node-class": "slow"}, "cpus": "all"}]
    stage = LocalPlatform.generated(tmp_path, functions, nodes).up(TASK, timeout_s=180)
    yield stage
    stage.stop()


def test_a_variant_with_a_ten_times_wrong_profile_gets_its_fair_share_within_a_minute(platform):
    path = f"/function/selector?task={TASK}&tradeoff=0"
    chosen: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < WITHIN_S:
        status, headers, body = platform.call(path, b"x", {"Content-Type": "application/octet-stream"})
        assert status == 200, (status, body[:300])
        chosen.append(headers["X-Faasml-Variant"])
        recent = collections.Counter(chosen[-WINDOW:])
        if len(chosen) >= WINDOW and recent["mislabelled"] >= WINDOW * FAIR_SHARE * 0.6:
            break
        time.sleep(0.05)    # a steady load of about 15 requests a second
    took = time.monotonic() - started
    recent = collections.Counter(chosen[-WINDOW:])
    # Within a minute, at least 60 % of its fair share (one half) of the last 60 answers:
    # a dozen answers replace the wrong profile, then the twins tie and share.
    assert recent["mislabelled"] >= WINDOW * FAIR_SHARE * 0.6, (recent, len(chosen), f"{took:.0f} s")
    first = chosen.index("mislabelled") if "mislabelled" in chosen else None
    assert first is not None and first < len(chosen) - WINDOW / 2, "never explored before the last window"
