"""The stock faas-cli on a fresh clone: it finds the templates and builds, shrinkwraps,
generates and deploys the stack (to `faasml up`) with no manual step.

A fresh clone: tests/clone.py. Skipped where faas-cli or git is absent.
"""
from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from faasml.images.tools import FAAS_CLI, find_tool, missing_reason
from tests.clone import fresh_clone, tracked_files

ROOT = Path(__file__).resolve().parents[2]
FAAS = find_tool(FAAS_CLI)
pytestmark = pytest.mark.skipif(FAAS is None, reason=missing_reason(FAAS_CLI))
STACK = yaml.safe_load((ROOT / "stack.yml").read_text())
LANGS = sorted({f["lang"] for f in STACK["functions"].values()})


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    folder = fresh_clone(tmp_path_factory.mktemp("clone"))
    assert not (folder / "models" / "efficientnet-lite0-int8.onnx").exists()
    return folder


def faas_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess:
    run_env = {k: v for k, v in os.environ.items() if k != "FAASML_REGISTRY"}
    run_env.update({"OPENFAAS_CONFIG": str(cwd / ".openfaas"), **(env or {})})
    return subprocess.run([FAAS, *args], cwd=cwd, env=run_env, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_shrinkwrap_finds_the_templates_in_a_fresh_clone(clone):
    done = faas_cli("build", "--shrinkwrap", "-f", "stack.yml", cwd=clone)
    assert done.returncode == 0 and "Error" not in done.stdout + done.stderr, done.stdout + done.stderr
    for name, function in STACK["functions"].items():
        context = clone / "build" / name
        template = ROOT / "templates" / function["lang"]
        assert filecmp.cmp(context / "Dockerfile", template / "Dockerfile", shallow=False), name
        assert (context / "function" / "handler.py").is_file(), name
        # configuration.copy: the package and the models folder (README only, before `make models`)
        assert (context / "function" / "faasml" / "__init__.py").is_file(), name
        assert (context / "function" / "models" / "README.md").is_file(), name


def test_generate_names_images_from_the_registry_variable(clone):
    default = faas_cli("generate", "-f", "stack.yml", cwd=clone)
    custom = faas_cli("generate", "-f", "stack.yml", cwd=clone, env={"FAASML_REGISTRY": "ghcr.io/someone"})
    for done, prefix in ((default, "localhost/faasml/"), (custom, "ghcr.io/someone/")):
        assert done.returncode == 0, done.stderr
        documents = [d for d in yaml.safe_load_all(done.stdout) if d]
        assert sorted(d["metadata"]["name"] for d in documents) == sorted(STACK["functions"])
        assert all(d["spec"]["image"].startswith(prefix) for d in documents), done.stdout


def test_template_pull_from_a_clone_of_this_repository(tmp_path):
    tracked_files()  # skips outside a git checkout
    done = faas_cli("template", "pull", str(ROOT), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for lang in LANGS:  # faas-cli clones the repository: its committed files
        for name in ("template.yml", "Dockerfile", "index.py", "requirements.txt", "function/handler.py"):
            committed = subprocess.run(["git", "show", f"HEAD:templates/{lang}/{name}"], cwd=ROOT,
                                       capture_output=True, check=True).stdout
            assert (tmp_path / "template" / lang / name).read_bytes() == committed, f"{lang}/{name}"


@pytest.mark.slow
def test_deploy_the_stack_from_a_fresh_clone_to_faasml_up(clone, reference_models):
    from tests.runtime.conftest import PASSWORD, Runtime

    for model in reference_models.iterdir():  # what `make models` leaves in a user's clone
        if not (clone / "models" / model.name).exists():
            (clone / "models" / model.name).symlink_to(model)
    # faasml up serves the same stack with only the selector; faas-cli deploys the rest.
    up = Runtime(clone, yaml.safe_load((clone / "stack.yml").read_text()), None, ["--filter", "selector"])
    try:
        login = faas_cli("login", "-g", up.url, "-u", "admin", "--password-stdin", cwd=clone, stdin=PASSWORD)
        assert login.returncode == 0, login.stdout + login.stderr
        done = faas_cli("deploy", "-f", "stack.yml", "--gateway", up.url, cwd=clone)
        assert done.returncode == 0 and "Deployed. 202 Accepted." in done.stdout, done.stdout + done.stderr
        listed = faas_cli("list", "--gateway", up.url, cwd=clone)
        assert sorted(line.split()[0] for line in listed.stdout.splitlines()[1:]) == sorted(STACK["functions"])
        described = faas_cli("describe", "efficientnet-lite0-int8", "--gateway", up.url, cwd=clone)
        assert "localhost/faasml/executor-efficientnet-lite0-int8:0.1.0" in described.stdout
        up.wait_available("efficientnet-lite0-int8", 1, timeout_s=60)
    finally:
        up.stop()
