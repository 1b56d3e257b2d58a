"""One OpenFaaS gateway as the selector sees it: its address and credentials, its
function list, its metrics, and where its functions are invoked (all through the
selector's one HTTP client, client.py)."""
from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from faasml.selector.client import HttpClient, UpstreamError


def function_path(name: str, namespace: str | None) -> str:
    """A function's path on its gateway: /function/<name>[.<namespace>]."""
    return f"/function/{name}.{namespace}" if namespace else f"/function/{name}"


class GatewayUnavailable(Exception):
    """The gateway could not be reached or answered something unusable."""


@dataclass(frozen=True)
class GatewayEndpoint:
    name: str                  # short label shown in the registry (e.g. edge, cloud)
    url: str                   # base URL, no trailing slash, no credentials
    user: str | None = None    # None: the configured user (SelectorConfig.endpoints)
    password: str | None = None
    metrics_url: str | None = None  # defaults to <url>/metrics (the local runtime's)

    @classmethod
    def parse(cls, spec: str, user: str | None = None, password: str | None = None) -> "GatewayEndpoint":
        """`[name=]http[s]://[user:pass@]host:port` -> endpoint; credentials in the URL win
        over `user` and `password`."""
        name, sep, url = spec.strip().partition("=")
        if not sep or "://" in name:
            name, url = "", spec.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"gateway {spec!r} is not an http(s) URL")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(name=name or netloc, url=clean, user=parts.username or user or None,
                   password=parts.password or password)


class Gateway:
    """One gateway through the selector's shared client: its listing, its metrics, probes
    of its functions, and the URL a function is invoked at through it."""

    def __init__(self, endpoint: GatewayEndpoint, client: HttpClient):
        self.endpoint = endpoint
        self.client = client
        self._auth: list[tuple[str, str]] = []
        if endpoint.password is not None:
            token = base64.b64encode(f"{endpoint.user or 'admin'}:{endpoint.password}".encode()).decode()
            self._auth = [("Authorization", f"Basic {token}")]

    def function_url(self, name: str, namespace: str | None, subpath: str = "") -> str:
        return self.endpoint.url + function_path(name, namespace) + subpath

    async def _get(self, url: str, timeout_s: float, auth: bool) -> bytes:
        try:
            reply = await self.client.request("GET", url, self._auth if auth else (), b"", timeout_s)
        except (UpstreamError, OSError, asyncio.TimeoutError) as exc:
            raise GatewayUnavailable(f"{url}: {type(exc).__name__} {exc}".rstrip()) from exc
        if reply.status != 200:
            raise GatewayUnavailable(f"{url} answered {reply.status}")
        return reply.body

    async def list_functions(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        raw = await self._get(self.endpoint.url + "/system/functions", timeout_s, auth=True)
        try:
            functions = json.loads(raw)
        except ValueError as exc:
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} is not JSON") from exc
        if not isinstance(functions, list):
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} is not a list")
        return functions

    async def metrics_text(self, timeout_s: float = 2.0) -> str:
        url = self.endpoint.metrics_url or self.endpoint.url + "/metrics"
        return (await self._get(url, timeout_s, auth=False)).decode("utf-8", "replace")

    async def probe(self, name: str, namespace: str | None, subpath: str, timeout_s: float) -> int:
        """GET /function/<name>[.<namespace>]<subpath>: the status it answers (is it
        alive?); the client's errors propagate."""
        reply = await self.client.request("GET", self.function_url(name, namespace, subpath), (), b"", timeout_s)
        return reply.status
