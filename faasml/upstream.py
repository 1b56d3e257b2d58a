"""A lean keep-alive HTTP/1.1 client for the platform's own hops: the local gateway to
its replicas, and the selector to its gateways (or, in direct mode, to the functions).

Each hop is one request out and one response back per invocation; a general-purpose
client (cookies, redirects, tracing, URL objects) costs more CPU than a trivial
function's own work. This one does only what a forwarding hop needs: pooled connections
per port of one host, TLS when asked, Content-Length and chunked response bodies,
binary-safe bytes, a timeout, and clear errors for "could not connect" (nothing sent:
safe to try elsewhere) versus "connection lost" (the far end may have run the request).
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_HEAD_BYTES = 64 * 1024
# Below waitress's 120 s channel_timeout and the template asyncio server's 75 s
# (FAASML_SERVER_KEEPALIVE_S): a connection idle
# longer is never reused (closed when next taken from the pool), so the far end never
# closes one under a request of ours.
IDLE_CLOSE_S = 10.0


class UpstreamError(Exception):
    """Base of the client's own errors."""


class ConnectFailed(UpstreamError):
    """The connection could not be made: the request was not sent."""


class ConnectionLost(UpstreamError):
    """The replica closed the connection or answered garbage before a full response."""


@dataclass
class UpstreamResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _ResponseParser:
    """Incremental HTTP/1.1 response parser; `feed` returns a response once complete."""

    def __init__(self, head_only: bool):
        self.head_only = head_only
        self.buffer = bytearray()
        self.body = bytearray()
        self._reset_head()

    def _reset_head(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.length: int | None = None
        self.chunked = False
        self.until_close = False
        self.keep_alive = True
        self.head_done = False

    def feed(self, data: bytes) -> UpstreamResponse | None:
        self.buffer += data
        while not self.head_done:
            if not self._parse_head():
                return None
            if 100 <= self.status < 200:  # interim (e.g. 100 Continue): the answer follows
                self._reset_head()
        if self.chunked:
            return self._parse_chunks()
        if self.until_close:
            return None  # complete only at EOF (`finish`)
        if len(self.buffer) >= (self.length or 0):
            self.body = self.buffer[:self.length or 0]
            del self.buffer[:self.length or 0]
            return self._response()
        return None

    def finish(self) -> UpstreamResponse | None:
        """At EOF: the response, if EOF is how this one ends."""
        if self.head_done and self.until_close:
            self.body = self.buffer
            return self._response()
        return None

    def _parse_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD_BYTES:
                raise ConnectionLost("response head too large")
            return False
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        version, _, rest = lines[0].partition(" ")
        try:
            self.status = int(rest[:3])
        except ValueError as exc:
            raise ConnectionLost(f"bad status line {lines[0]!r}") from exc
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            self.headers.append((name, value))
            lower = name.lower()
            if lower == "content-length":
                self.length = int(value)
            elif lower == "transfer-encoding" and "chunked" in value.lower():
                self.chunked = True
            elif lower == "connection" and value.lower() == "close":
                self.keep_alive = False
        if version == "HTTP/1.0" and not any(
                n.lower() == "connection" and v.lower() == "keep-alive" for n, v in self.headers):
            self.keep_alive = False
        if self.head_only or self.status in _NO_BODY_STATUSES:
            self.length, self.chunked = 0, False
        elif not self.chunked and self.length is None:
            self.until_close, self.keep_alive = True, False
        self.head_done = True
        return True

    def _parse_chunks(self) -> UpstreamResponse | None:
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return None
            size_text = bytes(self.buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise ConnectionLost(f"bad chunk size {size_text!r}") from exc
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return None
                del self.buffer[:trailer_end + 4]
                return self._response()
            if len(self.buffer) < line_end + 2 + size + 2:
                return None
            start = line_end + 2
            self.body += self.buffer[start:start + size]
            del self.buffer[:start + size + 2]

    def _response(self) -> UpstreamResponse:
        headers = [(n, v) for n, v in self.headers if n.lower() != "transfer-encoding"]
        return UpstreamResponse(self.status, headers, bytes(self.body))


class _Connection(asyncio.Protocol):
    def __init__(self, pool: "UpstreamPool", port: int):
        self.pool, self.port = pool, port
        self.transport: asyncio.Transport | None = None
        self.parser: _ResponseParser | None = None
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.idle_since = 0.0  # loop time it went back to the pool

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, head_only: bool) -> asyncio.Future:
        self.parser = _ResponseParser(head_only)
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if self.parser is None or self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the stream is out of step
            return
        try:
            response = self.parser.feed(data)
        except (ConnectionLost, ValueError) as exc:
            self._fail(ConnectionLost(str(exc)))
            return
        if response is not None:
            self._complete(response)

    def eof_received(self) -> bool | None:
        if self.parser is not None and self.waiter is not None and not self.waiter.done():
            response = self.parser.finish()
            if response is not None:
                self._complete(response)
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        self._fail(ConnectionLost(f"connection closed by the replica ({exc or 'EOF'})"))

    def _complete(self, response: UpstreamResponse) -> None:
        keep = self.parser is not None and self.parser.keep_alive and not self.parser.buffer
        self.parser = None
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)
        if keep and not self.closed:
            # A timestamp, not a timer: two timer operations per request cost more than
            # the check when the connection is next taken (UpstreamPool._connection).
            self.idle_since = asyncio.get_running_loop().time()
            self.pool.release(self)
        else:
            self.close()

    def _fail(self, exc: UpstreamError) -> None:
        waiter, self.waiter = self.waiter, None
        self.parser = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


