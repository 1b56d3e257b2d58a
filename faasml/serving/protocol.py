"""uvicorn's httptools protocol with the limits a server facing hostile clients needs.

uvicorn parses with llhttp (strict framing: Content-Length with Transfer-Encoding,
duplicate or negative lengths and bad chunk sizes are errors) and answers pipelined
requests in order, but leaves the rest to a proxy in front. Behind a stock OpenFaaS
gateway and of-watchdog there is none, so this subclass adds, per connection:

- an idle timeout from the moment it opens (uvicorn arms one only after an answer);
- a header deadline from a request's first byte, and a body deadline from its headers
  (each byte no longer buys more time: slowloris gets a 408);
- a connection cap (one more gets a 503 and is closed, before anything is parsed);
- a pipelining depth cap: past it nothing more is read; the owed answers go out, in
  order, and the connection closes;
- header size and count limits (431), counting trailers, which never join the head;
- an error found in a later pipelined request (or a deadline) is answered only after the
  answers owed to the requests before it, never ahead of them, then the connection closes.

The answers it writes itself are JSON in faasml's error shape (faasml/errors.py codes).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from faasml import errors as codes
from faasml.serving.settings import Limits


class Refusal(Exception):
    """A request the server answers itself, then closes the connection; `status` None:
    close without an answer (what was not read cannot be answered)."""

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def refusal_bytes(status: int, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return b"".join([STATUS_LINE[status], b"content-type: application/json\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])


class CoalescingWriter:
    """What a response cycle writes through: an answer's head is held until its body comes,
    so head and body leave in one write (one syscall, one packet; uvicorn writes them
    apart). The protocol flushes what is held when the answer completes (an empty body
    writes nothing); an interim `100 Continue` is never held."""

    __slots__ = ("transport", "held")

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self.held is not None:
            data, self.held = self.held + data, None
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100 "):
            self.held = data
            return
        self.transport.write(data)

    def flush(self) -> None:
        if self.held is not None:
            data, self.held = self.held, None
            self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, limits: Limits):
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.timeout_keep_alive = limits.keepalive_s
        self._head_bytes = 0
        self._head_lines = 0
        self._head_complete = False
        self._deadline: asyncio.TimerHandle | None = None
        self._refusal: Refusal | None = None
        self._writer: CoalescingWriter | None = None

    # -- connections ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        self._writer = CoalescingWriter(transport)
        if over:
            transport.write(refusal_bytes(503, codes.TOO_MANY_CONNECTIONS,
                                          f"over {self.limits.max_connections} open connections"))
            transport.close()
            return
        # Idle from the start: a connection that never sends a byte is closed too.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                            self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._refusal is not None or self.transport.is_closing():
            return   # refusing: nothing more is read
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol switching here: the request is answered as a plain one, then the
            # connection closes (what follows the head is not HTTP/1.1 any more).
            self.flow.pause_reading()
            if self.cycle is not None:
                self.cycle.keep_alive = False
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._refuse(cause if isinstance(cause, Refusal) else
                         Refusal(400, codes.BAD_REQUEST, f"malformed HTTP request: {exc}"))

    # -- llhttp's callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        if len(self.pipeline) >= self.limits.max_pipelined:
            raise Refusal(None, codes.TOO_MANY_REQUESTS, "pipelining depth over the limit")
        self._head_bytes = self._head_lines = 0
        self._head_complete = False
        self._arm(self.limits.header_timeout_s, "request line and headers")
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if self._head_complete:
            return   # a trailer: never merged into the head (it could override any header)
        self._head_lines += 1
        if self._head_lines > self.limits.max_headers:
            raise Refusal(431, codes.HEADERS_TOO_LARGE, f"more than {self.limits.max_headers} header lines")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_complete = True
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self._writer is not None:
            self.cycle.transport = self._writer   # type: ignore[assignment]
        self._arm(self.limits.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        super().on_response_complete()
        if self._refusal is not None:
            self._answer_refusal_when_due()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            raise Refusal(431, codes.HEADERS_TOO_LARGE,
                          f"request line and headers over {self.limits.max_header_bytes} bytes")

    # -- deadlines --------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float, what: str) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        if self.flow.read_paused:
            # We stopped reading (answers owed first, or the app not yet reading the body):
            # the client could not send; its time starts again when we read again.
            self._arm(seconds, what)
            return
        self._refuse(Refusal(408, codes.REQUEST_TIMEOUT, f"the request's {what} did not arrive within {seconds:g}s"))

    # -- refusing -----------------------------------------------------------------------
    def _refuse(self, refusal: Refusal) -> None:
        """Stop reading; answer `refusal` once every answer owed before it has gone out."""
        self._disarm()
        self._refusal = refusal
        self.flow.pause_reading()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # The request being received is the refused one: it can never be served.
            for index, (queued, _) in enumerate(self.pipeline):
                if queued is cycle:
                    del self.pipeline[index]
                    break
            else:
                # It is the one being answered: the refusal is its answer, unless the app
                # has already begun one (then only the close is left).
                if cycle.response_started:
                    refusal.status = None
                cycle.disconnected = True      # the app's own answer, if any, is dropped
                cycle.message_event.set()
                self._write_refusal()
                return
        self._answer_refusal_when_due()

    def _answer_refusal_when_due(self) -> None:
        cycle = self.cycle
        owed = self.pipeline or (cycle is not None and not cycle.response_complete and not cycle.disconnected)
        if not owed and not self.transport.is_closing():
            self._write_refusal()

    def _write_refusal(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        refusal = self._refusal
        if refusal is not None and refusal.status is not None and not self.transport.is_closing():
            self.transport.write(refusal_bytes(refusal.status, refusal.code, str(refusal)))
        self.transport.close()
