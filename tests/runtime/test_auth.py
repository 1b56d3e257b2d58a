"""Basic auth for /system/*: constant-time checks of user and password, and a generated
password that lives in its private file only, never in the runtime's output."""
from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import time

import requests
import yaml

from faasml.runtime.auth import BasicAuth, load_basic_auth
from faasml.runtime.replicas import free_port
from tests.runtime.conftest import TEMPLATES, function, stack_of


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_only_the_exact_user_and_password_are_allowed():
    auth = BasicAuth("admin", "s3cret", "test")
    assert auth.allows(basic("admin", "s3cret"))
    assert auth.allows("basic " + base64.b64encode(b"admin:s3cret").decode())
    for wrong in (basic("admin", "s3cre"), basic("admin", "s3cret "), basic("root", "s3cret"),
                  basic("", ""), "Basic", "Basic !!!", "Bearer s3cret", "", None,
                  "Basic " + base64.b64encode(b"admins3cret").decode(),
                  "Basic " + base64.b64encode("admin:s3cret\u00e9".encode()).decode()):
        assert not auth.allows(wrong), wrong


def test_a_generated_password_is_private_and_stable(tmp_path):
    first = load_basic_auth(tmp_path)
    assert first.generated and len(first.password) >= 24
    assert stat.S_IMODE(os.stat(first.file).st_mode) == 0o600
    again = load_basic_auth(tmp_path)
    assert not again.generated and again.password == first.password


def test_the_generated_password_never_reaches_the_output(tmp_path):
    (tmp_path / "templates").symlink_to(TEMPLATES)
    (tmp_path / "stack.yml").write_text(yaml.safe_dump(stack_of({"toy": function("toy", "faasml/toy:dev")})))
    env = {k: v for k, v in os.environ.items() if k not in ("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD")}
    port = free_port()
    output = tmp_path / "out.log"
    with open(output, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "faasml", "up", "-f", str(tmp_path / "stack.yml"),
                                    "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        password_file = tmp_path / ".faasml" / "basic-auth-password"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "functions serving" not in output.read_text(errors="replace"):
            assert process.poll() is None, output.read_text()
            time.sleep(0.1)
        password = password_file.read_text().strip()
        url = f"http://127.0.0.1:{port}/system/functions"
        assert requests.get(url, auth=("admin", password), timeout=5).status_code == 200
        assert requests.get(url, auth=("admin", password[:-1]), timeout=5).status_code == 401
        text = output.read_text(errors="replace")
        assert str(password_file) in text and "--password-stdin" in text
        assert password not in text
    finally:
        process.terminate()
        process.wait(20)


def test_a_generated_password_cannot_be_mistaken_for_an_option_or_need_quoting():
    # token_urlsafe gave a leading "-" in 1 start of 64: `--password -AEb...` then failed.
    # 2000 draws from an alphabet with "-" or "_" in it would show one almost surely.
    from faasml.runtime.auth import generate_password

    passwords = {generate_password() for _ in range(2000)}
    assert len(passwords) == 2000
    assert all(p.isascii() and p.isalnum() and len(p) == 32 for p in passwords)
