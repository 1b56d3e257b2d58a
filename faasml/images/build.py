"""Build the stack's function images with the stock `faas-cli build` on podman.

faas-cli lays out build/<function>/ and runs `docker build` there; a `docker` first on
its PATH hands that to podman, set up by `engine` (podman-docker's `docker` does the
same, but a Docker CLI installed elsewhere may come first on the PATH). The base images come from `bases` through the
templates' build arguments, so no registry is needed. One faas-cli run per function,
so each image's build time is known.
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
from faasml.images.tools import FAAS_CLI, find_tool, missing_reason
from faasml.runtime.stack import load_stack

GPU_SUFFIX = "-gpu"  # a template whose images need a GPU node (and gigabytes of CUDA wheels)


@dataclass(frozen=True)
class BuiltImage:
    function: str
    image: str
    build_s: float
    size_bytes: int


def cpu_functions(stack_path: Path) -> list[str]:
    """The stack's functions whose template runs without a GPU, in file order."""
    document = yaml.safe_load(stack_path.read_text()) or {}
    return [name for name, entry in (document.get("functions") or {}).items()
            if not str((entry or {}).get("lang", "")).endswith(GPU_SUFFIX)]


def why_not_buildable() -> str | None:
    """What is missing here to build images, or None."""
    if find_tool(FAAS_CLI) is None:
        return missing_reason(FAAS_CLI)
    return Podman.available()


def docker_is_podman(folder: Path) -> str:
    """A folder holding a `docker` that runs podman, to put first on faas-cli's PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "docker"
    shim.write_text(f'#!/bin/sh\nexec {shutil.which("podman")} "$@"\n')
    shim.chmod(0o755)
    return str(folder)


def build_images(stack_path: Path, functions: list[str], conf_dir: Path,
                 env: Mapping[str, str] | None = None,
                 log: Callable[[str], None] = print) -> list[BuiltImage]:
    """Build `functions` of the stack; `env` adds variables (e.g. FAASML_REGISTRY)."""
    missing = why_not_buildable()
    if missing:
        raise EngineError(missing)
    stack_path = stack_path.resolve()
    podman = Podman(conf_dir, for_builds=True)
    build_args = {"WATCHDOG_IMAGE": ensure_watchdog_image(podman, log),
                  "PYTHON_IMAGE": ensure_base_image(podman, log=log)}
    run_env = {**podman.env(), **(env or {})}
    run_env["PATH"] = docker_is_podman(conf_dir / "bin") + os.pathsep + run_env.get("PATH", "")
    specs = load_stack(stack_path, env=run_env).functions
    unknown = [name for name in functions if name not in specs]
    if unknown:
        raise EngineError(f"no such function in {stack_path.name}: {', '.join(unknown)}")
    built = []
    for name in functions:
        log(f"building {name} -> {specs[name].image}")
        started = time.monotonic()
        command = [find_tool(FAAS_CLI), "build", "-f", str(stack_path), "--filter", name]
        for key, value in build_args.items():
            command += ["--build-arg", f"{key}={value}"]
        done = subprocess.run(command, cwd=stack_path.parent, env=run_env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0 or "Errors received" in done.stdout or not podman.image_exists(specs[name].image):
            raise EngineError(f"faas-cli build of {name} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        built.append(BuiltImage(name, specs[name].image, seconds, podman.image_size(specs[name].image)))
        log(f"  {name}: {seconds:.1f}s, {built[-1].size_bytes / 1e6:.0f} MB")
    return built
