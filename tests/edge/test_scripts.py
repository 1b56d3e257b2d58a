"""edge/'s shell scripts parse (bash -n, and shellcheck where installed), and use the
pinned versions rather than versions of their own."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.edge.conftest import EDGE, pinned_versions

SCRIPTS = sorted(EDGE.rglob("*.sh"))


def test_edge_has_the_scripts():
    names = {p.relative_to(EDGE).as_posix() for p in SCRIPTS}
    assert {"up.sh", "k3s/server.sh", "k3s/agent.sh", "openfaas/install.sh",
            "placement/install.sh", "gpu/install.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(EDGE).as_posix())
def test_bash_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_bash_n_catches_a_broken_script(tmp_path):
    broken = tmp_path / "broken.sh"
    broken.write_text("if true; then\n  echo unterminated\n")
    assert subprocess.run(["bash", "-n", str(broken)], capture_output=True).returncode != 0


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(EDGE).as_posix())
def test_shellcheck(script):
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck is not installed: apt-get install shellcheck (make test does, as root)")
    result = subprocess.run([shellcheck, "-x", "-S", "warning", str(script)], cwd=script.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.name != "common.sh"],
                         ids=lambda p: p.relative_to(EDGE).as_posix())
def test_runnable_scripts_are_strict_and_executable(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert os.access(script, os.X_OK)


def test_versions_come_only_from_versions_env():
    versions = pinned_versions()
    assert re.fullmatch(r"v1\.\d+\.\d+\+k3s\d+", versions["K3S_VERSION"])
    # The validated Kubernetes minor is the one k3s installs.
    assert versions["K3S_VERSION"][1:].split(".")[:2] == versions["KUBERNETES_VERSION"].split(".")[:2]
    text = "\n".join(s.read_text() for s in SCRIPTS)
    for key in ("K3S_VERSION", "OPENFAAS_CHART_VERSION", "KYVERNO_CHART_VERSION",
                "NVIDIA_DEVICE_PLUGIN_CHART_VERSION"):
        assert f'"${key}"' in text, f"no script uses {key}"
    for value in versions.values():
        assert value not in text, f"a script hard-codes {value} instead of using edge/versions.env"


def test_scripts_refuse_an_unknown_node_class(tmp_path):
    """require_node_class, which every joining script runs first, stops on a typo."""
    script = f'source "{EDGE}/common.sh"; require_node_class edgee'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown node class 'edgee'" in result.stderr
    ok = subprocess.run(["bash", "-c", f'source "{EDGE}/common.sh"; require_node_class gpu'], timeout=30)
    assert ok.returncode == 0


def test_the_deployment_guide_names_the_pinned_versions():
    from tests.edge.conftest import ROOT

    guide = (ROOT / "docs" / "deployment.md").read_text()
    for key, value in pinned_versions().items():
        if key != "KUBERNETES_VERSION":
            assert value in guide, f"docs/deployment.md does not name {key}={value}"
