"""The two local images the templates build FROM where no registry is reachable, per CPU
architecture (the host's, or arm64 under emulation):

- a Debian Python base made with debootstrap (minbase + python3, python3-venv,
  ca-certificates; apt lists, caches and docs left out: about 130 MB) for PYTHON_IMAGE;
  for another architecture debootstrap runs that architecture's package scripts under
  qemu (binfmt_misc), and the image is marked with its architecture;
- the stock of-watchdog binary alone in an image, for WATCHDOG_IMAGE: `fwatchdog` for the
  host's, `fwatchdog-arm64` (or $OF_WATCHDOG_ARM64) for arm64; a binary built for another
  architecture than the image's is refused.
Each is made only when absent, so they are built once and reused by every image build.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from faasml.images.engine import EngineError, Podman
from faasml.images.platforms import elf_arch, emulation_missing, host_arch
from faasml.images.tools import find_tool, missing_reason, watchdog_tool, watchdog_version

DEBIAN_SUITE = "bookworm"           # Python 3.11, as the python:3.11-slim-bookworm default
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# Left out of the base: what apt needs only to install more (a function image never does).
BASE_EXCLUDES = ("./var/cache/apt", "./var/lib/apt/lists", "./usr/share/doc", "./usr/share/man",
                 "./usr/share/locale", "./usr/share/info")


def base_image_name(arch: str | None = None) -> str:
    return f"localhost/faasml/debian-python:{DEBIAN_SUITE}-{arch or host_arch()}"


def ensure_base_image(podman: Podman, arch: str | None = None,
                      log: Callable[[str], None] = print) -> str:
    arch = arch or host_arch()
    name = base_image_name(arch)
    if podman.image_exists(name):
        return name
    if not shutil.which("debootstrap"):
        raise EngineError(f"base image {name} is absent and debootstrap is not installed "
                          f"(apt-get install debootstrap) to make it")
    missing = emulation_missing(arch)
    if missing:
        raise EngineError(f"base image {name}: {missing}")
    log(f"making base image {name} with debootstrap (once; a few minutes, more under emulation)")
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


def watchdog_image_name(version: str, arch: str | None = None) -> str:
    arch = arch or host_arch()
    return f"localhost/faasml/of-watchdog:{version}" + ("" if arch == host_arch() else f"-{arch}")


def ensure_watchdog_image(podman: Podman, log: Callable[[str], None] = print, arch: str | None = None) -> str:
    arch = arch or host_arch()
    tool = watchdog_tool(arch, host_arch())
    binary = find_tool(tool)
    if binary is None:
        raise EngineError(missing_reason(tool))
    built_for = elf_arch(Path(binary))
    if built_for != arch:
        raise EngineError(f"{binary} is {'an ' + built_for if built_for else 'not an ELF'} binary, "
                          f"not {arch}: an {arch} image needs the {arch} of-watchdog "
                          f"({tool[1]} on the PATH or ${tool[0]})")
    missing = emulation_missing(arch)
    if missing:   # its version is read by running it
        raise EngineError(f"{binary}: {missing}")
    name = watchdog_image_name(watchdog_version(binary), arch)
    if podman.image_exists(name):
        return name
    log(f"making watchdog image {name} from {binary}")
    with tempfile.TemporaryDirectory(prefix="faasml-watchdog-") as scratch:
        shutil.copy2(binary, Path(scratch) / "fwatchdog")
        tar = subprocess.run(["tar", "-C", scratch, "--owner=0", "--group=0", "-c", "fwatchdog"],
                             capture_output=True, check=True)
        podman.run("import", "--arch", arch, "-", name, stdin=tar.stdout)
    return name
