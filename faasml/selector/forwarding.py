"""Forwarding: the engine's fallback plan (engine/attempts.py) carried out over HTTP.

Each attempt POSTs the client's body to the chosen function through the selector's one
client: straight to the function when `DirectRoutes` names an address (direct.py), else
through the variant's gateway (`/function/<name>[.<namespace>]`); a direct address that
refuses the connection (a replica restarted since the last listing) sends that same call
through the gateway. The plan decides what is tried next and what an outcome means; this
module only makes the calls and tells it what happened.

A stall is shared: when one attempt on a variant runs past its stall bound, the variant
is hung for everyone, so every other stall-bounded attempt in flight there is given up at
once (its bound moved to now) rather than each waiting out its own bound. With the two
variants a request favours both hung, a request then pays about one stall bound, not two
(docs/selector.md, "Stalls").
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlencode

from faasml.http import Headers, Request
from faasml.selector.client import ConnectFailed, ConnectionLost, HttpClient, Reply, ResponseTooLarge
from faasml.selector.direct import DirectCallMetrics, DirectRoutes
from faasml.selector.engine.attempts import Attempts, Call, NoReply, Outcome
from faasml.selector.engine.attempts import Reply as AttemptReply
from faasml.selector.engine.candidate import Candidate
from faasml.selector.engine.core import Decision, Engine
from faasml.selector.engine.settings import ForwardSettings
from faasml.selector.gateway_client import Gateway

# asyncio.timeout's scope can be moved to now from outside (Python 3.11+); without it an
# attempt keeps its own bound.
_timeout_scope = getattr(asyncio, "timeout", None)

SELECTION_PARAMS = frozenset({"task", "tradeoff", "max_latency_ms", "min_accuracy", "variant",
                              "explain", "policy", "family"})


def outgoing_headers(request: Request) -> list[tuple[str, str]]:
    """The client's headers for the executor, less hop-by-hop ones and the selector's own."""
    return list(Headers.end_to_end(request.headers.items(), drop_prefix="x-faasml-").items())


def outgoing_query(request: Request) -> str:
    return urlencode({k: v for k, v in request.query.items() if k not in SELECTION_PARAMS})


def compute_ms(reply: Reply) -> float | None:
    raw = reply.headers.get("X-Faasml-Compute-Ms")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is None or value >= 0 else None


@dataclass
class Forwarded:
    """What became of one request's attempts: the plan, and the answer if one came."""

    plan: Attempts
    reply: Reply | None = None      # the answer the client gets
    last: Reply | None = None       # the last reply of any attempt (a 429's Retry-After)

    @property
    def candidate(self) -> Candidate | None:
        return self.plan.answer


