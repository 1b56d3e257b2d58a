"""`/function/{name}[.{namespace}][/subpath]`: forwarding an invocation to a ready replica.

Method, subpath, raw query string, headers (less hop-by-hop ones) and body pass through
unchanged and binary-safe, over pooled keep-alive connections (`upstream`). Every failure
upstream ends as a JSON error with the status OpenFaaS would give (502 connection lost,
503 no ready replica, 504 timeout, 429 over `max_inflight`), and is counted in the
gateway's metrics with that code.
"""
from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Awaitable, Callable

from aiohttp import web

from faasml import errors as codes
from faasml.errors import (BadGateway, FaasmlError, GatewayTimeout, NotFound, NotReady, TooManyRequests,
                           internal_error)
from faasml.http import canonical_name, end_to_end
from faasml.runtime.config import RuntimeConfig
from faasml.runtime.durations import parse_duration_seconds
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.provider import LocalProvider
from faasml.runtime.replicas import Replica
from faasml.runtime.responses import error_response
from faasml.runtime.stack import DEFAULT_NAMESPACE
from faasml.runtime.supervisor import FunctionSupervisor
from faasml.runtime.listener import GatewayLimits, read_body
from faasml.upstream import ConnectFailed, ConnectionLost, ProtocolError, ResponseTooLarge, UpstreamPool

CLIENT_CLOSED = 499  # nginx's code for "client closed the request", used only in metrics
BODY_LIMIT_SETTINGS = ("FAASML_SERVER_MAX_BODY", "FAASML_MAX_BODY_BYTES")


