"""The selector's one HTTP client: forwarding, registry listings, load metrics, PromQL and
stall probes all go through it, on the selector's event loop (no thread of its own).

It is the platform's client (faasml/upstream.py: keep-alive pools per origin with a
connection limit, strict framing, a response size cap, connect and exchange timeouts).
Its errors keep the distinction forwarding needs: `ConnectFailed` (nothing was sent:
safe to try elsewhere; a connect timeout is one), `ConnectionLost` (the far end may have
run the request; `ProtocolError`, bad framing, is one), `ResponseTooLarge`, and
`asyncio.TimeoutError` for an exchange past its time.
"""
from __future__ import annotations

from faasml.upstream import (AsyncHttpClient, ConnectFailed, ConnectionLost, HttpResponse, ProtocolError,
                             ResponseTooLarge, UpstreamError)

__all__ = ["ConnectFailed", "ConnectionLost", "HttpClient", "ProtocolError", "Reply", "ResponseTooLarge",
           "UpstreamError", "new_client"]

HttpClient = AsyncHttpClient
Reply = HttpResponse

# Connections to one origin at once (a gateway, or one replica in direct mode): far above
# what the selector's admission lets be in flight, so the pool never holds requests back.
LIMIT_PER_HOST = 1024
CONNECT_TIMEOUT_S = 1.0
# An answer larger than this is refused (a 502 for the client): the selector relays
# bodies, and a runaway executor must not fill its memory.
MAX_RESPONSE_BYTES = 256 << 20


def new_client() -> AsyncHttpClient:
    return AsyncHttpClient(limit_per_host=LIMIT_PER_HOST, connect_timeout_s=CONNECT_TIMEOUT_S,
                           max_response_bytes=MAX_RESPONSE_BYTES)
