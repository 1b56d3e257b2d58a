"""Target platforms of an image build: this machine's own, or another CPU architecture run
under emulation (qemu-user-static registered with binfmt_misc, as Debian's
qemu-user-static and binfmt-support packages do).

Only Linux on amd64 and arm64 (edge boards: Raspberry Pi 4/5, Jetson) are built. An
image for another architecture than this machine's gets its architecture appended to its
tag (`...:0.1.0-arm64`), so that it never takes the name the host's own image runs under.
"""
from __future__ import annotations

import os
import platform as host_platform
from pathlib import Path

ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}        # Debian/OCI name -> kernel and qemu name
MACHINES = {machine: arch for arch, machine in ARCHES.items()}
ELF_MACHINES = {0x3E: "amd64", 0xB7: "arm64"}            # ELF e_machine of each
BINFMT = Path("/proc/sys/fs/binfmt_misc")
EMULATION_HINT = ("apt-get install qemu-user-static binfmt-support (make test does, as root), "
                  "then update-binfmts --enable qemu-{machine}")


class PlatformError(ValueError):
    """A platform this build cannot target."""


def host_arch() -> str:
    machine = host_platform.machine()
    return MACHINES.get(machine, machine)


def parse_platforms(spec: str | None) -> list[str]:
    """`linux/amd64,linux/arm64` (docker's --platform form) -> ['amd64', 'arm64']; none: this
    machine's."""
    if not spec or not spec.strip():
        return [host_arch()]
    arches = []
    for item in spec.split(","):
        os_name, _, arch = item.strip().partition("/")
        if os_name != "linux" or arch not in ARCHES:
            raise PlatformError(f"platform {item.strip()!r}: only {', '.join('linux/' + a for a in ARCHES)} "
                                f"are built")
        if arch not in arches:
            arches.append(arch)
    return arches


def tag_for(image: str, arch: str) -> str:
    """The host's image name as it is; another architecture's with it appended to the tag."""
    if arch == host_arch():
        return image
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:      # no tag given: `latest`
        name, tag = image, "latest"
    return f"{name}:{tag}-{arch}"


def emulation_missing(arch: str, binfmt: Path = BINFMT) -> str | None:
    """Why `arch` binaries cannot run here, or None (the host's own, or qemu registered
    with binfmt_misc and enabled; its F flag lets containers use it too)."""
    if arch == host_arch():
        return None
    machine = ARCHES[arch]
    entry = binfmt / f"qemu-{machine}"
    try:
        text = entry.read_text()
    except OSError:
        return (f"{arch} binaries cannot run here: no qemu-{machine} in {binfmt} (binfmt_misc); "
                + EMULATION_HINT.format(machine=machine))
    if not text.startswith("enabled"):
        return f"qemu-{machine} is registered but disabled: update-binfmts --enable qemu-{machine}"
    flags = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("flags:")), "")
    if "F" not in flags:
        return (f"qemu-{machine} is registered without the F flag, so containers cannot use it: "
                f"Debian's qemu-user-static registers it with F")
    return None


def elf_arch(path: Path) -> str | None:
    """The architecture an ELF executable is built for (amd64, arm64), else None."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return ELF_MACHINES.get(machine)


# What an arm64 board's /proc/cpuinfo says (a Raspberry Pi 4's Cortex-A72), per processor.
ARM64_CPUINFO = ("processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
                 "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
                 "CPU revision\t: 3\n\n")


def emulated_run_args(arch: str, folder: Path) -> list[str]:
    """`podman run` arguments a container of `arch` needs under emulation: none for the
    host's own. qemu-user 7.2 (Debian 12's) hands an arm64 process the host's x86
    /proc/cpuinfo, which ONNX Runtime's CPU detection (the cpuinfo library) cannot parse: it
    crashes on import (SIGSEGV). An arm64 board's cpuinfo is mounted in its place, one entry
    per CPU this machine has (runc allows /proc/cpuinfo as a bind target, as for LXCFS)."""
    if arch == host_arch():
        return []
    if arch != "arm64":
        raise PlatformError(f"no emulated run set up for {arch}")
    folder.mkdir(parents=True, exist_ok=True)
    cpuinfo = folder / "cpuinfo-arm64"
    text = "".join(ARM64_CPUINFO.format(n=n) for n in range(os.cpu_count() or 1))
    if not cpuinfo.is_file() or cpuinfo.read_text() != text:
        cpuinfo.write_text(text)
    return ["--volume", f"{cpuinfo}:/proc/cpuinfo:ro"]
