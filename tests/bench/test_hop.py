"""The hop benchmark's CPU reading of the selector process (faasml/bench/hop.py)."""
from __future__ import annotations

import os
import subprocess
import sys

from faasml.bench.hop import process_cpu_s


def test_a_process_cpu_time_grows_with_its_work_and_is_none_once_it_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: sum(range(10000))"])
    try:
        first = process_cpu_s(child.pid)
        import time
        time.sleep(0.5)
        assert first is not None and process_cpu_s(child.pid) > first
    finally:
        child.kill()
        child.wait()
    assert process_cpu_s(child.pid) is None
    assert process_cpu_s(os.getpid()) > 0
