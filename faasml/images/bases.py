"""The two local images the templates build FROM where no registry is reachable.

- a Debian Python base made with debootstrap (minbase + python3, python3-venv,
  ca-certificates; apt lists, caches and docs left out: about 130 MB) for PYTHON_IMAGE;
- the stock of-watchdog binary alone in an image, for WATCHDOG_IMAGE.
Each is made only when absent, so they are built once and reused by every image build.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from faasml.images.engine import EngineError, Podman
from faasml.images.tools import OF_WATCHDOG, find_tool, missing_reason, watchdog_version

DEBIAN_SUITE = "bookworm"           # Python 3.11, as the python:3.11-slim-bookworm default
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# Left out of the base: what apt needs only to install more (a function image never does).
BASE_EXCLUDES = ("./var/cache/apt", "./var/lib/apt/lists", "./usr/share/doc", "./usr/share/man",
                 "./usr/share/locale", "./usr/share/info")
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def base_image_name(arch: str | None = None) -> str:
    arch = arch or DEBIAN_ARCH.get(platform.machine(), platform.machine())
    return f"localhost/faasml/debian-python:{DEBIAN_SUITE}-{arch}"


def ensure_base_image(podman: Podman, arch: str | None = None,
                      log: Callable[[str], None] = print) -> str:
    arch = arch or DEBIAN_ARCH.get(platform.machine(), platform.machine())
    name = base_image_name(arch)
    if podman.image_exists(name):
        return name
    if not shutil.which("debootstrap"):
        raise EngineError(f"base image {name} is absent and debootstrap is not installed "
                          f"(apt-get install debootstrap) to make it")
    log(f"making base image {name} with debootstrap (once; about a minute or more)")
    with tempfile.TemporaryDirectory(prefix="faasml-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        command = ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", f"--arch={arch}",
                   DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise EngineError(f"debootstrap failed: {(done.stdout + done.stderr).strip()[-2000:]}")
        excludes = [f"--exclude={path}/*" for path in BASE_EXCLUDES]
        tar = subprocess.run(["tar", "-C", str(rootfs), *excludes, "-c", "."], capture_output=True)
        if tar.returncode != 0:
            raise EngineError(f"tar of the base failed: {tar.stderr.decode(errors='replace')}")
        podman.run("import", "--arch", arch, "--change", "CMD [\"/bin/bash\"]", "-", name,
                   stdin=tar.stdout)
    return name


def ensure_watchdog_image(podman: Podman, log: Callable[[str], None] = print) -> str:
    binary = find_tool(OF_WATCHDOG)
    if binary is None:
        raise EngineError(missing_reason(OF_WATCHDOG))
    name = f"localhost/faasml/of-watchdog:{watchdog_version(binary)}"
    if podman.image_exists(name):
        return name
    log(f"making watchdog image {name} from {binary}")
    with tempfile.TemporaryDirectory(prefix="faasml-watchdog-") as scratch:
        shutil.copy2(binary, Path(scratch) / "fwatchdog")
        tar = subprocess.run(["tar", "-C", scratch, "--owner=0", "--group=0", "-c", "fwatchdog"],
                             capture_output=True, check=True)
        podman.run("import", "-", name, stdin=tar.stdout)
    return name
