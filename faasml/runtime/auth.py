"""Basic auth for `/system/*` (user `admin`), as the OpenFaaS gateway does it.

The password is a setting (FAASML_GATEWAY_PASSWORD or OPENFAAS_PASSWORD, see
runtime/config.py), else the `basic-auth-password` file in the state folder, generated on
first start.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

USER = "admin"
PASSWORD_FILE_NAME = "basic-auth-password"
# Letters and digits only: a password that starts with "-" (token_urlsafe's alphabet gives
# one start in 64) reads as an option to every command line it is typed into, and one with
# shell or URL metacharacters needs quoting in curl's -u and in http://admin:...@host/.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 32      # 62^32: about 190 bits


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str
    source: str  # where the password came from, for the start-up message
    file: Path | None = None  # the password file, when the password lives in one
    generated: bool = False   # made by this start (so worth printing once)

    def allows(self, authorization: str | None) -> bool:
        """True only for `Basic base64(user:password)` with both matching."""
        if not authorization or not authorization[:6].lower() == "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        # Both compared every time (no short cut on a wrong user), each in constant time.
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return bool(sep) and user_ok and password_ok


def load_basic_auth(state_dir: Path, password: str | None = None) -> BasicAuth:
    """The configured password, else the state folder's file (made on first start)."""
    if password:
        return BasicAuth(USER, password, "the environment (FAASML_GATEWAY_PASSWORD or OPENFAAS_PASSWORD)")
    path = state_dir / PASSWORD_FILE_NAME
    if path.is_file() and path.read_text().strip():
        return BasicAuth(USER, path.read_text().strip(), str(path), file=path)
    state_dir.mkdir(parents=True, exist_ok=True)
    password = generate_password()
    # Created private from the start: the file is the only copy of a credential.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return BasicAuth(USER, password, str(path), file=path, generated=True)
