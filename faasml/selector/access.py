"""Optional API keys for `/function/selector`, from an OpenFaaS secret.

With `FAASML_API_KEYS_SECRET` naming a secret (a file in FAASML_SECRETS_DIR, mounted by
OpenFaaS for functions that list it under `secrets:`), every route but `/ready` needs
one of its keys, one per line (blank lines and `#` comments ignored): `Authorization:
Bearer <key>` or `X-Api-Key: <key>`. Anything else is a JSON 401. Keys are compared in
constant time, every key every time, and are never logged nor passed on to executors.
The secret is read again every RELOAD_S, so a rotated key takes effect without a
restart; a named secret that is missing or empty refuses every request (fails closed)
rather than opening the selector.
"""
from __future__ import annotations

import hmac
import time
from typing import Callable

from faasml.contract import parse_keys
from faasml.errors import API_KEYS_UNAVAILABLE, UNAUTHORIZED, NotReady, Unauthorized
from faasml.function_secrets import read_secret
from faasml.http import Request

RELOAD_S = 10.0
OPEN_PATHS = frozenset({"/ready"})   # the readiness probe carries no credentials
KEY_HEADERS = ("authorization", "x-api-key")   # dropped before forwarding when keys are on


def presented_key(request: Request) -> str | None:
    """The key a client sent: a Bearer token, else X-Api-Key."""
    authorization = request.headers.get("Authorization") or ""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = (request.headers.get("X-Api-Key") or "").strip()
    return key or None


class ApiKeys:
    def __init__(self, secret_name: str, read: Callable[[str], str | None] = read_secret,
                 clock: Callable[[], float] = time.monotonic):
        self.secret_name = secret_name
        self.read = read
        self.clock = clock
        self._keys: tuple[bytes, ...] = ()
        self._loaded_at = float("-inf")

    def keys(self) -> tuple[bytes, ...]:
        if self.clock() - self._loaded_at >= RELOAD_S:
            text = self.read(self.secret_name)
            self._keys = parse_keys(text) if text else ()
            self._loaded_at = self.clock()
        return self._keys

    def check(self, request: Request) -> None:
        """Raise a 401 unless the request carries a current key (or asks an open path)."""
        if "/" + request.path.strip("/") in OPEN_PATHS:
            return
        keys = self.keys()
        if not keys:
            raise NotReady(f"API keys are required but secret {self.secret_name!r} is missing or empty",
                           code=API_KEYS_UNAVAILABLE)
        presented = (presented_key(request) or "").encode()
        matched = False
        for key in keys:   # every key, every time: the time taken says nothing about which
            matched |= hmac.compare_digest(presented, key)
        if not presented or not matched:
            raise Unauthorized("an API key is required: send `Authorization: Bearer <key>` or `X-Api-Key: <key>`",
                               code=UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="faasml selector"'})
