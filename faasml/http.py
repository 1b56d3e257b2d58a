"""The HTTP edge every part shares: requests, responses, headers, errors, body limits.

The OpenFaaS python3-http template hands handlers an `event` (body, headers, method,
query, path) and expects `{"statusCode", "body", "headers"}` back; the core speaks the
small types here instead, and `handle_event` translates. Headers are case-insensitive
end to end, and a repeated header stays repeated (`Headers`, a multidict); one set of
hop-by-hop headers serves every hop that forwards
(the selector and the local runtime's gateway); every error is `Response.error`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping

from multidict import CIMultiDict

from faasml import errors as codes
from faasml.errors import FaasmlError, PayloadTooLarge

# Never passed on by a hop that forwards, either way: RFC 9110's hop-by-hop headers (7.6.1),
# the ones each hop writes for itself (Host, Content-Length; Expect, as the forwarding hop
# already answered `100-continue`), and Accept-Encoding, since a hop may decode the body it
# relays. A header that a `Connection` header names is hop-by-hop too (`end_to_end`).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                        "host", "content-length", "expect", "accept-encoding"})

HeaderPairs = Iterable[tuple[str, str]]


class Headers(CIMultiDict):
    """Header multidict: names case-insensitive and kept as written, a repeated header kept
    as each of its lines (Set-Cookie, Vary, Link), in order. `headers[name] = value`
    replaces every line of that name; `add` appends one."""

    __slots__ = ()

    def __init__(self, headers: Mapping[str, str] | HeaderPairs | None = None):
        if headers is None:
            super().__init__()
        elif isinstance(headers, (CIMultiDict, Mapping)) or hasattr(headers, "items"):
            super().__init__(list(headers.items()))  # type: ignore[union-attr]
        else:
            super().__init__(list(headers))

    @classmethod
    def end_to_end(cls, headers: HeaderPairs, drop_prefix: str = "") -> "Headers":
        """The headers a forwarding hop passes on (see `end_to_end`), as a multidict."""
        return cls(end_to_end(headers, drop_prefix))


_CANONICAL: dict[str, str] = {}


def canonical_name(name: str) -> str:
    """A header name as Go's net/http writes it (`x-faasml-variant` -> `X-Faasml-Variant`),
    as the OpenFaaS gateway and of-watchdog relay every header: function servers may send
    them lower-cased (uvicorn does), clients that look names up exactly see the same names
    through `faasml up` as through a cluster's gateway."""
    known = _CANONICAL.get(name)
    if known is None:
        known = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        if len(_CANONICAL) < 4096:   # names come from upstreams: keep the cache bounded
            _CANONICAL[name] = known
    return known


def end_to_end(headers: HeaderPairs | Mapping[str, str], drop_prefix: str = "") -> list[tuple[str, str]]:
    """The headers a forwarding hop passes on: all but HOP_BY_HOP, those a `Connection`
    header names, and, when given, those whose lower-cased name starts with `drop_prefix`.
    Repeated headers stay repeated, in order."""
    pairs = list(headers.items()) if hasattr(headers, "items") else list(headers)  # type: ignore[union-attr]
    dropped = HOP_BY_HOP
    named = [value for name, value in pairs if name.lower() == "connection"]
    if named:
        dropped = HOP_BY_HOP | {token.strip().lower() for value in named for token in value.split(",")}
    return [(name, value) for name, value in pairs
            if (lower := name.lower()) not in dropped and not (drop_prefix and lower.startswith(drop_prefix))]


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
        """The python3-http template's answer; `headers` stays a multidict, so a repeated
        header reaches the server (faasml.serving) as each of its lines."""
        return {"statusCode": self.status, "body": self.body, "headers": self.headers}


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
