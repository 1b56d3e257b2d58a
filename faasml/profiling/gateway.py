"""The gateway as `faasml profile` reaches it: a plain blocking client (the command is
synchronous, and measures with threads), listing functions and invoking them."""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

import urllib3

from faasml.selector.engine.registry import Snapshot, build_snapshot
from faasml.selector.gateway_client import GatewayEndpoint, GatewayUnavailable, function_path


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float


class ProfileGateway:
    def __init__(self, endpoint: GatewayEndpoint, pool_size: int = 16):
        self.endpoint = endpoint
        self.pool = urllib3.connection_from_url(endpoint.url, maxsize=pool_size, block=False, retries=False)
        self.prefix = urlsplit(endpoint.url).path
        self.auth = {}
        if endpoint.password is not None:
            token = base64.b64encode(f"{endpoint.user or 'admin'}:{endpoint.password}".encode()).decode()
            self.auth = {"Authorization": f"Basic {token}"}

    def list_functions(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        try:
            response = self.pool.urlopen("GET", self.prefix + "/system/functions", headers=self.auth,
                                         timeout=timeout_s, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            raise GatewayUnavailable(f"{self.endpoint.url}: {exc}") from exc
        if response.status != 200:
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} answered {response.status}")
        try:
            functions = json.loads(response.data)
        except ValueError as exc:
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} is not JSON") from exc
        if not isinstance(functions, list):
            raise GatewayUnavailable(f"/system/functions on {self.endpoint.url} is not a list")
        return functions

    def invoke(self, name: str, namespace: str | None, body: bytes, headers: Mapping[str, str],
               timeout_s: float) -> Answer:
        started = time.perf_counter()
        response = self.pool.urlopen("POST", self.prefix + function_path(name, namespace), body=body,
                                     headers=dict(headers), timeout=timeout_s, retries=False, redirect=False)
        return Answer(response.status, response.headers, response.data, (time.perf_counter() - started) * 1000.0)


def list_registry(gateways: list[ProfileGateway]) -> Snapshot:
    """The registry the selector would see, listed once."""
    listings, problems = [], []
    for gateway in gateways:
        try:
            functions = gateway.list_functions()
        except GatewayUnavailable as exc:
            problems.append(f"gateway {gateway.endpoint.name}: {exc}")
            functions = []
        listings.append((gateway.endpoint.url, gateway.endpoint.name, functions))
    return build_snapshot(listings, {}, time.monotonic(), 1, problems)
