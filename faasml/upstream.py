"""The platform's one pooled async HTTP/1.1 client: the local gateway to its replicas, the
selector to its gateways and functions, the dashboard to the selector.

Each hop is one request out and one response back; a general-purpose client (cookies,
redirects, URL objects, tracing) costs more CPU per call than a trivial function's own
work. This one does what a forwarding hop needs and no more, on llhttp's response parser
(httptools, the C parser Node.js uses) for strict framing: a negative, signed,
underscored, duplicate or overflowing Content-Length, Content-Length beside
Transfer-Encoding, and a bad chunk size all end the exchange as `ProtocolError`, never as
a guessed length. Around it:

- keep-alive pools per origin (scheme, host, port), at most `limit_per_host` connections
  to one origin at once (callers beyond it wait, within their connect timeout);
- a response size cap (`max_response_bytes`, head and body together);
- timeouts on connect, on the response head and on the whole response;
- typed errors that tell a caller what it may do next: `ConnectFailed` (nothing was sent:
  safe to send elsewhere), `ConnectionLost` (the far end may have run the request),
  `ProtocolError` (garbage), `ResponseTooLarge`, `UpstreamTimeout` (an
  `asyncio.TimeoutError`; a connect timeout is also a `ConnectFailed`).

One `AsyncHttpClient` per event loop: its connections belong to the loop that made them.
`UpstreamPool` is the older one-host interface, kept as a thin layer over it.
"""
from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

# Below the keep-alive timeouts of the servers we call (the template server's 75 s,
# waitress's 120 s, Go's of-watchdog and gateway: 60 s+): a connection idle longer is
# never reused, so the far end never closes one under a request of ours.
IDLE_CLOSE_S = 10.0
MAX_HEAD_BYTES = 64 * 1024        # status line + header lines of one response
MAX_HEADERS = 200
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
DEFAULT_LIMIT_PER_HOST = 512
_NO_BODY_STATUSES = frozenset({204, 304})


class UpstreamError(Exception):
    """Base of the client's own errors."""


class ConnectFailed(UpstreamError):
    """No connection, or no free slot in the origin's pool: the request was not sent."""


class ConnectionLost(UpstreamError):
    """The far end closed the connection before a whole response: it may have run the request."""


class ProtocolError(ConnectionLost):
    """The far end answered something that is not valid HTTP/1.1 framing."""


class ResponseTooLarge(UpstreamError):
    """The response's head or body went past the caller's cap; the connection is closed."""


class UpstreamTimeout(UpstreamError, asyncio.TimeoutError):
    """A deadline passed; `phase` says which: connect, pool, headers or body."""

    def __init__(self, phase: str, message: str):
        super().__init__(message)
        self.phase = phase


class ConnectTimeout(UpstreamTimeout, ConnectFailed):
    """Connecting (or waiting for a pool slot) took too long: nothing was sent."""


@dataclass
class HttpResponse:
    status: int
    headers: CIMultiDict        # repeated headers kept, in order
    body: bytes
    elapsed_ms: float


HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | CIMultiDict


def header_pairs(headers: HeadersLike | None) -> Iterable[tuple[str, str]]:
    if headers is None:
        return ()
    items = getattr(headers, "items", None)
    return items() if items is not None else headers


class _Exchange:
    """One request's response as llhttp's callbacks report it."""

    __slots__ = ("head_only", "limit", "size", "status", "headers", "body", "head_done", "complete",
                 "keep_alive", "until_close", "waiter", "started")

    def __init__(self, head_only: bool, limit: int, waiter: asyncio.Future, started: float):
        self.head_only, self.limit, self.waiter, self.started = head_only, limit, waiter, started
        self.size = 0
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.head_done = self.complete = self.until_close = False
        self.keep_alive = True


