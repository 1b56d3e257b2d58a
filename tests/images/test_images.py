"""Image tooling without podman: podman's settings, which functions get built, and the
stack's build arguments."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from faasml.images import engine
from faasml.images.build import cpu_functions, docker_is_podman
from faasml.runtime.stack import load_stack

ROOT = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((ROOT / "stack.yml").read_text())


def test_containers_conf_on_hybrid_cgroups_uses_runc_and_no_ulimits(monkeypatch):
    monkeypatch.setattr(engine, "unified_cgroups", lambda: False)
    monkeypatch.setattr(engine.shutil, "which", lambda name: "/usr/sbin/runc")
    build, run = engine.containers_conf(for_builds=True), engine.containers_conf(for_builds=False)
    assert 'runtime = "runc"' in run and 'cgroup_manager = "cgroupfs"' in run
    assert "default_ulimits = []" in run and "volumes" not in run
    assert "/etc/ssl/certs:/etc/ssl/certs:ro" in build or not engine.HOST_CA_FOLDER.is_dir()


def test_containers_conf_on_unified_cgroups_keeps_the_engine_defaults(monkeypatch):
    monkeypatch.setattr(engine, "unified_cgroups", lambda: True)
    assert "[engine]" not in engine.containers_conf(for_builds=False)


def test_cpu_functions_leave_out_the_gpu_template():
    names = cpu_functions(ROOT / "stack.yml")
    assert "selector" in names and "efficientnet-lite0-int8" in names
    assert not any(STACK["functions"][n]["lang"].endswith("-gpu") for n in names)
    assert set(STACK["functions"]) - set(names) == {"efficientnet-lite2-fp32-gpu", "minilm-l6-fp32-gpu"}


@pytest.mark.parametrize("name", sorted(STACK["functions"]))
def test_each_image_carries_the_model_its_function_loads(name):
    function = STACK["functions"][name]
    variant = (function.get("build_args") or {}).get("FAASML_VARIANT")
    model = (function.get("environment") or {}).get("FAASML_MODEL")
    if function["handler"].endswith("selector"):
        assert variant is None and model is None
    else:
        assert model == f"models/{variant}.card.json"


def test_image_names_follow_the_registry_variable():
    default = load_stack(ROOT / "stack.yml", env={}).functions
    custom = load_stack(ROOT / "stack.yml", env={"FAASML_REGISTRY": "ghcr.io/me"}).functions
    assert default["selector"].image == "localhost/faasml/selector:0.1.0"
    assert all(spec.image.startswith("ghcr.io/me/") for spec in custom.values())


def test_docker_shim_hands_every_command_to_podman(tmp_path, monkeypatch):
    fake_podman = tmp_path / "podman"
    fake_podman.write_text('#!/bin/sh\necho "podman $*"\n')
    fake_podman.chmod(0o755)
    monkeypatch.setattr("faasml.images.build.shutil.which", lambda name: str(fake_podman))
    folder = docker_is_podman(tmp_path / "bin")
    done = subprocess.run([f"{folder}/docker", "build", "-t", "x", "."], capture_output=True, text=True)
    assert done.stdout == "podman build -t x .\n"
