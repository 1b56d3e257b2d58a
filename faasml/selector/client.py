"""The selector's one HTTP client: forwarding, registry listings, load metrics, PromQL and
stall probes all go through it, on the selector's event loop (no thread of its own).

Keep-alive pools per (scheme, host, port) over faasml.upstream's lean HTTP/1.1 client,
bound to the loop that first uses them (a test's new loop gets new ones). Errors keep the
distinction forwarding needs: `ConnectFailed` (nothing was sent: safe to try elsewhere),
`ConnectionLost` (the far end may have run the request), `asyncio.TimeoutError`.
"""
from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from faasml.http import Headers
from faasml.upstream import ConnectFailed, ConnectionLost, UpstreamPool

__all__ = ["ConnectFailed", "ConnectionLost", "HttpClient", "Reply"]


@dataclass
class Reply:
    status: int
    headers: Headers          # names case-insensitive; a repeated header's values joined by commas
    body: bytes
    elapsed_ms: float


class HttpClient:
    def __init__(self, connect_timeout_s: float = 1.0):
        self.connect_timeout_s = connect_timeout_s
        self._pools: dict[tuple[str, str], UpstreamPool] = {}
        self._tls: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _pool(self, scheme: str, host: str) -> UpstreamPool:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:   # connections cannot outlive their loop
            self.close()
            self._loop = loop
        pool = self._pools.get((scheme, host))
        if pool is None:
            tls = None
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                tls = self._tls
            pool = self._pools[(scheme, host)] = UpstreamPool(host, tls, self.connect_timeout_s)
        return pool

    async def request(self, method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                      timeout_s: float = 5.0) -> Reply:
        """One request to an absolute http(s) URL; raises ConnectFailed, ConnectionLost or
        asyncio.TimeoutError (the whole exchange past `timeout_s`)."""
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        started = time.perf_counter()
        response = await self._pool(parts.scheme, host).request(port, method, target, list(headers), body,
                                                                 timeout_s)
        return Reply(response.status, _joined(response.headers), response.body,
                     (time.perf_counter() - started) * 1000.0)

    def close(self) -> None:
        for pool in self._pools.values():
            try:
                pool.close()
            except RuntimeError:   # its loop has closed already: so have its connections
                pass
        self._pools.clear()


def _joined(pairs: list[tuple[str, str]]) -> Headers:
    """Response headers as a case-insensitive map, a repeated header's values joined by
    commas (RFC 9110 5.3)."""
    headers = Headers()
    for name, value in pairs:
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers
