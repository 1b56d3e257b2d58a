"""stack.yml as a cluster deploys it: resources sized from the measurements recorded in
docs/deployment.md, replica bounds within OpenFaaS CE's, and what the stock faas-cli
generates from it carrying all of that."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from faasml.cpu import cpu_millis
from faasml.deployment.memory import sized

ROOT = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((ROOT / "stack.yml").read_text())
FUNCTIONS = STACK["functions"]
DOC = (ROOT / "docs" / "deployment.md").read_text()
CE_MAX_REPLICAS = 5


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, f"memory {quantity!r} is not in Mi or Gi"
    return int(match.group(1)) * units[match.group(2)]


def measured() -> tuple[float, dict[str, float]]:
    """(of-watchdog's peak MiB, {function: peak MiB}) from docs/deployment.md's sizing table."""
    watchdog = re.search(r"of-watchdog[^\n]*peak RSS:? \*{0,2}([\d.]+) MiB", DOC)
    assert watchdog, "docs/deployment.md records no of-watchdog peak RSS"
    peaks = {m.group(1): float(m.group(2))
             for m in re.finditer(r"^\| `?([a-z0-9-]+)`? \| ([\d.]+) \|", DOC, re.MULTILINE)}
    return float(watchdog.group(1)), peaks


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_resources_are_declared(name):
    function = FUNCTIONS[name]
    requests, limits = function["requests"], function["limits"]
    assert mebibytes(limits["memory"]) >= mebibytes(requests["memory"])
    assert "cpu" not in limits, "a CPU limit throttles: latency the selector cannot predict"
    assert cpu_millis(requests) == float(requests["cpu"].rstrip("m")), "requests.cpu must be millicores"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_memory_is_sized_from_the_recorded_measurement(name):
    watchdog, peaks = measured()
    assert name in peaks, f"docs/deployment.md's sizing table has no row for {name}"
    requests, limits = FUNCTIONS[name]["requests"], FUNCTIONS[name]["limits"]
    assert mebibytes(requests["memory"]) == sized(peaks[name], watchdog, 1.25)
    if FUNCTIONS[name]["labels"]["faasml.io/role"] == "executor":
        assert mebibytes(limits["memory"]) == sized(peaks[name], watchdog, 2.0)
    else:  # the selector keeps room for its many request bodies in flight
        assert mebibytes(limits["memory"]) >= sized(peaks[name], watchdog, 2.0)


def test_cpu_weights_are_what_faasml_up_schedules_with():
    """The edge node's fast lane weighs ten times its two neighbours; everything else is a
    whole CPU, as before these requests were written out (unset counts as 1000m)."""
    weights = {n: cpu_millis(f.get("requests")) for n, f in FUNCTIONS.items()}
    assert weights.pop("efficientnet-lite0-int8") == 1000
    assert weights.pop("efficientnet-lite0-fp32") == weights.pop("efficientnet-lite1-int8") == 100
    assert set(weights.values()) == {1000}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_replica_bounds(name):
    labels = FUNCTIONS[name]["labels"]
    low, high = int(labels["com.openfaas.scale.min"]), int(labels["com.openfaas.scale.max"])
    assert 1 <= low <= high <= CE_MAX_REPLICAS
    if labels["faasml.io/role"] == "selector":
        assert high == 1


def test_the_selector_reads_the_gateway_with_the_basic_auth_secret():
    assert FUNCTIONS["selector"]["secrets"] == ["basic-auth"]


# --- the stock faas-cli ---------------------------------------------------------------

def faas_cli() -> str:
    from faasml.images.tools import FAAS_CLI, find_tool, missing_reason

    found = find_tool(FAAS_CLI)
    if not found:
        pytest.skip(missing_reason(FAAS_CLI))
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, dict]:
    """`faas-cli generate -f stack.yml`: the openfaas.com/v1 Function objects. generate
    needs neither the templates nor a gateway, so it works on the layout as it is."""
    env = dict(os.environ, OPENFAAS_CONFIG=str(tmp_path_factory.mktemp("faas-cli")))
    result = subprocess.run([faas_cli(), "generate", "-f", "stack.yml"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    return {o["metadata"]["name"]: o for o in objects}


FUNCTION_SPEC_FIELDS = {"name", "image", "handler", "annotations", "labels", "environment", "constraints",
                        "secrets", "limits", "requests", "readOnlyRootFilesystem"}


def test_generate_writes_one_function_per_stack_entry(generated):
    assert set(generated) == set(FUNCTIONS)
    for name, function in generated.items():
        assert function["apiVersion"] == "openfaas.com/v1" and function["kind"] == "Function"
        assert function["metadata"]["namespace"] == "openfaas-fn"
        assert set(function["spec"]) <= FUNCTION_SPEC_FIELDS, name


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_generate_carries_placement_and_resources(generated, name):
    spec, entry = generated[name]["spec"], FUNCTIONS[name]
    assert spec["labels"] == {k: str(v) for k, v in entry["labels"].items()}
    assert spec["annotations"] == {k: str(v) for k, v in entry["annotations"].items()}
    assert spec.get("constraints", []) == entry.get("constraints", [])
    assert spec.get("secrets", []) == entry.get("secrets", [])
    assert {k: v for k, v in spec["requests"].items() if v} == entry["requests"]
    assert {k: v for k, v in spec["limits"].items() if v} == entry["limits"]
