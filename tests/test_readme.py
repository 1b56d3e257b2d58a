"""The README's Quickstart, run as written: every shell command of its ```bash blocks and
its Python snippet, against a platform started as `make run` starts it (`faasml up -f
stack.yml`, here through the shared launcher on a free port with the functions the
commands call), from a folder laid out as the repository root is after `make run` (.venv,
samples/, .faasml/ holding the admin password). Any non-zero exit fails the test; curl runs with --fail-with-body,
so an HTTP error is one too.

The only changes to the commands: the address (127.0.0.1:8080 -> the free port), and
`make run` / `make test` are not run (the first is the platform started here, the second
is this suite).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faasml.images.tools import FAAS_CLI, find_tool, missing_reason
from faasml.launch import LocalPlatform

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ADDRESS = "127.0.0.1:8080"
NOT_RUN = {"make run": "the platform this test starts", "make test": "this suite"}
CURL = 'curl() { command curl --fail-with-body --silent --show-error "$@"; }'
pytestmark = pytest.mark.slow


def quickstart() -> str:
    text = README.read_text()
    start = text.index("## Quickstart\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def shell_commands(block: str) -> list[str]:
    """Each command of a block: continuation lines joined, comments and blank lines out."""
    commands, current = [], ""
    for line in block.splitlines():
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        command = re.sub(r"\s+#.*$", "", current).strip() if not current.lstrip().startswith("#") else ""
        if command:
            commands.append(command)
        current = ""
    return commands


def functions_called(commands: list[str]) -> set[str]:
    """The stack functions the commands call by name, and the selector."""
    named = set()
    for command in commands:
        named |= set(re.findall(r"/function/([a-z0-9-]+)", command))
        named |= set(re.findall(r"faas-cli invoke ([a-z0-9-]+)", command))
    return named | {"selector"}


def test_the_quickstart_has_what_this_test_runs():
    section = quickstart()
    commands = [c for block in blocks(section, "bash") for c in shell_commands(block)]
    assert {"make run", "make test"} <= set(commands)
    assert any(c.startswith("curl ") for c in commands) and any(c.startswith("faas-cli ") for c in commands)
    assert any(c.startswith(".venv/bin/faasml ") for c in commands)
    assert len(blocks(section, "python")) == 1
    assert not [c for c in commands if "--password " in c or " -p " in c], "no password on a command line"
    assert functions_called(commands) == {"selector", "efficientnet-lite0-int8", "efficientnet-lite0-fp32",
                                          "minilm-l6-fp32"}


@pytest.fixture(scope="module")
def root_after_make_run(tmp_path_factory, reference_models):
    """(folder, port, faas-cli): the platform up, and a folder with what the repository
    root has after `make run`: .venv, samples/ and .faasml/ (the platform's state, with
    the admin password in basic-auth-password, mode 0600, as `make run` leaves it)."""
    curl = shutil.which("curl")
    faas_cli = find_tool(FAAS_CLI)
    if curl is None:
        pytest.skip("curl is not installed: apt-get install curl (make test does, as root)")
    if faas_cli is None:
        pytest.skip(missing_reason(FAAS_CLI))
    folder = tmp_path_factory.mktemp("readme")
    (folder / ".venv").symlink_to(sys.prefix)
    (folder / "samples").symlink_to(ROOT / "samples")
    commands = [c for block in blocks(quickstart(), "bash") for c in shell_commands(block)]
    platform = LocalPlatform(folder / "platform", only=sorted(functions_called(commands)),
                             state_dir=folder / ".faasml", start_timeout_s=180)
    try:
        platform.up()   # every function ready, and the selector listing each executor
        password_file = folder / ".faasml" / "basic-auth-password"
        password_file.write_text(platform.password)
        password_file.chmod(0o600)
        yield folder, platform.port, faas_cli
    finally:
        platform.stop()


def _run(command: str, folder: Path, port: int, faas_cli: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD")}
    env.update(PATH=f"{Path(faas_cli).parent}{os.pathsep}{env.get('PATH', '')}",
               OPENFAAS_URL=f"http://127.0.0.1:{port}",        # faas-cli's default gateway is :8080
               OPENFAAS_CONFIG=str(folder / ".openfaas"))      # its login, kept apart from the user's
    return subprocess.run(command, shell=True, executable="/bin/bash", cwd=folder, env=env, capture_output=True,
                          timeout=120, **kwargs)


def test_every_quickstart_command_runs_as_written(root_after_make_run):
    folder, port, faas_cli = root_after_make_run
    commands = [c for block in blocks(quickstart(), "bash") for c in shell_commands(block)]
    ran = []
    for command in commands:
        if command in NOT_RUN:
            continue
        here = command.replace(ADDRESS, f"127.0.0.1:{port}")
        done = _run(f"set -o pipefail; {CURL}; {here}", folder, port, faas_cli)
        out = done.stdout.decode(errors="replace")
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{out}\n{done.stderr.decode(errors='replace')}"
        ran.append((command, out))
    outputs = dict(ran)
    assert len(ran) == len(commands) - len(NOT_RUN)
    classify = next(out for c, out in ran if c.startswith("curl") and "efficientnet-lite0-int8" in c)
    assert "Egyptian cat" in classify       # the sample photo, as samples/README.md says
    assert "Egyptian cat" in outputs[".venv/bin/faasml invoke image-classification samples/cat.jpg --tradeoff 1"]
    embedding = outputs[".venv/bin/faasml invoke sentence-embedding samples/sentence.txt"]
    assert "dimension" in embedding and "384" in embedding and len(embedding) < 2000   # summarised
    assert "candidates now" in outputs[".venv/bin/faasml status"]


def test_the_python_snippet_runs_with_the_venvs_python(root_after_make_run):
    folder, port, faas_cli = root_after_make_run
    (snippet,) = blocks(quickstart(), "python")
    done = _run(".venv/bin/python -", folder, port, faas_cli,
                input=snippet.replace(ADDRESS, f"127.0.0.1:{port}").encode())
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    # The answer, or (on a machine too busy for its 250 ms limit) the typed refusal it handles.
    out = done.stdout.decode()
    assert "Egyptian cat" in out or out.startswith(("refused: 422 infeasible", "refused: 504 deadline_exceeded")), out
