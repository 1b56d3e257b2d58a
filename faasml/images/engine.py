"""podman as these machines need it, through a containers.conf of our own (CONTAINERS_CONF).

- crun cannot run on hosts with hybrid (v1) cgroups: there, runc with the cgroupfs manager;
- root without CAP_SYS_RESOURCE cannot raise rlimits: no default ulimits;
- builds only: the host's CA bundle is mounted read-only, so pip inside a build trusts
  whatever proxy the host trusts (a no-op where the host needs none).
faas-cli calls `docker build`; podman-docker's `docker` passes the environment on, so
faas-cli's builds get the same settings.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HOST_CA_FOLDER = Path("/etc/ssl/certs")


class EngineError(RuntimeError):
    """podman is missing or a podman command failed."""


def unified_cgroups() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").is_file()


def containers_conf(for_builds: bool) -> str:
    lines = ["[containers]", "default_ulimits = []"]
    if for_builds and HOST_CA_FOLDER.is_dir():
        lines.append(f'volumes = ["{HOST_CA_FOLDER}:{HOST_CA_FOLDER}:ro"]')
    if not unified_cgroups():
        lines += ["[engine]", 'cgroup_manager = "cgroupfs"']
        if shutil.which("runc"):
            lines.append('runtime = "runc"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Podman:
    """podman commands with our containers.conf; `for_builds` adds the CA mount."""

    conf_dir: Path
    for_builds: bool = False

    @staticmethod
    def available() -> str | None:
        """Why podman cannot be used here, or None."""
        return None if shutil.which("podman") else ("podman is not installed: apt-get install podman runc "
                                                     "podman-docker (make test does, as root)")

    def env(self) -> dict[str, str]:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        conf = self.conf_dir / ("containers-build.conf" if self.for_builds else "containers.conf")
        text = containers_conf(self.for_builds)
        if not conf.is_file() or conf.read_text() != text:
            conf.write_text(text)
        return {**os.environ, "CONTAINERS_CONF": str(conf)}

    def run(self, *args: str, check: bool = True, stdin: bytes | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(["podman", *args], env=self.env(), input=stdin,
                                capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise EngineError(f"podman {' '.join(args[:3])}: "
                              f"{result.stderr.decode(errors='replace').strip()[-2000:]}")
        return result

    def image_exists(self, image: str) -> bool:
        return self.run("image", "exists", image, check=False).returncode == 0

    def image_size(self, image: str) -> int:
        """Bytes of the image's uncompressed layers, as `podman images` counts them."""
        out = self.run("image", "inspect", "--format", "{{.Size}}", image).stdout
        return int(out.decode().strip())

    def image_layers(self, image: str) -> list[str]:
        out = self.run("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).stdout
        return json.loads(out.decode()) or []

    def remove_images(self, *images: str) -> None:
        if images:
            self.run("rmi", "--force", *images, check=False)
