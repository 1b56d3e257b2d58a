"""Build the stack's function images with the stock `faas-cli build` on podman.

faas-cli lays out build/<function>/ and runs `docker build` there; a `docker` first on
its PATH hands that to podman, set up by `engine` (podman-docker's `docker` does the
same, but a Docker CLI installed elsewhere may come first on the PATH). The base images come from `bases` through the
templates' build arguments, so no registry is needed. One faas-cli run per function,
so each image's build time is known.

For another architecture than this machine's (arm64 under qemu), the same `docker`
adds `--platform linux/<arch>` to faas-cli's `docker build` (faas-cli's own build has no
platform flag; its `publish` needs docker buildx and a registry), the bases are that
architecture's, and the image is built under a scratch name, then tagged with the
architecture appended (`...:0.1.0-arm64`), so the host's image keeps its name.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import yaml

from faasml.images.bases import ensure_base_image, ensure_watchdog_image
from faasml.images.engine import EngineError, Podman
from faasml.images.platforms import emulation_missing, host_arch, tag_for
from faasml.images.tools import FAAS_CLI, find_tool, missing_reason, watchdog_tool
from faasml.runtime.stack import load_stack

GPU_SUFFIX = "-gpu"  # a template whose images need a GPU node (and gigabytes of CUDA wheels)
PLATFORM_VARIABLE = "FAASML_BUILD_PLATFORM"   # read by the `docker` below: the platform to build for
SCRATCH_REGISTRY = "localhost/faasml-build-{arch}"


@dataclass(frozen=True)
class BuiltImage:
    function: str
    image: str
    build_s: float
    size_bytes: int
    arch: str = ""


def cpu_functions(stack_path: Path) -> list[str]:
    """The stack's functions whose template runs without a GPU, in file order."""
    document = yaml.safe_load(stack_path.read_text()) or {}
    return [name for name, entry in (document.get("functions") or {}).items()
            if not str((entry or {}).get("lang", "")).endswith(GPU_SUFFIX)]


def why_not_buildable(arch: str | None = None) -> str | None:
    """What is missing here to build images (for `arch`: its of-watchdog and, for another
    architecture than this machine's, emulation), or None."""
    if find_tool(FAAS_CLI) is None:
        return missing_reason(FAAS_CLI)
    if arch is not None:
        watchdog = watchdog_tool(arch, host_arch())
        if find_tool(watchdog) is None:
            return missing_reason(watchdog)
        if emulation_missing(arch):
            return emulation_missing(arch)
    return Podman.available()


def docker_is_podman(folder: Path) -> str:
    """A folder holding a `docker` that runs podman, to put first on faas-cli's PATH; with
    $FAASML_BUILD_PLATFORM set, its `build` gets `--platform` (faas-cli passes none)."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "docker"
    podman = shutil.which("podman")
    shim.write_text("#!/bin/sh\n"
                    f'if [ "$1" = build ] && [ -n "${PLATFORM_VARIABLE}" ]; then\n'
                    f'  shift; exec {podman} build --platform "${PLATFORM_VARIABLE}" "$@"\n'
                    "fi\n"
                    f'exec {podman} "$@"\n')
    shim.chmod(0o755)
    return str(folder)


def build_images(stack_path: Path, functions: list[str], conf_dir: Path,
                 env: Mapping[str, str] | None = None,
                 log: Callable[[str], None] = print, arch: str | None = None) -> list[BuiltImage]:
    """Build `functions` of the stack for `arch` (default: this machine's); `env` adds
    variables (e.g. FAASML_REGISTRY)."""
    arch = arch or host_arch()
    missing = why_not_buildable(arch)
    if missing:
        raise EngineError(missing)
    stack_path = stack_path.resolve()
    podman = Podman(conf_dir, for_builds=True)
    build_args = {"WATCHDOG_IMAGE": ensure_watchdog_image(podman, log, arch=arch),
                  "PYTHON_IMAGE": ensure_base_image(podman, arch, log=log)}
    user_env = {**podman.env(), **(env or {})}
    run_env = dict(user_env)
    run_env["PATH"] = docker_is_podman(conf_dir / "bin") + os.pathsep + run_env.get("PATH", "")
    foreign = arch != host_arch()
    if foreign:
        run_env.update({PLATFORM_VARIABLE: f"linux/{arch}", "FAASML_REGISTRY": SCRATCH_REGISTRY.format(arch=arch)})
    specs = load_stack(stack_path, env=run_env).functions
    names = {name: tag_for(spec.image, arch) for name, spec in load_stack(stack_path, env=user_env).functions.items()}
    unknown = [name for name in functions if name not in specs]
    if unknown:
        raise EngineError(f"no such function in {stack_path.name}: {', '.join(unknown)}")
    built = []
    for name in functions:
        log(f"building {name} ({arch}) -> {names[name]}")
        started = time.monotonic()
        command = [find_tool(FAAS_CLI), "build", "-f", str(stack_path), "--filter", name]
        for key, value in build_args.items():
            command += ["--build-arg", f"{key}={value}"]
        done = subprocess.run(command, cwd=stack_path.parent, env=run_env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0 or "Errors received" in done.stdout or not podman.image_exists(specs[name].image):
            raise EngineError(f"faas-cli build of {name} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        if foreign:   # the scratch name becomes the architecture's tag of the stack's name
            podman.run("tag", specs[name].image, names[name])
            podman.run("untag", specs[name].image, specs[name].image)
        built.append(BuiltImage(name, names[name], seconds, podman.image_size(names[name]), arch))
        log(f"  {name}: {seconds:.1f}s, {built[-1].size_bytes / 1e6:.0f} MB")
    return built
