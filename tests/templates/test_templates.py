"""The OpenFaaS templates: layout faas-cli expects, clean Dockerfiles, one shared entrypoint."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p for p in (ROOT / "templates").iterdir() if p.is_dir())


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_layout(template):
    meta = yaml.safe_load((template / "template.yml").read_text())
    assert meta["language"] == template.name and "index.py" in meta["fprocess"]
    for name in ("Dockerfile", "index.py", "requirements.txt", "function/handler.py"):
        assert (template / name).is_file() and not (template / name).is_symlink(), name


def test_gpu_and_cpu_templates_share_one_entrypoint():
    # a symlink would not survive faas-cli's copy into the build context; copies must match
    texts = {(t / "index.py").read_text() for t in TEMPLATES}
    assert len(texts) == 1


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(template):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"),
                             str(template / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_dockerfile_runs_watchdog_in_http_mode_as_non_root(template):
    text = (template / "Dockerfile").read_text()
    assert "of-watchdog" in text and 'mode="http"' in text
    assert 'upstream_url="http://127.0.0.1:5000"' in text and 'ready_path="/ready"' in text
    assert "USER 10001" in text


def test_each_index_py_is_the_shim_generated_from_one_source():
    from faasml.serving.template import SHIM

    for template in TEMPLATES:
        assert (template / "index.py").read_text() == SHIM, f"run: python -m faasml.serving.template --write templates"
    assert len(SHIM.splitlines()) <= 40   # the server itself lives in faasml/serving/
