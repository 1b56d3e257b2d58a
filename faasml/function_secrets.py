"""OpenFaaS secrets as a function reads them: one file per secret in one folder.

In a cluster the folder is /var/openfaas/secrets (faas-netes mounts each secret a function
names there). `faasml up` mounts the same files into a state folder and points the
function at it with FAASML_SECRETS_DIR, so handler code reads secrets one way everywhere.
"""
from __future__ import annotations

import os
from pathlib import Path

SECRETS_DIR_ENV = "FAASML_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/var/openfaas/secrets"


def secrets_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(SECRETS_DIR_ENV) or DEFAULT_SECRETS_DIR)


def read_secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """The secret's value without a trailing newline, or None where it is not mounted.

    Names are single path components (as in Kubernetes); anything else is refused so a
    setting can never read an arbitrary file.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a secret name: {name!r}")
    try:
        return (secrets_dir(environ) / name).read_text().rstrip("\r\n")
    except (FileNotFoundError, NotADirectoryError):
        return None
