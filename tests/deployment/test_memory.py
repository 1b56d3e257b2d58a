"""faasml bench memory's parts: reading a process's memory, the sizing rule, and the stock
of-watchdog's own footprint."""
from __future__ import annotations

import subprocess
import sys

import pytest

from faasml.deployment.memory import proc_memory_mib, sized, watchdog_memory_mib


def test_sizing_rounds_up_to_whole_steps():
    assert sized(100.0, 15.0, 1.25) == 144          # 143.75 -> 144 (9 x 16)
    assert sized(128.0, 0.0, 1.0) == 128            # exact multiples stay
    assert sized(128.1, 0.0, 1.0) == 144
    assert sized(393.1, 15.7, 2.0, step_mib=32) == 832


def test_reads_resident_and_peak_memory_of_a_process():
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; b = bytearray(64 * 1024 * 1024); sys.stdout.write('x'); "
                              "sys.stdout.flush(); time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        assert child.stdout.read(1) == b"x"  # the 64 MiB are touched
        rss, peak = proc_memory_mib(child.pid)
        assert 64 <= rss <= peak
    finally:
        child.kill()
        child.wait()
    assert proc_memory_mib(child.pid) is None  # gone


def test_of_watchdog_footprint():
    from faasml.images.tools import OF_WATCHDOG, find_tool, missing_reason

    fwatchdog = find_tool(OF_WATCHDOG)
    if not fwatchdog:
        pytest.skip(missing_reason(OF_WATCHDOG))
    peak = watchdog_memory_mib(fwatchdog, requests_count=50)
    assert peak is not None and 2 < peak < 100


def test_a_watchdog_that_never_serves_gives_no_figure(tmp_path):
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    assert watchdog_memory_mib(str(silent), requests_count=1, timeout_s=2) is None
