"""The selector's asyncio client for invoking the chosen function.

Used by the event-loop server (`SelectorService.handle_async`): one lean keep-alive pool
(faasml.upstream) per address, so a forwarded call costs a write and a parse on the loop
thread, with no worker thread to hand off to and no urllib3/http.client header parsing.
A call goes straight to the function when `DirectRoutes` names an address (direct.py),
else through the variant's gateway; a direct address that refuses the connection (a
replica restarted since the last listing) sends that same call through the gateway.
The pools belong to the loop that made them; a new loop (a test's `asyncio.run`) gets
new ones.
"""
from __future__ import annotations

import asyncio
import ssl
import time
from urllib.parse import urlsplit

from typing import Callable

from faasml.http import Headers
from faasml.selector.direct import DirectCallMetrics, DirectRoutes
from faasml.selector.forwarding import Call, CallFailed, CallResult, Outcome
from faasml.selector.gateway_client import Upstream, function_path
from faasml.upstream import ConnectFailed, ConnectionLost, UpstreamPool


class _Target:
    """Where a gateway's functions are reached: host, port, path prefix, TLS."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.port = parts.port or (443 if self.tls is not None else 80)
        self.prefix = parts.path.rstrip("/")


class AsyncInvoker:
    def __init__(self, connect_timeout_s: float = 1.0, routes: DirectRoutes | None = None,
                 direct_metrics: DirectCallMetrics | None = None,
                 on_stale_address: Callable[[], None] = lambda: None):
        self.connect_timeout_s = connect_timeout_s
        self.routes = routes or DirectRoutes("off")
        self.direct_metrics = direct_metrics or DirectCallMetrics()
        self.on_stale_address = on_stale_address
        self._targets: dict[str, _Target] = {}
        self._pools: dict[str, UpstreamPool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _pool(self, base_url: str) -> tuple[_Target, UpstreamPool]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections cannot outlive their loop
            self.close()
            self._loop = loop
        target = self._targets.get(base_url)
        if target is None:
            target = self._targets[base_url] = _Target(base_url)
        pool = self._pools.get(base_url)
        if pool is None:
            pool = self._pools[base_url] = UpstreamPool(target.host, target.tls, self.connect_timeout_s)
        return target, pool

    async def call(self, call: Call) -> CallResult:
        """POST the call to the function: at its direct address when there is one, else
        to /function/<name>[.<namespace>] on its gateway."""
        variant = call.candidate.variant
        direct = self.routes.url_for(variant)
        started = time.perf_counter()
        if direct is not None:
            try:
                return await self._direct(direct, call, started)
            except ConnectFailed:
                self.on_stale_address()  # re-list: the replica has moved
        target, pool = self._pool(variant.gateway)
        url = target.prefix + function_path(variant.name, variant.namespace) + (f"?{call.query}" if call.query else "")
        try:
            response = await pool.request(target.port, "POST", url, list(call.headers.items()),
                                          call.body, call.timeout_s)
        except asyncio.TimeoutError:
            return CallFailed(Outcome.TIMEOUT)
        except (ConnectFailed, ConnectionLost, OSError) as exc:
            return CallFailed(Outcome.CONNECTION_ERROR, type(exc).__name__)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Upstream(response.status, _joined(response.headers), response.body, elapsed_ms)

    async def _direct(self, base_url: str, call: Call, started: float) -> CallResult:
        """The call at the function's own address, counted as the gateway would count it;
        ConnectFailed (nothing was sent) propagates for the gateway to take the call."""
        variant = call.candidate.variant
        target, pool = self._pool(base_url)
        url = (target.prefix or "/") + (f"?{call.query}" if call.query else "")
        # What the gateway adds on its way: its own start stamp replaces the selector's.
        headers = [(k, v) for k, v in call.headers.items() if k.lower() != "x-start-time"]
        headers.append(("X-Start-Time", str(time.time_ns())))
        metrics, function = self.direct_metrics, variant.function_name
        metrics.started(function)
        try:
            response = await pool.request(target.port, "POST", url, headers, call.body, call.timeout_s)
        except asyncio.TimeoutError:
            metrics.finished(function, 504, time.perf_counter() - started)
            return CallFailed(Outcome.TIMEOUT)
        except ConnectFailed:
            metrics.finished(function, 502, time.perf_counter() - started)
            raise
        except (ConnectionLost, OSError) as exc:
            metrics.finished(function, 502, time.perf_counter() - started)
            return CallFailed(Outcome.CONNECTION_ERROR, type(exc).__name__)
        except BaseException:  # cancelled with the client's connection
            metrics.finished(function, 499, time.perf_counter() - started)
            raise
        elapsed_s = time.perf_counter() - started
        metrics.finished(function, response.status, elapsed_s)
        return Upstream(response.status, _joined(response.headers), response.body, elapsed_s * 1000.0)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _joined(pairs: list[tuple[str, str]]) -> Headers:
    """Response headers as a case-insensitive map, a repeated header's values joined by
    commas (RFC 9110 5.3), as the blocking client's urllib3 map gives them."""
    headers = Headers()
    for name, value in pairs:
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers
