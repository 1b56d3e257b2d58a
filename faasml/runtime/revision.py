"""What `faasml up` reports as its version in `/system/info` (faas-provider's VersionInfo).

`release` is the package version; `sha` and `commit_message` are the git commit the code
runs from, read once from the checkout it was installed from (`pip install -e`, as `make
install` does). Installed from a wheel, outside any checkout, there is no commit to read:
`sha` is then `unknown`, never empty, as OpenFaaS's conformance suite requires a value.
"""
from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from faasml import __version__

UNKNOWN_SHA = "unknown"
CHECKOUT = Path(__file__).resolve().parents[2]  # the folder holding the faasml package


@dataclass(frozen=True)
class Revision:
    release: str
    sha: str
    commit_message: str

    def as_version_info(self) -> dict[str, str]:
        return {"sha": self.sha, "release": self.release, "commit_message": self.commit_message}


def _git(checkout: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def read_revision(checkout: Path = CHECKOUT, release: str = __version__) -> Revision:
    """The commit of `checkout` when it is the top of a git work tree (not merely inside
    another project's repository, as a site-packages folder in a venv may be)."""
    top = _git(checkout, "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != checkout.resolve():
        return Revision(release, UNKNOWN_SHA, "")
    sha = _git(checkout, "rev-parse", "HEAD")
    return Revision(release, sha or UNKNOWN_SHA, _git(checkout, "log", "-1", "--format=%s") if sha else "")


@functools.lru_cache(maxsize=1)
def current_revision() -> Revision:
    return read_revision()
