"""The version `faasml up` reports: the package release and the git commit it runs from."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from faasml import __version__
from faasml.runtime.openfaas import gateway_info, provider_info
from faasml.runtime.revision import UNKNOWN_SHA, current_revision, read_revision

REPO = Path(__file__).resolve().parents[2]


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repository(tmp_path) -> Path:
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    _git(tmp_path, "init", "-q")
    (tmp_path / "file").write_text("x")
    _git(tmp_path, "add", "file")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "First commit")
    return tmp_path


def test_a_checkout_reports_its_commit(repository):
    revision = read_revision(repository, "9.9.9")
    assert revision.sha == _git(repository, "rev-parse", "HEAD") and len(revision.sha) == 40
    assert revision.release == "9.9.9" and revision.commit_message == "First commit"


def test_a_folder_inside_another_repository_is_not_its_checkout(repository, tmp_path):
    inner = repository / "site-packages"
    inner.mkdir()
    assert read_revision(inner, "1").sha == UNKNOWN_SHA


def test_outside_any_checkout_the_sha_is_unknown_never_empty(tmp_path):
    revision = read_revision(tmp_path / "nowhere", "1")
    assert (revision.sha, revision.commit_message, revision.release) == (UNKNOWN_SHA, "", "1")


def test_info_shapes_carry_release_and_sha():
    revision = current_revision()
    assert revision.release == __version__ and revision.sha
    if (REPO / ".git").exists():
        assert revision.sha == _git(REPO, "rev-parse", "HEAD")
    provider = provider_info(revision, "podman")
    assert provider["orchestration"] == "podman" and provider["version"]["sha"] == revision.sha
    gateway = gateway_info(revision, "x86_64")
    assert gateway["version"] == provider["version"] and gateway["provider"]["orchestration"] == "local-processes"
