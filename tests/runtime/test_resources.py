"""Kubernetes quantities in `limits` and `requests`, and the 400 for ones that mean nothing."""
from __future__ import annotations

import pytest

from faasml.runtime.resources import BadQuantity, check_resources, cpu_cores, memory_bytes
from faasml.runtime.stack import FunctionSpec


def test_memory_quantities_in_every_suffix():
    assert memory_bytes("5Mi") == 5 * 2 ** 20 and memory_bytes("0.5Gi") == 2 ** 29
    assert memory_bytes("128M") == 128 * 10 ** 6 and memory_bytes("512Ki") == 512 * 1024
    assert memory_bytes("134217728") == 134217728 and memory_bytes("1e3") == 1000
    assert memory_bytes("1.5k") == 1500 and memory_bytes(" 2Gi ") == 2 ** 31
    assert memory_bytes("100m") == 1  # 0.1 byte rounds up, as Kubernetes rounds to whole bytes


def test_cpu_quantities():
    assert cpu_cores("100m") == 0.1 and cpu_cores("2") == 2.0 and cpu_cores("0.25") == 0.25


@pytest.mark.parametrize("bad", ["", "lots", "5MB", "-1Gi", "0", "1..2", "Mi", "1 Mi 2"])
def test_bad_quantities_are_refused(bad):
    with pytest.raises(BadQuantity):
        memory_bytes(bad)


def test_a_spec_with_unknown_or_unreadable_resources_is_a_400():
    check_resources(FunctionSpec(name="f", image="x", limits={"memory": "5Mi", "cpu": "100m"},
                                 requests={"memory": "1Mi"}))
    with pytest.raises(BadQuantity, match="limits.memory") as raised:
        check_resources(FunctionSpec(name="f", image="x", limits={"memory": "huge"}))
    assert raised.value.status == 400 and raised.value.code == "bad_resources"
    with pytest.raises(BadQuantity, match="requests.gpu"):
        check_resources(FunctionSpec(name="f", image="x", requests={"gpu": "1"}))
