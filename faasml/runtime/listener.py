"""The local gateway's listening socket: aiohttp's server (llhttp's C parser) with the same
limits as every function's server (faasml/serving), for clients that never finish.

aiohttp bounds an idle connection (its keep-alive timeout runs from the connection's
start), the pipelined requests it reads ahead (its message queue) and the size of header
lines and their count. This adds what it lacks:

- a header deadline from a request's first byte: a client that trickles its head (each
  byte used to buy more time) gets a 408 and the connection closes;
- a connection cap: one more gets a 503 and is closed before anything is parsed;
- JSON errors in faasml's shape for what the parser refuses (400, 413, 431), never a
  text page, never an exception's text.

The body deadline is the handlers' (`read_body`): aiohttp reads a body when asked.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from faasml import errors as codes
from faasml.errors import FaasmlError, PayloadTooLarge
from faasml.serving.protocol import refusal_bytes
from faasml.settings import number, setting, whole_number


@dataclass(frozen=True)
class GatewayLimits:
    """`faasml up`'s listening limits; the defaults are in docs/api.md."""

    keepalive_s: float = setting("FAASML_UP_KEEPALIVE_S", 15.0, number(positive=True),
                                 "an idle client connection closes after this (from its start or its last answer)")
    header_timeout_s: float = setting("FAASML_UP_HEADER_TIMEOUT_S", 10.0, number(positive=True),
                                      "a request's line and headers must arrive within this from its first byte")
    body_timeout_s: float = setting("FAASML_UP_BODY_TIMEOUT_S", 60.0, number(positive=True),
                                    "a request's body must arrive within this once its handler reads it")
    max_connections: int = setting("FAASML_UP_MAX_CONNECTIONS", 5000, whole_number(1),
                                   "open client connections at most; one more gets a 503 and is closed")
    max_pipelined: int = setting("FAASML_UP_MAX_PIPELINED", 8, whole_number(1),
                                 "pipelined requests read ahead on one connection")
    max_header_line_bytes: int = setting("FAASML_UP_MAX_HEADER_LINE_BYTES", 8190, whole_number(256),
                                         "the request line and each header line, in bytes (then 431 / 400)")
    max_headers: int = setting("FAASML_UP_MAX_HEADERS", 100, whole_number(1), "header lines in one request")
    max_response_mb: float = setting("FAASML_UP_MAX_RESPONSE_MB", 256.0, number(positive=True),
                                     "a replica's answer over this many MiB is a 502 (the gateway holds it whole)")


class GuardedRequestHandler(RequestHandler):
    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, limits: GatewayLimits,
                 **kwargs: Any):
        super().__init__(manager, loop=loop, keepalive_timeout=limits.keepalive_s,
                         max_line_size=limits.max_header_line_bytes, max_field_size=limits.max_header_line_bytes,
                         max_headers=limits.max_headers, **kwargs)
        self._max_msg_queue_size = limits.max_pipelined
        self._msg_queue_resume_size = max(1, limits.max_pipelined // 2)
        self.limits = limits
        self.head_deadline: asyncio.TimerHandle | None = None
        self.last_payload: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        over = len(self._manager.connections) >= self.limits.max_connections  # type: ignore[union-attr]
        super().connection_made(transport)
        if over:
            transport.write(refusal_bytes(503, codes.TOO_MANY_CONNECTIONS,  # type: ignore[attr-defined]
                                          f"over {self.limits.max_connections} open connections"))
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count > before:
            self._disarm()   # a whole head arrived
            self.last_payload = self._messages[-1][1] if self._messages else None
        elif data and self.head_deadline is None and self._reading_a_head():
            self.head_deadline = self._loop.call_later(self.limits.header_timeout_s, self._head_expired)

    def _reading_a_head(self) -> bool:
        """Bytes that emitted no request are part of a head unless a body is still coming."""
        payload = self.last_payload
        return payload is None or payload.is_eof() or getattr(payload, "_exception", None) is not None

    def _disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_expired(self) -> None:
        self.head_deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        idle = self._waiter is not None and not self._waiter.done()   # no answer owed: say why
        if idle:
            self.transport.write(refusal_bytes(408, codes.REQUEST_TIMEOUT,
                                               f"the request's line and headers did not arrive within "
                                               f"{self.limits.header_timeout_s:g}s"))
        self.force_close()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """What the parser refuses, as faasml's JSON error; an exception's text only when it
        is the parser's own description of the request (never for a 500)."""
        if isinstance(exc, LineTooLong) or (message and "too many headers" in message.lower()):
            status, code = 431, codes.HEADERS_TOO_LARGE
        else:
            code = {400: codes.BAD_REQUEST, 413: codes.PAYLOAD_TOO_LARGE}.get(status, codes.INTERNAL)
        text = (message or "malformed request") if status < 500 else "internal error (see the gateway's log)"
        if status >= 500:
            self.log_exception("Error handling request", exc_info=exc)
        error = FaasmlError(text.strip().splitlines()[0][:300], code=code, status=status)
        response = web.Response(status=status, body=error.to_json(), content_type="application/json")
        response.force_close()   # the connection closes once this is written
        return response


async def listen(runner: web.AppRunner, host: str, port: int, limits: GatewayLimits,
                 backlog: int = 1024) -> asyncio.AbstractServer:
    """Serve `runner`'s app on host:port with GuardedRequestHandler; close it before
    `runner.cleanup()`."""
    loop = asyncio.get_running_loop()
    manager = runner.server
    assert manager is not None, "runner.setup() first"
    return await loop.create_server(
        lambda: GuardedRequestHandler(manager, loop=loop, limits=limits, access_log=None),
        host, port, backlog=backlog, reuse_address=True)


async def read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """The request's body: refused over `limit` on its Content-Length before a byte is read,
    and over it as it arrives (chunked); a body that does not arrive within `timeout_s` is
    a 408. Either way the connection closes after the answer (what is left is unread)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}", headers={"Connection": "close"})
    chunks: list[bytes] = []

    async def read_all() -> None:
        size = 0
        while chunk := await request.content.read(64 * 1024):   # b"" at its end
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body over the limit of {limit} bytes", headers={"Connection": "close"})
            chunks.append(chunk)
    try:
        await asyncio.wait_for(read_all(), timeout_s)
    except asyncio.TimeoutError:
        raise FaasmlError(f"the request's body did not arrive within {timeout_s:g}s", status=408,
                          code=codes.REQUEST_TIMEOUT, headers={"Connection": "close"}) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
