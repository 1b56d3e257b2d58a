"""scripts/system-packages.sh, which `make run` and `make test` call: on a machine where it
may not install (no root, no password-less sudo) it names every missing package in one
apt-get line and never fails the build; CI's `require` mode does fail."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "system-packages.sh"


@pytest.fixture
def tmp_path(tmp_path_factory):
    """A folder user `nobody` can read: pytest's own are private to their owner."""
    folder = Path(tempfile.mkdtemp(prefix="faasml-system-packages-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_unprivileged(tmp_path: Path, purpose: str, venv_works: bool = True, **env: str) -> subprocess.CompletedProcess:
    """The script as user `nobody`, with a PATH that holds only a shell, `id` and a
    python3 whose venv check passes or fails: no sudo, none of the test tools."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv (util-linux) to run the script as another user")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for program in ("sh", "bash", "id"):
        if not (bin_dir / program).exists():
            (bin_dir / program).symlink_to(shutil.which(program))
    (bin_dir / "python3").write_text(f"#!/bin/sh\nexit {0 if venv_works else 1}\n")
    (bin_dir / "python3").chmod(0o755)
    script = shutil.copy(SCRIPT, tmp_path / SCRIPT.name)   # the clone may sit where nobody cannot read
    return subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           shutil.which("bash"), str(script), purpose], capture_output=True, text=True,
                          timeout=60, env={"PATH": str(bin_dir), "HOME": "/nonexistent", **env})


def test_the_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed: apt-get install shellcheck (make test does, as root)")
    done = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_without_root_it_names_the_missing_packages_and_does_not_fail(tmp_path):
    done = run_unprivileged(tmp_path, "test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "missing for `make test`:" in done.stdout
    line = next(line for line in done.stdout.splitlines() if "install them with:" in line)
    assert "sudo apt-get install -y --no-install-recommends" in line
    for package in ("prometheus", "podman", "podman-docker", "chromium", "chromium-driver", "wrk", "curl"):
        assert f" {package}" in line, (package, line)
    assert "python3-venv" not in line           # its python3 has venv and ensurepip


def test_make_run_needs_only_what_a_venv_needs(tmp_path):
    done = run_unprivileged(tmp_path, "run")
    assert (done.returncode, done.stdout) == (0, "")
    without_venv = run_unprivileged(tmp_path, "run", venv_works=False)
    assert without_venv.returncode == 0
    assert "install them with: sudo apt-get install -y --no-install-recommends python3-venv\n" in without_venv.stdout


def test_ci_requires_what_it_cannot_install_and_no_means_no(tmp_path):
    required = run_unprivileged(tmp_path, "test", SYSTEM_PACKAGES="require")
    assert required.returncode == 1 and "missing for `make test`" in required.stdout
    quiet = run_unprivileged(tmp_path, "test", SYSTEM_PACKAGES="no")
    assert (quiet.returncode, quiet.stdout) == (0, "")
