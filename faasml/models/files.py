"""Atomic writes: a file or folder appears under its final name only once complete.

An interrupted build (Ctrl-C, OOM kill, full disk) must never leave a model that looks
finished: `models build` trusts a present .onnx whose card's sha256 matches, so every
artefact is written under a hidden temporary name and renamed into place at the end.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TEMP_MARK = ".partial"


def temp_sibling(dest: Path) -> Path:
    """A hidden name beside `dest` (same filesystem, so the rename is atomic)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}{TEMP_MARK}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(dest: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write (a file or a folder); rename it to `dest` on success.

    On an exception the temporary is removed and `dest` is left as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(dest)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and dest.exists():
            # rename() cannot replace a non-empty folder: move the old one aside first.
            old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
            os.replace(dest, old)
            os.replace(tmp, dest)
            _remove(old)
        else:
            os.replace(tmp, dest)
    finally:
        _remove(tmp)


def _owner_alive(path: Path) -> bool:
    """Whether the process that named this temporary still runs (a concurrent build)."""
    try:
        pid = int(path.name[: -len(TEMP_MARK)].rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path | str) -> list[Path]:
    """Delete temporaries an interrupted build left behind; return what was removed.

    Temporaries of a build still running (another process writing the same folder) stay.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.glob(f".*{TEMP_MARK}") if not _owner_alive(p))
    for path in stale:
        _remove(path)
    return stale