class _Connection(asyncio.Protocol):
    """One keep-alive connection; llhttp parses what comes back, one exchange at a time."""

    def __init__(self, pool: "_OriginPool"):
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser: Any = None
        self.exchange: _Exchange | None = None
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.complete:
            self.close()   # bytes nobody asked for: the stream is out of step
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if exchange.complete:
                # Stopped where a HEAD's answer ends, or bytes came after a whole response
                # (a 204's body): the answer stands, the connection is not reused.
                exchange.keep_alive = False
                self._finish(exchange)
                return
            if isinstance(cause, UpstreamError):
                self._fail(cause)
            else:
                self._fail(ProtocolError(f"malformed response from {self.pool.origin}: {exc}"))
            return
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError(f"{self.pool.origin} switched protocols"))
            return
        if exchange.complete:
            self._finish(exchange)

    def eof_received(self) -> bool | None:
        exchange = self.exchange
        if exchange is not None and not exchange.complete and exchange.head_done and exchange.until_close:
            exchange.complete, exchange.keep_alive = True, False   # EOF is how this one ends
            self._finish(exchange)
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
        self._fail(ConnectionLost(f"{self.pool.origin} closed the connection ({exc or 'EOF'})"))

    # -- llhttp's callbacks --------------------------------------------------------------
    def on_status(self, status: bytes) -> None:
        self._count(len(status) + 16)

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        self._count(len(name) + len(value) + 4)
        if exchange.head_done:
            return   # a trailer: never merged into the head (it could override any header)
        if len(exchange.headers) >= MAX_HEADERS:
            raise ResponseTooLarge(f"{self.pool.origin} sent more than {MAX_HEADERS} header lines")
        exchange.headers.append((name.decode("latin-1"), value.decode("latin-1").rstrip(" \t")))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:   # interim (100 Continue, 103): the answer follows
            exchange.headers, exchange.size = [], 0
            return
        exchange.status, exchange.head_done = status, True
        if exchange.head_only:
            # llhttp cannot be told that a HEAD's answer has no body: stop it here.
            exchange.complete = True
            raise _HeadDone()
        lowered = {name.lower() for name, _ in exchange.headers}
        if "content-length" not in lowered and "transfer-encoding" not in lowered:
            exchange.until_close = True

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        exchange.size += len(body)
        if exchange.size > exchange.limit:
            raise ResponseTooLarge(f"{self.pool.origin}'s response is over {exchange.limit} bytes")
        exchange.body.append(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        if not exchange.head_done:
            return   # the end of an interim response
        exchange.complete = True
        exchange.keep_alive = self.parser.should_keep_alive() and not exchange.until_close

    def _count(self, size: int) -> None:
        exchange = self.exchange
        assert exchange is not None
        exchange.size += size
        if not exchange.head_done and exchange.size > MAX_HEAD_BYTES:
            raise ResponseTooLarge(f"{self.pool.origin}'s response head is over {MAX_HEAD_BYTES} bytes")
        if exchange.size > exchange.limit:
            raise ResponseTooLarge(f"{self.pool.origin}'s response is over {exchange.limit} bytes")

    # -- the exchange ---------------------------------------------------------------------
    def send(self, request: bytes, head_only: bool, limit: int, started: float) -> asyncio.Future:
        waiter = asyncio.get_running_loop().create_future()
        self.exchange = _Exchange(head_only, limit, waiter, started)
        self.parser = httptools.HttpResponseParser(self)
        assert self.transport is not None
        self.transport.write(request)
        return waiter

    def head_received(self) -> bool:
        return self.exchange is not None and self.exchange.head_done

    def _finish(self, exchange: _Exchange) -> None:
        self.exchange, self.parser = None, None
        body = exchange.body[0] if len(exchange.body) == 1 else b"".join(exchange.body)
        response = HttpResponse(exchange.status, CIMultiDict(exchange.headers), body,
                                (time.perf_counter() - exchange.started) * 1000.0)
        if not exchange.waiter.done():
            exchange.waiter.set_result(response)
        if exchange.keep_alive and not self.closed:
            # A timestamp, not a timer: checked when the connection is next taken.
            self.idle_since = asyncio.get_running_loop().time()
            self.pool.release(self)
        else:
            self.close()

    def _fail(self, exc: UpstreamError) -> None:
        exchange, self.exchange, self.parser = self.exchange, None, None
        if exchange is not None and not exchange.waiter.done():
            exchange.waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
        if self.transport is not None:
            self.transport.close()


class _HeadDone(Exception):
    """Raised from on_headers_complete to stop llhttp where a HEAD's answer ends (llhttp
    reports it as a callback error, whose __context__ this is)."""


class _OriginPool:
    """Idle connections to one origin, and the count of all of them, idle or busy."""

    def __init__(self, client: "AsyncHttpClient", scheme: str, host: str, port: int):
        self.client = client
        self.host, self.port = host, port
        self.tls = client.tls_context() if scheme == "https" else None
        self.origin = f"{scheme}://{host}:{port}"
        self.authority = (f"[{host}]" if ":" in host else host) + (
            "" if (scheme, port) in (("http", 80), ("https", 443)) else f":{port}")
        self.idle: list[_Connection] = []
        self.open = 0                                   # connections made and not closed
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    def release(self, connection: _Connection) -> None:
        while self.waiters:   # hand it straight to a caller waiting for a slot
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self.idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        if connection in self.idle:
            self.idle.remove(connection)
        self.open -= 1
        while self.waiters:   # a slot is free: the first waiter connects anew
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def connection(self, connect_timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        while self.idle:
            connection = self.idle.pop()
            if connection.closed:
                continue
            if loop.time() - connection.idle_since > IDLE_CLOSE_S:
                connection.close()
                continue
            return connection
        deadline = loop.time() + connect_timeout_s
        while self.open >= self.client.limit_per_host:
            waiter = loop.create_future()
            self.waiters.append(waiter)
            try:
                handed = await asyncio.wait_for(waiter, max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                raise ConnectTimeout("pool", f"no free connection to {self.origin} within "
                                             f"{connect_timeout_s:g}s ({self.client.limit_per_host} busy)") from None
            if handed is not None and not handed.closed:
                return handed
        self.open += 1
        try:
            _, protocol = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(self), self.host, self.port, ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None),
                max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:
            self.open -= 1
            raise ConnectTimeout("connect", f"cannot connect to {self.origin} within {connect_timeout_s:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            self.open -= 1
            raise ConnectFailed(f"cannot connect to {self.origin}: {exc}") from exc
        except BaseException:
            self.open -= 1
            raise
        return protocol  # type: ignore[return-value]

    def close(self) -> None:
        for connection in list(self.idle):
            connection.close()
        self.idle.clear()


def _expire(connection: _Connection, waiter: asyncio.Future, timeout_s: float) -> None:
    if not waiter.done():
        phase = "body" if connection.head_received() else "headers"
        waiter.set_exception(UpstreamTimeout(phase, f"no whole response within {timeout_s:g}s "
                                                    f"(waiting for its {phase})"))


class AsyncHttpClient:
    """Pooled keep-alive HTTP/1.1 client for one event loop.

    `limit_per_host`: connections open to one origin at once, idle or busy.
    `connect_timeout_s`, `max_response_bytes`: defaults for `request`.
    """

    def __init__(self, *, limit_per_host: int = DEFAULT_LIMIT_PER_HOST, connect_timeout_s: float = 5.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, tls: ssl.SSLContext | None = None):
        if limit_per_host < 1:
            raise ValueError("limit_per_host must be at least 1")
        self.limit_per_host = limit_per_host
        self.connect_timeout_s = connect_timeout_s
        self.max_response_bytes = max_response_bytes
        self._tls = tls
        self._pools: dict[tuple[str, str, int], _OriginPool] = {}
        self._origins: dict[str, tuple[_OriginPool, str]] = {}   # URL prefix -> pool, path prefix
        self._loop: asyncio.AbstractEventLoop | None = None

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _pool_for(self, scheme: str, host: str, port: int) -> _OriginPool:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("an AsyncHttpClient serves one event loop; make one per loop")
            self._loop, self._pools, self._origins = loop, {}, {}
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _OriginPool(self, scheme, host, port)
        return pool

    def _split(self, url: str) -> tuple[_OriginPool, str]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an absolute http(s) URL: {url[:200]!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return self._pool_for(parts.scheme, parts.hostname, port), target

    async def request(self, method: str, url: str, headers: HeadersLike | None = None, body: bytes = b"",
                      timeout_s: float = 30.0, *, connect_timeout_s: float | None = None,
                      max_response_bytes: int | None = None) -> HttpResponse:
        """Send one request and read its whole response.

        `timeout_s` bounds the exchange once connected (head and body); the connect (and
        any wait for a pool slot) has its own `connect_timeout_s`. Raises ConnectFailed,
        ConnectionLost / ProtocolError, ResponseTooLarge or UpstreamTimeout.
        """
        started = time.perf_counter()
        pool, target = self._split(url)
        return await self._send(pool, method, target, headers, body, timeout_s, started,
                                self.connect_timeout_s if connect_timeout_s is None else connect_timeout_s,
                                self.max_response_bytes if max_response_bytes is None else max_response_bytes)

    async def _send(self, pool: _OriginPool, method: str, target: str, headers: HeadersLike | None,
                    body: bytes, timeout_s: float, started: float, connect_timeout_s: float,
                    max_response_bytes: int) -> HttpResponse:
        request = _request_bytes(method, target, pool.authority, headers, body)
        connection = await pool.connection(connect_timeout_s)
        waiter = connection.send(request, method == "HEAD", max_response_bytes, started)
        # A timer instead of asyncio.wait_for: no extra task on the hot path.
        timer = asyncio.get_running_loop().call_later(timeout_s, _expire, connection, waiter, timeout_s)
        try:
            return await waiter
        except BaseException:
            connection.close()   # a late answer must never reach the next request
            raise
        finally:
            timer.cancel()

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._origins.clear()

    def close_now(self) -> None:
        """`close` for code that cannot await (a finaliser, a sync shutdown path)."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _request_bytes(method: str, target: str, authority: str, headers: HeadersLike | None, body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {authority}\r\n"]
    for name, value in header_pairs(headers):
        if name.lower() in _FRAMED_HERE:
            continue
        line = f"{name}: {value}\r\n"
        if "\r" in line[:-2] or "\n" in line[:-2]:   # would split the request (header injection)
            raise ValueError(f"request header {name[:100]!r} holds a line break")
        lines.append(line)
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    if "\r" in target or "\n" in target or " " in target:
        raise ValueError(f"request target {target[:100]!r} holds a space or a line break")
    # Header text came from a parsed request: bytes kept as received.
    return "".join(lines).encode("utf-8", "surrogateescape") + body


_FRAMED_HERE = frozenset({"host", "content-length", "transfer-encoding"})   # this client writes them


@dataclass
class UpstreamResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class UpstreamPool:
    """One host's keep-alive connections by port (a local replica's port identifies it), for
    callers written before `AsyncHttpClient`; bound to the loop that first uses it."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
                 connect_timeout_s: float = 5.0, *, limit_per_host: int = DEFAULT_LIMIT_PER_HOST,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.host = host
        self.scheme = "https" if tls is not None else "http"
        self.client = AsyncHttpClient(limit_per_host=limit_per_host, connect_timeout_s=connect_timeout_s,
                                      max_response_bytes=max_response_bytes, tls=tls)

    @property
    def _idle(self) -> dict[int, list[_Connection]]:
        return {port: pool.idle for (_, _, port), pool in self.client._pools.items()}

    async def request(self, port: int, method: str, target: str, headers: Iterable[tuple[str, str]],
                      body: bytes, timeout_s: float) -> UpstreamResponse:
        """Send one request; raises ConnectFailed (a connect timeout included),
        ConnectionLost (ProtocolError), ResponseTooLarge or asyncio.TimeoutError."""
        started = time.perf_counter()
        pool = self.client._pool_for(self.scheme, self.host, port)
        try:
            response = await self.client._send(pool, method, target, headers, body, timeout_s, started,
                                               self.client.connect_timeout_s, self.client.max_response_bytes)
        except ConnectTimeout as exc:
            raise ConnectFailed(str(exc)) from exc
        return UpstreamResponse(response.status, list(response.headers.items()), response.body)

    def close(self) -> None:
        self.client.close_now()