class UpstreamPool:
    """Idle keep-alive connections per port of one host (for the local gateway a
    replica's port is never reused while it lives, so the port identifies the replica).
    Bound to the event loop that first uses it, as its connections are."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
                 connect_timeout_s: float = 5.0) -> None:
        self.host = host
        self.tls = tls
        self.connect_timeout_s = connect_timeout_s  # a remote host may drop SYNs silently
        self._authority = f"[{host}]" if ":" in host else host  # an IPv6 literal in Host
        self._idle: dict[int, list[_Connection]] = {}

    def release(self, connection: _Connection) -> None:
        self._idle.setdefault(connection.port, []).append(connection)

    def forget(self, connection: _Connection) -> None:
        idle = self._idle.get(connection.port)
        if idle and connection in idle:
            idle.remove(connection)

    async def _connection(self, port: int) -> _Connection:
        idle = self._idle.get(port)
        loop = asyncio.get_running_loop()
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            if loop.time() - connection.idle_since > IDLE_CLOSE_S:
                connection.close()
                continue
            return connection
        try:
            _, protocol = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(self, port), self.host, port, ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None), self.connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{port}: {exc}") from exc
        return protocol

    async def request(self, port: int, method: str, target: str, headers: list[tuple[str, str]],
                      body: bytes, timeout_s: float) -> UpstreamResponse:
        """Send one request; raises ConnectFailed, ConnectionLost or asyncio.TimeoutError."""
        head = [f"{method} {target} HTTP/1.1\r\nHost: {self._authority}:{port}\r\n"]
        head += [f"{name}: {value}\r\n" for name, value in headers]
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            head.append(f"Content-Length: {len(body)}\r\n")
        head.append("\r\n")
        # Header text came from a parsed request: no CR/LF inside, bytes kept as received.
        request = "".join(head).encode("utf-8", "surrogateescape") + body
        connection = await self._connection(port)
        waiter = connection.send(request, head_only=method == "HEAD")
        # A timer instead of asyncio.wait_for: no extra task on the hot path.
        timer = asyncio.get_running_loop().call_later(timeout_s, _expire, waiter)
        try:
            return await waiter
        except (asyncio.TimeoutError, asyncio.CancelledError):
            connection.close()  # a late answer must not reach the next request
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        for connections in list(self._idle.values()):
            for connection in list(connections):
                connection.close()
        self._idle.clear()
