"""The stock faas-cli against `faasml up`: version, secrets, and invoke --async with a callback.

Runs the real binary (on the PATH, or named by FAAS_CLI); skipped where it is absent.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from faasml import __version__
from faasml.images.tools import missing_reason
from tests.runtime.callbacks import CallbackReceiver
from tests.runtime.conftest import PASSWORD, function

FAAS_CLI = os.environ.get("FAAS_CLI") or shutil.which("faas-cli")
pytestmark = pytest.mark.skipif(not FAAS_CLI, reason=missing_reason(("FAAS_CLI", "faas-cli")))


@pytest.fixture(scope="module")
def cli(start_runtime, tmp_path_factory):
    runtime = start_runtime({"echo": function("toy", "faasml/toy:dev", secrets=["api-key"])})
    config = tmp_path_factory.mktemp("openfaas-config")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([FAAS_CLI, *args, "--gateway", runtime.url], input=stdin, text=True,
                              capture_output=True, timeout=60,
                              env=dict(os.environ, OPENFAAS_CONFIG=str(config)))

    login = run("login", "-u", "admin", "--password-stdin", stdin=PASSWORD)
    assert login.returncode == 0, login.stdout + login.stderr
    runtime.wait_available("echo", 1)
    run.runtime = runtime
    return run


def test_faas_cli_version_shows_the_gateway_and_its_provider(cli):
    result = cli("version", "--warn-update=false")  # no update check: offline machines
    assert result.returncode == 0, result.stderr
    gateway = result.stdout.split("Gateway", 1)[1]
    assert f"version: {__version__}" in gateway.split("Provider")[0]
    assert "name:          faasml" in gateway and "orchestration: local-processes" in gateway


def test_faas_cli_secret_create_list_remove(cli):
    created = cli("secret", "create", "api-key", "--from-literal", "s3cret")
    assert created.returncode == 0 and "202" in created.stdout, created.stdout + created.stderr
    listed = cli("secret", "list")
    assert "api-key" in listed.stdout.split() and "basic-auth" in listed.stdout.split()
    # the function that names it reads it as a file, as from /var/openfaas/secrets/api-key
    assert cli.runtime.invoke("echo/secret?name=api-key").json() == {"value": "s3cret"}
    updated = cli("secret", "update", "api-key", stdin="newer")
    assert updated.returncode == 0, updated.stderr
    assert cli.runtime.invoke("echo/secret?name=api-key").json() == {"value": "newer"}
    removed = cli("secret", "remove", "api-key")
    assert removed.returncode == 0, removed.stderr
    assert "api-key" not in cli("secret", "list").stdout.split()
    assert "s3cret" not in cli.runtime.log_text() and "newer" not in cli.runtime.log_text()


def test_faas_cli_invoke_async_reaches_the_callback(cli):
    receiver = CallbackReceiver()
    try:
        result = cli("invoke", "echo", "--async", "-H", f"X-Callback-Url: {receiver.url}", stdin="from faas-cli")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Function submitted asynchronously" in result.stdout + result.stderr
        (headers, body), = receiver.wait_for(1)
        assert headers["X-Function-Status"] == "200" and headers["X-Call-Id"]
        assert b"ZnJvbSBmYWFzLWNsaQ==" in body  # base64 of the body the function got
    finally:
        receiver.close()
