"""A fresh clone of this checkout, for tests of what a new user gets: every file git
tracks, copied as git checks it out (symlinks kept), without ignored build outputs
(models/ beyond its README, .venv/, build/). Uncommitted edits are included, so the
tests judge the working tree; in CI the two are the same."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: a fresh clone cannot be made")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p and os.path.lexists(ROOT / p)]


def fresh_clone(folder: Path) -> Path:
    for relative in tracked_files():
        source, target = ROOT / relative, folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return folder
