"""Atomic writes: nothing under the final name until the write completed."""
from __future__ import annotations

import os

import pytest

from faasml.models.files import TEMP_MARK, atomic_path, remove_stale_temporaries


def test_file_appears_only_after_success(tmp_path):
    dest = tmp_path / "m.onnx"
    with atomic_path(dest) as tmp:
        tmp.write_bytes(b"new")
        assert not dest.exists()
    assert dest.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    dest = tmp_path / "m.onnx"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_folder_replaces_an_existing_folder(tmp_path):
    dest = tmp_path / "tok"
    dest.mkdir()
    (dest / "old.json").write_text("old")
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        (tmp / "new.json").write_text("new")
    assert [p.name for p in dest.iterdir()] == ["new.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]


def test_stale_temporaries_of_dead_builds_are_removed_live_ones_kept(tmp_path):
    dead_pid = 2 ** 22 + 12345  # above Linux's pid_max default: no such process
    dead = tmp_path / f".m.onnx.{dead_pid}{TEMP_MARK}"
    live = tmp_path / f".n.onnx.{os.getppid()}{TEMP_MARK}"  # our parent runs
    dead.write_bytes(b"x")
    live.write_bytes(b"y")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert not dead.exists() and live.exists()
