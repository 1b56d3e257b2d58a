"""Transport-neutral request/response types shared by executors, selector and runtime.

The OpenFaaS python3-http template hands handlers an `event` (body, headers, method,
query, path) and expects `{"statusCode", "body", "headers"}` back; the core speaks these
small dataclasses instead, and `from_event` / `Response.to_openfaas` translate.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from faasml.errors import FaasmlError


class Headers(dict):
    """Case-insensitive header map (keys stored lower-cased)."""

    def __init__(self, items: Mapping[str, str] | None = None):
        super().__init__()
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class Request:
    method: str = "POST"
    path: str = "/"
    query: dict[str, str] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower-cased ('' when absent)."""
        raw = self.headers.get("content-type", "") or ""
        return raw.split(";", 1)[0].strip().lower()

    def param(self, name: str, header: str | None = None) -> str | None:
        """A parameter from the query string, else from its `X-Faasml-*` header."""
        if name in self.query:
            return self.query[name]
        if header is not None:
            return self.headers.get(header)
        return None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> "Response":
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), merged)

    @classmethod
    def error(cls, exc: FaasmlError) -> "Response":
        headers = {"Content-Type": "application/json"}
        headers.update(exc.headers)
        return cls(exc.status, exc.to_json(), headers)

    def to_openfaas(self) -> dict[str, Any]:
        return {"statusCode": self.status, "body": self.body, "headers": dict(self.headers)}


def from_event(event: Any) -> Request:
    """Build a Request from the python3-http template's event object."""
    body = event.body if event.body is not None else b""
    if isinstance(body, str):
        body = body.encode()
    query = {k: v for k, v in dict(getattr(event, "query", {}) or {}).items()}
    return Request(
        method=(getattr(event, "method", "POST") or "POST").upper(),
        path=getattr(event, "path", "/") or "/",
        query=query,
        headers=Headers(dict(getattr(event, "headers", {}) or {})),
        body=body,
    )