class Forwarder:
    def __init__(self, engine: Engine, gateways: Mapping[str, Gateway], client: HttpClient,
                 settings: ForwardSettings, routes: DirectRoutes, direct_metrics: DirectCallMetrics,
                 clock: Callable[[], float], on_relist: Callable[[], None],
                 on_stall: Callable[[Candidate], None], on_released: Callable[[], None],
                 on_answered: Callable[[str], None]):
        self.engine = engine
        self.gateways = gateways
        self.client = client
        self.settings = settings
        self.routes = routes
        self.direct_metrics = direct_metrics
        self.clock = clock
        self.on_relist = on_relist
        self.on_stall = on_stall
        self.on_released = on_released     # room may have appeared: wake held requests
        self.on_answered = on_answered     # a variant answered: a stall of it is over
        # Stall-bounded attempts in flight per variant key: their timeout scopes.
        self._bounded: dict[str, set] = {}

    async def forward(self, decision: Decision, request: Request, deadline: float,
                      subpath: Callable[[Candidate], str] | None = None) -> Forwarded:
        """Try the decision's ranking in order; the first one's in-flight count was taken
        by the decision. `subpath`: where under each chosen function the body goes (the
        Open Inference Protocol's `/v2/models/<variant>/infer`); its root by default."""
        plan = Attempts(self.engine, decision, deadline, self.settings)
        headers, query = outgoing_headers(request), outgoing_query(request)
        forwarded = Forwarded(plan)
        while (call := plan.next_call(self.clock())) is not None:
            started = time.perf_counter()
            path = subpath(call.candidate) if subpath is not None else ""
            try:
                reply = await self._bounded_call(call, request.body, headers, query, path)
                result: AttemptReply | NoReply = AttemptReply(reply.status, reply.elapsed_ms, compute_ms(reply))
            # In this order: a connect timeout is a ConnectFailed (nothing was sent), and a
            # timeout is an OSError (TimeoutError) before it is anything else.
            except ConnectFailed as exc:
                reply, result = None, NoReply(Outcome.CONNECTION_ERROR, (time.perf_counter() - started) * 1000.0,
                                              type(exc).__name__)
            except asyncio.TimeoutError:
                reply, result = None, NoReply(Outcome.TIMEOUT, (time.perf_counter() - started) * 1000.0)
            except (ConnectionLost, ResponseTooLarge, OSError) as exc:
                reply, result = None, NoReply(Outcome.CONNECTION_ERROR, (time.perf_counter() - started) * 1000.0,
                                              type(exc).__name__)
            except BaseException:
                # Cancelled with the client's connection: the executor may still run it.
                self.engine.release(call.ticket, self.clock(), call.candidate.prediction.service_ms)
                raise
            if reply is not None:
                forwarded.last = reply
            effects = plan.record(call, self.clock(), result)
            self.on_released()
            if reply is not None and reply.status < 500:
                self.on_answered(call.candidate.key)
            if effects.relist:
                self.on_relist()
            if effects.stalled is not None:
                self.on_stall(effects.stalled)
                self._give_up_on(effects.stalled.key)
            if effects.done:
                forwarded.reply = reply
                break
        return forwarded

    async def _bounded_call(self, call: Call, body: bytes, headers: list[tuple[str, str]], query: str,
                            path: str) -> Reply:
        """The call, within its stall bound as a scope another attempt's stall can end."""
        if not call.stall or _timeout_scope is None:
            return await self._call(call, body, headers, query, path)
        key = call.candidate.key
        async with _timeout_scope(call.timeout_s) as scope:
            bounded = self._bounded.setdefault(key, set())
            bounded.add(scope)
            try:
                return await self._call(call, body, headers, query, path)
            finally:
                bounded.discard(scope)
                if not bounded:
                    self._bounded.pop(key, None)
        raise AssertionError("unreachable: the scope either returned or raised")  # pragma: no cover

    def _give_up_on(self, key: str) -> None:
        """`key` stalled: every other stall-bounded attempt in flight there ends now."""
        scopes = self._bounded.get(key)
        if scopes:
            now = asyncio.get_running_loop().time()
            for scope in list(scopes):
                if not scope.expired():
                    scope.reschedule(now)

    async def _call(self, call: Call, body: bytes, headers: list[tuple[str, str]], query: str,
                    path: str = "") -> Reply:
        """POST to the function (at `path` under it): at its direct address when there is
        one, else through its gateway."""
        variant = call.candidate.variant
        suffix = path + (f"?{query}" if query else "")
        direct = self.routes.url_for(variant)
        if direct is not None:
            try:
                return await self._direct(direct.rstrip("/") + suffix if path else direct + suffix, call, body,
                                          headers)
            except ConnectFailed:
                self.on_relist()   # the replica has moved: re-list
        gateway = self.gateways[variant.gateway]
        return await self.client.request("POST", gateway.function_url(variant.name, variant.namespace, path)
                                         + (f"?{query}" if query else ""), headers, body, call.timeout_s)

    async def _direct(self, url: str, call: Call, body: bytes, headers: list[tuple[str, str]]) -> Reply:
        """The call at the function's own address, counted as its gateway would count it;
        ConnectFailed (nothing was sent) propagates for the gateway to take the call."""
        function = call.candidate.variant.function_name
        # What the gateway adds on its way: its own start stamp replaces the selector's.
        sent = [(k, v) for k, v in headers if k.lower() != "x-start-time"]
        sent.append(("X-Start-Time", str(time.time_ns())))
        metrics = self.direct_metrics
        metrics.started(function)
        started = time.perf_counter()
        try:
            reply = await self.client.request("POST", url, sent, body, call.timeout_s)
        except ConnectFailed:
            metrics.finished(function, 502, time.perf_counter() - started)
            raise
        except asyncio.TimeoutError:
            metrics.finished(function, 504, time.perf_counter() - started)
            raise
        except (ConnectionLost, ResponseTooLarge, OSError):
            metrics.finished(function, 502, time.perf_counter() - started)
            raise
        except BaseException:   # cancelled with the client's connection
            metrics.finished(function, 499, time.perf_counter() - started)
            raise
        metrics.finished(function, reply.status, time.perf_counter() - started)
        return reply
