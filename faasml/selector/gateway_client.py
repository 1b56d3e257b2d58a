"""One OpenFaaS gateway as the selector sees it: its function list, its metrics, and a
pooled HTTP client for invoking functions through it.

urllib3 pools rather than `requests`: the selector hop sits on every request's path, and
urllib3 without the `requests` layers saves a few hundred microseconds per call.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

import urllib3


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


@dataclass
class Upstream:
    """What a function call through the gateway returned."""

    status: int
    headers: Mapping[str, str]   # urllib3's: names case-insensitive, repeated values joined
    body: bytes
    elapsed_ms: float


class GatewayClient:
    def __init__(self, endpoint: GatewayEndpoint, pool_size: int = 512,
                 connect_timeout_s: float = 1.0):
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        # block=False: a burst above pool_size opens extra connections instead of waiting.
        self.pool = urllib3.connection_from_url(endpoint.url, maxsize=pool_size, block=False,
                                                retries=False)
        self._auth = {}
        if endpoint.password is not None:
            token = base64.b64encode(f"{endpoint.user or 'admin'}:{endpoint.password}".encode()).decode()
            self._auth = {"Authorization": f"Basic {token}"}

    def _path(self, path: str) -> str:
        """The request target for the pool: the gateway's own path prefix plus `path`
        (a pool sends whatever it is given, so an absolute URL would go out proxy-style)."""
        return urlsplit(self.endpoint.url).path + path

    def _get(self, url_or_path: str, timeout_s: float, auth: bool) -> bytes:
        headers = dict(self._auth) if auth else {}
        try:
            if url_or_path.startswith("http"):
                response = urllib3.request("GET", url_or_path, headers=headers, timeout=timeout_s,
                                           retries=False)
            else:
                response = self.pool.urlopen("GET", self._path(url_or_path), headers=headers,
                                             timeout=timeout_s, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            raise GatewayUnavailable(f"{self.endpoint.url}: {exc}") from exc
        if response.status != 200:
            raise GatewayUnavailable(f"{url_or_path} on {self.endpoint.url} answered {response.status}")
        return response.data

    def list_functions(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        raw = self._get("/system/functions", timeout_s, auth=True)
        try:
            functions = json.loads(raw)
        except ValueError as exc:
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} is not JSON") from exc
        if not isinstance(functions, list):
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} is not a list")
        return functions

    def metrics_text(self, timeout_s: float = 2.0) -> str:
        url = self.endpoint.metrics_url or "/metrics"
        return self._get(url, timeout_s, auth=False).decode("utf-8", "replace")

    def probe(self, name: str, namespace: str | None, subpath: str, timeout_s: float) -> int:
        """GET /function/<name>[.<namespace>]<subpath>: the status it answers (is it alive?);
        urllib3 errors propagate."""
        response = self.pool.urlopen("GET", self._path(function_path(name, namespace) + subpath), timeout=timeout_s,
                                     retries=False, redirect=False)
        return response.status

    def invoke(self, name: str, namespace: str | None, body: bytes, headers: Mapping[str, str],
               query: str, timeout_s: float) -> Upstream:
        """POST to /function/<name>[.<namespace>]; urllib3 errors propagate (the forwarder
        decides what a failure means)."""
        url = self._path(function_path(name, namespace)) + (f"?{query}" if query else "")
        timeout = urllib3.Timeout(connect=min(self.connect_timeout_s, timeout_s), read=timeout_s)
        started = time.perf_counter()
        response = self.pool.urlopen("POST", url, body=body, headers=headers, timeout=timeout,
                                     retries=False, redirect=False)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Upstream(response.status, response.headers, response.data, elapsed_ms)
