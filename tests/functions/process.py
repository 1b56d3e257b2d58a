"""A function as OpenFaaS runs it: the template's index.py with the handler as function/."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from faasml.runtime.replicas import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_function(tmp_path: Path, env: dict[str, str],
                   handler: str = "functions/executors") -> tuple[subprocess.Popen, str]:
    """Lay the function out like `faas-cli build --shrinkwrap` (index.py + function/) and run it."""
    run_dir = tmp_path / Path(handler).name
    run_dir.mkdir()
    (run_dir / "index.py").symlink_to(ROOT / "templates/faasml-python3-http/index.py")
    (run_dir / "function").symlink_to(ROOT / handler)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "index.py"], cwd=run_dir,
        env={**os.environ, **env, "FAASML_LISTEN_PORT": str(port), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"
