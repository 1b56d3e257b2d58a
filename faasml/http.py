"""The HTTP edge every part shares: requests, responses, headers, errors, body limits.

The OpenFaaS python3-http template hands handlers an `event` (body, headers, method,
query, path) and expects `{"statusCode", "body", "headers"}` back; the core speaks the
small types here instead, and `handle_event` translates. Headers are case-insensitive
end to end (`Headers`); one set of hop-by-hop headers serves every hop that forwards
(the selector and the local runtime's gateway); every error is `Response.error`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping

from faasml import errors as codes
from faasml.errors import FaasmlError, PayloadTooLarge

# Never passed on by a hop that forwards, either way: RFC 9110's hop-by-hop headers, the
# ones each hop writes for itself (Host, Content-Length; Expect, as the forwarding hop
# already answered `100-continue`), and Accept-Encoding, since a hop may decode the body
# it relays (the selector's urllib3 does).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                        "host", "content-length", "expect", "accept-encoding"})

HeaderPairs = Iterable[tuple[str, str]]


class Headers(MutableMapping[str, str]):
    """Header map with case-insensitive names that keeps each name as it was written."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | HeaderPairs | None = None):
        pairs = headers.items() if hasattr(headers, "items") else headers or ()
        self._items = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self._items.values())!r})"

    def get(self, name: str, default: Any = None) -> Any:
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def items(self) -> Iterable[tuple[str, str]]:  # type: ignore[override]
        """(name, value) pairs, names as written."""
        return self._items.values()

    def copy(self) -> "Headers":
        return Headers(self._items.values())

    @classmethod
    def end_to_end(cls, headers: HeaderPairs, drop_prefix: str = "") -> "Headers":
        """The headers a forwarding hop passes on (see `end_to_end`), as a map."""
        kept = cls()
        kept._items = {lower: (name, value) for lower, name, value in _passed_on(headers, drop_prefix)}
        return kept


def end_to_end(headers: HeaderPairs, drop_prefix: str = "") -> list[tuple[str, str]]:
    """The headers a forwarding hop passes on: all but HOP_BY_HOP and, when given, those
    whose lower-cased name starts with `drop_prefix`. Repeated headers stay repeated."""
    return [(name, value) for _, name, value in _passed_on(headers, drop_prefix)]


def _passed_on(headers: HeaderPairs, drop_prefix: str) -> Iterator[tuple[str, str, str]]:
    for name, value in headers:
        lower = name.lower()
        if lower not in HOP_BY_HOP and not (drop_prefix and lower.startswith(drop_prefix)):
            yield lower, name, value


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
    headers: Headers = field(default_factory=Headers)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> "Response":
        merged = Headers({"Content-Type": "application/json"})
        merged.update(headers or {})
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), merged)

    @classmethod
    def error(cls, exc: FaasmlError) -> "Response":
        """The one error answer: JSON `{"error": {"code", "message", ...}}` with the status
        and headers (Retry-After, Allow, ...) the error carries."""
        headers = Headers({"Content-Type": "application/json"})
        headers.update(exc.headers)
        return cls(exc.status, exc.to_json(), headers)

    def to_openfaas(self) -> dict[str, Any]:
        return {"statusCode": self.status, "body": self.body, "headers": dict(self.headers.items())}


def from_event(event: Any, max_body_bytes: int = 0) -> Request:
    """A Request from the python3-http template's event; with `max_body_bytes`, a larger
    body is refused (413): the one body-limit check of a function's hop."""
    headers = Headers(getattr(event, "headers", None) or {})
    return Request(
        method=(getattr(event, "method", "POST") or "POST").upper(),
        path=getattr(event, "path", "/") or "/",
        query=dict(getattr(event, "query", None) or {}),
        headers=headers,
        body=_read_body(event, headers, max_body_bytes),
    )


def _read_body(event: Any, headers: Headers, limit: int) -> bytes:
    """The body, refused over `limit` by its Content-Length before it is read (index.py
    reads it on first access), or by its size when it came chunked."""
    declared = headers.get("content-length", "")
    if limit and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = event.body if event.body is not None else b""
    if isinstance(body, str):
        body = body.encode()
    if limit and len(body) > limit:
        raise _too_large(len(body), limit)
    return body


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"body is {size} bytes; the limit is {limit}", code=codes.PAYLOAD_TOO_LARGE)


def handle_event(event: Any, handle: Callable[[Request], Response], max_body_bytes: int = 0) -> dict[str, Any]:
    """All a function's handler does: the template's event in, `handle`'s answer out."""
    try:
        request = from_event(event, max_body_bytes)
    except FaasmlError as exc:
        return Response.error(exc).to_openfaas()
    return handle(request).to_openfaas()


async def handle_event_async(event: Any, handle: Callable[[Request], Awaitable[Response]],
                             max_body_bytes: int = 0) -> dict[str, Any]:
    """`handle_event` for a coroutine handler (index.py's asyncio server)."""
    try:
        request = from_event(event, max_body_bytes)
    except FaasmlError as exc:
        return Response.error(exc).to_openfaas()
    return (await handle(request)).to_openfaas()
