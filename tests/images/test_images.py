"""Image tooling without podman: podman's settings, which functions get built, the
stack's build arguments, and the target platforms (architectures, emulation, the
of-watchdog binary each image gets)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from faasml.images import bases, engine, platforms
from faasml.images.build import cpu_functions, docker_is_podman
from faasml.images.engine import EngineError, Podman
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


def test_docker_shim_hands_every_command_to_podman_with_the_platform_it_is_given(tmp_path, monkeypatch):
    fake_podman = tmp_path / "podman"
    fake_podman.write_text('#!/bin/sh\necho "podman $*"\n')
    fake_podman.chmod(0o755)
    monkeypatch.setattr("faasml.images.build.shutil.which", lambda name: str(fake_podman))
    folder = docker_is_podman(tmp_path / "bin")

    def docker(*args: str, **env: str) -> str:
        return subprocess.run([f"{folder}/docker", *args], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", **env}).stdout

    assert docker("build", "-t", "x", ".") == "podman build -t x .\n"
    arm64 = {"FAASML_BUILD_PLATFORM": "linux/arm64"}
    assert docker("build", "-t", "x", ".", **arm64) == "podman build --platform linux/arm64 -t x .\n"
    assert docker("images", **arm64) == "podman images\n"


def test_platforms_parse_and_name_images_per_architecture(monkeypatch):
    monkeypatch.setattr(platforms, "host_arch", lambda: "amd64")
    assert platforms.parse_platforms(None) == ["amd64"]
    assert platforms.parse_platforms("linux/arm64, linux/amd64,linux/arm64") == ["arm64", "amd64"]
    for bad in ("linux/riscv64", "windows/amd64", "arm64"):
        with pytest.raises(platforms.PlatformError):
            platforms.parse_platforms(bad)
    assert platforms.tag_for("localhost/faasml/selector:0.1.0", "amd64") == "localhost/faasml/selector:0.1.0"
    assert platforms.tag_for("localhost/faasml/selector:0.1.0", "arm64") == "localhost/faasml/selector:0.1.0-arm64"
    assert platforms.tag_for("registry:5000/faasml/selector", "arm64") == "registry:5000/faasml/selector:latest-arm64"


def test_emulation_is_found_only_when_registered_enabled_and_fixed(tmp_path, monkeypatch):
    monkeypatch.setattr(platforms, "host_arch", lambda: "amd64")
    assert platforms.emulation_missing("amd64", tmp_path) is None
    assert "apt-get install qemu-user-static binfmt-support" in platforms.emulation_missing("arm64", tmp_path)
    entry = tmp_path / "qemu-aarch64"
    entry.write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n")
    assert "update-binfmts --enable qemu-aarch64" in platforms.emulation_missing("arm64", tmp_path)
    entry.write_text("enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OC\n")
    assert "without the F flag" in platforms.emulation_missing("arm64", tmp_path)
    entry.write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n")
    assert platforms.emulation_missing("arm64", tmp_path) is None


def _elf(path: Path, machine: int) -> Path:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"               # 64-bit, little-endian
    header[18:20] = machine.to_bytes(2, "little")
    path.write_bytes(bytes(header))
    path.chmod(0o755)
    return path


def test_an_image_never_gets_another_architectures_watchdog(tmp_path, monkeypatch):
    """The arm64 image once carried the amd64 of-watchdog: the binary's ELF header decides."""
    assert platforms.elf_arch(_elf(tmp_path / "a", 0x3E)) == "amd64"
    assert platforms.elf_arch(_elf(tmp_path / "b", 0xB7)) == "arm64"
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert platforms.elf_arch(tmp_path / "script") is None
    monkeypatch.setattr(bases, "host_arch", lambda: "amd64")
    monkeypatch.setenv("OF_WATCHDOG_ARM64", str(tmp_path / "a"))
    with pytest.raises(EngineError, match="is an amd64 binary, not arm64.*fwatchdog-arm64"):
        bases.ensure_watchdog_image(Podman(tmp_path / "conf"), arch="arm64", log=lambda _: None)
    monkeypatch.setenv("OF_WATCHDOG", str(tmp_path / "b"))
    with pytest.raises(EngineError, match="is an arm64 binary, not amd64"):
        bases.ensure_watchdog_image(Podman(tmp_path / "conf"), arch="amd64", log=lambda _: None)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_the_watchdogs_found_are_what_their_names_say(arch):
    from faasml.images.tools import OF_WATCHDOG_FOR, find_tool, missing_reason

    tool = OF_WATCHDOG_FOR[arch] if arch == "arm64" else ("OF_WATCHDOG", "fwatchdog")
    path = find_tool(tool)
    if path is None:
        pytest.skip(missing_reason(tool))
    assert platforms.elf_arch(Path(path)) == arch


def test_an_emulated_arm64_container_sees_an_arm64_cpuinfo(tmp_path, monkeypatch):
    """qemu-user 7.2 shows arm64 processes the host's x86 /proc/cpuinfo, on which ONNX
    Runtime's CPU detection crashes: emulated runs mount an arm64 board's in its place."""
    monkeypatch.setattr(platforms, "host_arch", lambda: "amd64")
    assert platforms.emulated_run_args("amd64", tmp_path) == []
    args = platforms.emulated_run_args("arm64", tmp_path)
    assert args[0] == "--volume" and args[1].endswith(":/proc/cpuinfo:ro")
    text = Path(args[1].split(":")[0]).read_text()
    import os
    assert text.count("processor\t:") == os.cpu_count() and text.count("CPU implementer\t: 0x41") == os.cpu_count()