def function_body_limit(environment: dict[str, str]) -> int | None:
    """A function's body limit as its stack.yml environment names it: the one its server
    enforces (FAASML_SERVER_MAX_BODY), else the executor's own (FAASML_MAX_BODY_BYTES)."""
    for name in BODY_LIMIT_SETTINGS:
        raw = environment.get(name, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return None


def upstream_target(raw_path: str) -> str:
    """The raw subpath and query after `/function/{name}` (or `/async-function/{name}`),
    encoded exactly as received."""
    path, question, query = raw_path.partition("?")
    slash = path.find("/", path.find("/", 1) + 1)
    tail = path[slash:] if slash >= 0 else "/"
    return tail + question + query


class FunctionProxy:
    def __init__(self, provider: LocalProvider, metrics: GatewayMetrics, upstream: UpstreamPool,
                 settings: RuntimeConfig, limits: GatewayLimits | None = None):
        self.provider, self.metrics, self.upstream, self.settings = provider, metrics, upstream, settings
        self.limits = limits or GatewayLimits()
        self._timeouts: dict[str, float] = {}
        self._waking: set[str] = set()  # functions scaling from zero: requests wait longer
        # Scales a function at zero replicas back up; the autoscaler replaces it to count the event.
        self.wake: Callable[[FunctionSupervisor], None] = lambda s: s.scale(s.spec.min_replicas)

    async def handle(self, request: web.Request) -> web.Response:
        return await self._invoke(request.match_info["name"], lambda s: self._forward(s, request))

    async def call(self, function: str, method: str, target: str, headers: list[tuple[str, str]],
                   body: bytes) -> web.Response:
        """An invocation made inside the gateway (a queued async call), on the same path as
        one from outside: metrics, balancing, scale from zero, limits and errors alike."""
        return await self._invoke(function, lambda s: self._dispatch(s, method, target, headers, body))

    async def _invoke(self, function: str, forward: Callable[[FunctionSupervisor], Awaitable[web.Response]]
                      ) -> web.Response:
        name, _, namespace = function.partition(".")
        supervisor = self.provider.functions.get((name, namespace or DEFAULT_NAMESPACE))
        if supervisor is None:
            return error_response(NotFound(
                f"function {name}.{namespace or DEFAULT_NAMESPACE} is not deployed",
                code=codes.FUNCTION_NOT_FOUND))
        function_name = supervisor.spec.qualified_name
        self.metrics.started(function_name)
        started = time.perf_counter()
        try:
            response = await forward(supervisor)
        except FaasmlError as exc:
            response = error_response(exc)
        except asyncio.CancelledError:
            # Keeps the in-flight gauge true when a handler is cancelled (client gone).
            self.metrics.finished(function_name, CLIENT_CLOSED, time.perf_counter() - started)
            raise
        except Exception as exc:  # the gateway survives anything a request can cause
            print(f"[{function_name}] proxy error: {exc!r}", file=sys.stderr, flush=True)
            response = error_response(internal_error(exc))
        elapsed = time.perf_counter() - started
        self.metrics.finished(function_name, response.status, elapsed)
        response.headers["X-Duration-Seconds"] = f"{elapsed:.6f}"
        return response

    async def _forward(self, supervisor: FunctionSupervisor, request: web.Request) -> web.Response:
        body = await self._read_body(request, supervisor)
        url = self._upstream_path(request)
        headers = end_to_end(request.headers.items())
        headers.append(("X-Forwarded-Host", request.host))
        if request.remote:
            headers.append(("X-Forwarded-For", request.remote))
        call_id = request.headers.get("X-Call-Id") or str(uuid.uuid4())
        if "X-Call-Id" not in request.headers:
            headers.append(("X-Call-Id", call_id))
        start_time = str(time.time_ns())
        headers.append(("X-Start-Time", start_time))
        response = await self._dispatch(supervisor, request.method, url, headers, body)
        # As OpenFaaS's gateway: the caller learns the call's id and start, whatever the function answers.
        response.headers.setdefault("X-Call-Id", call_id)
        response.headers.setdefault("X-Start-Time", start_time)
        return response

    async def _dispatch(self, supervisor: FunctionSupervisor, method: str, url: str,
                        headers: list[tuple[str, str]], body: bytes) -> web.Response:
        timeout = self._timeout_for(supervisor)
        max_inflight = self._max_inflight_of(supervisor)
        tried: set[int] = set()
        while True:
            replica = await self._pick(supervisor, tried)
            if max_inflight and replica.in_flight >= max_inflight:
                # of-watchdog's `max_inflight`, enforced here as there is no watchdog: the
                # least busy replica is full, so all are.
                raise TooManyRequests(
                    f"Concurrent request limit exceeded. Max concurrent requests: {max_inflight}",
                    headers={"X-OpenFaaS-Internal": "faas-middleware", "Retry-After": "1"})
            try:
                return await self._send(replica, method, url, headers, body, timeout)
            except ConnectFailed:
                # Nothing was sent: the replica died between probes; try another one once.
                tried.add(id(replica))
                if len(tried) >= 2:
                    raise BadGateway(f"cannot connect to any replica of {supervisor.spec.qualified_name}")

    async def _read_body(self, request: web.Request, supervisor: FunctionSupervisor) -> bytes:
        return await read_body(request, self._body_limit_of(supervisor), self.limits.body_timeout_s)

    def _body_limit_of(self, supervisor: FunctionSupervisor) -> int:
        """The function's own limit from stack.yml (FAASML_SERVER_MAX_BODY, the limit its
        server enforces too), within the gateway's --max-body-mb."""
        limit = function_body_limit(supervisor.spec.environment)
        return min(limit, self.settings.max_body_bytes) if limit else self.settings.max_body_bytes

    @staticmethod
    def _upstream_path(request: web.Request) -> str:
        return upstream_target(request.raw_path)

    async def _pick(self, supervisor: FunctionSupervisor, tried: set[int]) -> Replica:
        replica = supervisor.choose_replica()
        if replica is None or id(replica) in tried:
            name = supervisor.spec.qualified_name
            if supervisor.unschedulable:
                raise NotReady(f"{name} is unschedulable: {supervisor.unschedulable}",
                               code=codes.UNSCHEDULABLE)
            waking = supervisor.desired_replicas == 0 or name in self._waking
            wait_s = self.settings.scale_from_zero_wait_s if waking else self.settings.ready_wait_s
            if supervisor.desired_replicas == 0:
                # As OpenFaaS's gateway with scale_from_zero: the request starts the function
                # and waits for it, instead of failing.
                self._waking.add(name)
                self.wake(supervisor)
            ready = await supervisor.wait_until_ready(wait_s)
            if ready or supervisor.desired_replicas == 0:
                self._waking.discard(name)
            if not ready:
                raise NotReady(f"no ready replica of {name} after {wait_s:g}s "
                               f"(starting, loading its model, or restarting)",
                               headers={"Retry-After": "1"})
            replica = supervisor.choose_replica()
            if replica is None or id(replica) in tried:
                raise NotReady(f"no ready replica of {name}", headers={"Retry-After": "1"})
        return replica

    async def _send(self, replica: Replica, method: str, target: str, headers: list[tuple[str, str]],
                    body: bytes, timeout_s: float) -> web.Response:
        replica.in_flight += 1
        try:
            if replica.node.rtt_ms:  # SIMULATED network distance to this node (see docs)
                await asyncio.sleep(replica.node.rtt_ms / 1000.0)
            upstream = await self.upstream.request(replica.port, method, target, headers, body, timeout_s)
        except asyncio.TimeoutError as exc:
            raise GatewayTimeout(f"{replica.instance} did not answer within {timeout_s:g}s") from exc
        except ProtocolError as exc:
            raise BadGateway(f"{replica.instance} answered malformed HTTP ({exc})") from exc
        except ConnectionLost as exc:
            raise BadGateway(f"{replica.instance} closed the connection mid-request ({exc}); "
                             f"it may have crashed") from exc
        except ResponseTooLarge as exc:
            raise BadGateway(f"{replica.instance}'s answer is too large ({exc})") from exc
        finally:
            replica.in_flight -= 1
        # Names canonical, as the OpenFaaS gateway (Go) relays them; repeated ones repeated.
        return web.Response(status=upstream.status, body=upstream.body,
                            headers=[(canonical_name(name), value) for name, value in end_to_end(upstream.headers)])

    @staticmethod
    def _max_inflight_of(supervisor: FunctionSupervisor) -> int:
        raw = supervisor.spec.environment.get("max_inflight", "")
        return int(raw) if raw.isdigit() else 0

    def _timeout_for(self, supervisor: FunctionSupervisor) -> float:
        """of-watchdog's `exec_timeout` of the function, else the gateway's default."""
        raw = supervisor.spec.environment.get("exec_timeout", "")
        timeout_s = self._timeouts.get(raw)
        if timeout_s is None:
            try:
                timeout_s = parse_duration_seconds(raw) if raw else 0.0
            except ValueError:
                timeout_s = 0.0
            timeout_s = self._timeouts[raw] = timeout_s if timeout_s > 0 else self.settings.upstream_timeout_s
        return timeout_s
