"""CPU requests as scheduling weights (faasml/cpu.py) and the replica launcher's nice."""
from __future__ import annotations

import subprocess
import sys

import pytest

from faasml.cpu import cpu_millis, nice_for


@pytest.mark.parametrize("requests, millis", [
    ({"cpu": "250m"}, 250.0), ({"cpu": "0.5"}, 500.0), ({"cpu": "2"}, 2000.0),
    ({"memory": "1Gi"}, 1000.0), (None, 1000.0), ({"cpu": "lots"}, 1000.0), ({"cpu": "-1"}, 1000.0)])
def test_cpu_requests_read_as_kubernetes_does(requests, millis):
    assert cpu_millis(requests) == millis


def test_nice_values_weigh_as_the_requests_do():
    assert nice_for(1000.0) == nice_for(4000.0) == 0
    assert nice_for(100.0) == 10          # 1.25 ** 10 ~ 9.3: a tenth of the CPU
    assert nice_for(500.0) == 3           # 1.25 ** 3 ~ 1.95: half
    assert nice_for(1.0) == 19            # capped at the kernel's lowest priority


def test_the_replica_launcher_applies_the_nice_value():
    probe = [sys.executable, "-c", "import os; print(os.nice(0))"]
    niced = subprocess.run([sys.executable, "-m", "faasml.runtime.pinned_exec", "all", "7", "--", *probe],
                           capture_output=True, text=True, timeout=30)
    plain = subprocess.run([sys.executable, "-m", "faasml.runtime.pinned_exec", "all", "--", *probe],
                           capture_output=True, text=True, timeout=30)
    base = int(plain.stdout)
    assert int(niced.stdout) == min(19, base + 7)
