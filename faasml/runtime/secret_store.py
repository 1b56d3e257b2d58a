"""OpenFaaS secrets for `faasml up`: `/system/secrets` storage and per-function mounts.

A secret is stored as one file per namespace and name under the state folder
(`secrets/<namespace>/<name>`, folders 0700, files 0600: only the runtime's user can read
them). A function that names secrets in `secrets:` gets its own folder
(`mounted-secrets/<name>.<namespace>/`) holding one file per secret, as faas-netes mounts
`/var/openfaas/secrets/<name>` in a pod, and FAASML_SECRETS_DIR pointing at it
(faasml.function_secrets reads it). The secret `basic-auth` is the gateway's own
credential and is built in: mounted as `basic-auth-user` and `basic-auth-password`, as the
cluster's `basic-auth` secret is. Values are never logged and never listed.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable

from faasml import errors as codes
from faasml.runtime.names import path_part
from faasml.errors import BadRequest, FaasmlError, NotFound
from faasml.runtime.openfaas import check_name, parse_json_object
from faasml.runtime.stack import DEFAULT_NAMESPACE

# A Kubernetes secret name (DNS-1123 subdomain): also a safe single file name.
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_SECRET_BYTES = 1 << 20  # Kubernetes' limit for one secret
BUILTIN_BASIC_AUTH = "basic-auth"


class Conflict(FaasmlError):
    status = 409
    code = "conflict"


def check_secret_name(name: Any) -> str:
    if not isinstance(name, str) or len(name) > 253 or not _SECRET_NAME.match(name) or ".." in name:
        raise BadRequest(f"secret name {name!r} is not valid (a-z, 0-9, '-', '.')", code=codes.BAD_NAME)
    return name


def parse_secret(body: bytes, need_value: bool = True) -> tuple[str, str | None, bytes]:
    """(name, namespace or None, value) of faas-provider's Secret body: `value` (text) or
    `rawValue` (bytes, base64 in JSON)."""
    document = parse_json_object(body, "secret")
    name = check_secret_name(document.get("name"))
    namespace = document.get("namespace") or None
    if namespace is not None:
        check_name(namespace, "namespace")
    raw, text = document.get("rawValue"), document.get("value")
    if raw:
        if not isinstance(raw, str):
            raise BadRequest("`rawValue` must be base64 text", code=codes.BAD_FIELD)
        try:
            value = base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise BadRequest(f"`rawValue` is not base64: {exc}", code=codes.BAD_FIELD) from exc
    elif isinstance(text, str) and text:
        value = text.encode()
    elif need_value:
        raise BadRequest("a secret needs a non-empty `value` or `rawValue`", code=codes.BAD_FIELD)
    else:
        value = b""
    if len(value) > MAX_SECRET_BYTES:
        raise BadRequest(f"a secret holds at most {MAX_SECRET_BYTES} bytes", code=codes.BAD_FIELD)
    return name, namespace, value


def _write_private(path: Path, value: bytes, owner: tuple[int, int] | None = None) -> None:
    """Write through a 0600 temp file renamed into place: never readable by others, never half
    written. `owner` (uid, gid) gives the file to the user a container runs as."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if owner is not None and owner != (os.getuid(), os.getgid()):
        os.fchown(fd, *owner)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


class SecretStore:
    def __init__(self, state_dir: Path, builtin: dict[str, dict[str, str]]):
        self.folder = _private_dir(state_dir / "secrets")
        self.mounts = _private_dir(state_dir / "mounted-secrets")
        # name -> {file name: value}: secrets the runtime provides itself (read-only)
        self.builtin = builtin

    def _path(self, namespace: str | None, name: str) -> Path:
        return self.folder / path_part(namespace or DEFAULT_NAMESPACE, "namespace") / check_secret_name(name)

    def names(self, namespace: str | None) -> list[str]:
        stored = self.folder / path_part(namespace or DEFAULT_NAMESPACE, "namespace")
        own = [p.name for p in stored.iterdir() if not p.name.startswith(".")] if stored.is_dir() else []
        return sorted({*own, *self.builtin})

    def list(self, namespace: str | None) -> list[dict[str, str]]:
        """faas-provider's list: names and namespace only, never values."""
        return [{"name": n, "namespace": namespace or DEFAULT_NAMESPACE} for n in self.names(namespace)]

    def exists(self, namespace: str | None, name: str) -> bool:
        return name in self.builtin or self._path(namespace, name).is_file()

    def _check_writable(self, name: str) -> None:
        if name in self.builtin:
            raise BadRequest(f"secret {name!r} is the gateway's own credential, provided by "
                             f"`faasml up`; it cannot be changed through the API", code=codes.RESERVED_SECRET)

    def create(self, namespace: str | None, name: str, value: bytes) -> None:
        self._check_writable(name)
        path = self._path(namespace, name)
        if path.exists():
            raise Conflict(f"secret {name} already exists in {namespace or DEFAULT_NAMESPACE}; "
                           f"use update (PUT)")
        _private_dir(path.parent)
        _write_private(path, value)

    def update(self, namespace: str | None, name: str, value: bytes) -> None:
        self._check_writable(name)
        path = self._path(namespace, name)
        if not path.is_file():
            raise NotFound(f"secret {name} not found in {namespace or DEFAULT_NAMESPACE}",
                           code=codes.SECRET_NOT_FOUND)
        _write_private(path, value)

    def delete(self, namespace: str | None, name: str) -> None:
        self._check_writable(name)
        path = self._path(namespace, name)
        if not path.is_file():
            raise NotFound(f"secret {name} not found in {namespace or DEFAULT_NAMESPACE}",
                           code=codes.SECRET_NOT_FOUND)
        path.unlink()

    def files_of(self, namespace: str | None, name: str) -> dict[str, bytes] | None:
        """The files a mount of this secret holds, or None when there is no such secret."""
        if name in self.builtin:
            return {k: v.encode() for k, v in self.builtin[name].items()}
        try:
            return {name: self._path(namespace, name).read_bytes()}
        except (FileNotFoundError, BadRequest):
            return None

    # --- per-function mounts -------------------------------------------------------

    def mount_dir(self, qualified_name: str) -> Path:
        return self.mounts / qualified_name

    def mount(self, qualified_name: str, namespace: str, names: Iterable[str]) -> list[str]:
        """(Re)write the function's folder with the secrets it names; the names missing."""
        names = list(names)
        if not names:
            self.unmount(qualified_name)
            return []
        folder = _private_dir(self.mount_dir(qualified_name))
        wanted: dict[str, bytes] = {}
        missing = []
        for name in names:
            files = self.files_of(namespace, name)
            if files is None:
                missing.append(name)
            else:
                wanted.update(files)
        for stale in folder.iterdir():
            if stale.name not in wanted:
                stale.unlink()
        # A container's mount gives the folder to the image's user (podman's `U`): a secret
        # changed while it runs stays readable to that user, as a Kubernetes mount updates.
        owner = folder.stat()
        for file_name, value in wanted.items():
            _write_private(folder / file_name, value, (owner.st_uid, owner.st_gid))
        return missing

    def unmount(self, qualified_name: str) -> None:
        shutil.rmtree(self.mount_dir(qualified_name), ignore_errors=True)
