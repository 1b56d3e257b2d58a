"""The selector's shell: its HTTP routes over the engine, and all of its I/O, on one event loop.

Routes (paths as the function sees them, i.e. after `/function/selector`):
  POST /            select a variant, forward the body, answer with its response
  GET|POST /?explain=1   the candidate table instead of forwarding
  GET /variants     the registry with live state
  GET /decisions    the recent decisions: asked, chosen, predicted vs actual (recent.py)
  GET /metrics      the selector's own metrics (Prometheus text)
  GET /ready        200 once the registry lists at least one variant and the background
                    tasks run, else 503
  GET /health       the background tasks (503 when one has stopped)

Every decision is the engine's (engine/core.py: pure, told the time); everything that
waits is here, as coroutines and supervised tasks on the selector's event loop (the
template's asyncio server runs `handle`): forwarding with fallback (forwarding.py),
holding a request for room, registry refresh and load sampling (refresher.py) and stall
probes (stalls.py), all through one HTTP client (client.py). No threads.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import replace
from typing import Any, Callable

from faasml import prometheus
from faasml.errors import (BACKGROUND_STOPPED, BAD_PARAMETER, EMPTY_BODY, BadRequest, FaasmlError, MethodNotAllowed,
                           NotFound, NotReady, internal_error)
from faasml.http import Headers, Request, Response
from faasml.selector import oip, views
from faasml.selector.access import KEY_HEADERS, ApiKeys
from faasml.selector.background import Background
from faasml.selector.client import new_client
from faasml.selector.config import SelectorConfig
from faasml.selector.direct import DirectCallMetrics, DirectRoutes
from faasml.selector.engine.attempts import record_tight_outcome
from faasml.selector.engine.candidate import Candidate
from faasml.selector.engine.core import NO_ROOM, Decision, Engine
from faasml.selector.engine.holds import RECHECK_S, HoldBook, asked_now, hold_until
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.forwarding import Forwarded, Forwarder
from faasml.selector.gateway_client import Gateway
from faasml.selector.loadsource import GatewayMetricsLoadSource, PrometheusLoadSource
from faasml.selector.params import parse_selection
from faasml.selector.profiles import ProfileFile
from faasml.selector.recent import RecentDecisions
from faasml.selector.refresher import Refresher
from faasml.selector.registry import Registry
from faasml.selector.stalls import StallWatch
from faasml.selector.telemetry import DECISIONS, FAILED, HELD, INFEASIBLE, RETRIES, SHED, SelectorMetrics

# The gateway stamps each call with X-Start-Time (Unix nanoseconds, as OpenFaaS's gateway
# does); a larger gap than this is clock skew between hosts, not a delay, and is ignored.
MAX_INBOUND_DELAY_S = 1.0
# `faasml up` marks a call it ran from its async queue; its X-Start-Time is the acceptance.
QUEUED_HEADER = "X-Faasml-Queued"
# A registry older than this is re-listed before a "none healthy" 503 is answered; the
# request waits at most REFRESH_WAIT_S for that listing (one for all such requests).
STALE_REGISTRY_RETRY_S = 0.5
REFRESH_WAIT_S = 1.0


def inbound_delay_s(request: Request, wall_now: float, deadline_given: bool = False) -> float:
    """How long ago the gateway took the request: a deadline runs from there, not from
    when the handler got it (the gateway hop and the server's queue come first). A
    queued async call with the client's own deadline counts its whole wait in the queue."""
    stamp = request.headers.get("X-Start-Time")
    try:
        delay = wall_now - int(stamp) / 1e9 if stamp else 0.0
    except ValueError:
        return 0.0
    if deadline_given and request.headers.get(QUEUED_HEADER):
        return max(delay, 0.0)
    return delay if 0.0 < delay < MAX_INBOUND_DELAY_S else 0.0


def _is_selection(request: Request) -> bool:
    return request.path.strip("/") == "" and request.method in ("POST", "PUT", "GET")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True, int("²") fails
        raise BadRequest(f"{name} must be a whole number, got {raw!r}", code=BAD_PARAMETER,
                         details={"parameter": name})
    return int(raw)


class _Waiter:
    """A request held for room: woken by a release, or evicted by newer waiters."""

    __slots__ = ("event", "evicted")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.evicted = False


class SelectorService:
    def __init__(self, config: SelectorConfig, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock          # monotonic seconds: the engine's time
        self.wall = wall            # Unix seconds: the gateway's X-Start-Time stamps
        self.engine = Engine(config.engine(), rng or random.Random())
        self.client = new_client()
        self.gateways = {e.url: Gateway(e, self.client) for e in config.endpoints()}
        self.registry = Registry(list(self.gateways.values()), ProfileFile(config.profiles_path), self.engine, clock)
        self.refresher = Refresher(self.registry, self.engine, self._load_sources(), config.registry_refresh_s,
                                   config.metrics_poll_s, clock)
        self.stalls = StallWatch(self.gateways, self.engine, clock)
        self.background = Background(clock)
        self.holds: HoldBook[_Waiter] = HoldBook()
        self.metrics = SelectorMetrics()
        self.recent = RecentDecisions(clock=clock, wall=wall)
        self.direct_metrics = DirectCallMetrics()
        self.forwarder = Forwarder(self.engine, self.gateways, self.client, config.engine().forwarding,
                                   DirectRoutes(config.direct_functions, config.direct_url), self.direct_metrics,
                                   clock, on_relist=self.refresher.wake, on_stall=self._stalled,
                                   on_released=self._released, on_answered=self.stalls.answered)
        self.api_keys = ApiKeys(config.api_keys_secret) if config.api_keys_secret else None
        self._started: asyncio.Future | None = None

    def _load_sources(self):
        if self.config.prometheus_url:
            return [(None, PrometheusLoadSource(self.config.prometheus_url, self.client, self.clock))]
        return [(url, GatewayMetricsLoadSource(gateway, self.clock)) for url, gateway in self.gateways.items()]

    def setup(self) -> dict[str, Any]:
        """What this selector runs with: policies, gateways, load sources, registry age."""
        if self.config.prometheus_url:
            sources = [f"prometheus {self.config.prometheus_url}"]
        else:
            sources = [f"gateway-metrics {url}" for url in self.gateways]
        return {"default_policy": self.config.policy, "policies": list(self.engine.policies),
                "gateways": [g.endpoint.name for g in self.gateways.values()], "load_sources": sources,
                "registry_age_s": round(self.registry.age(), 3) if self.registry.snapshot.variants else None,
                # Skipped until they answer again (stalls.py); `live.cooling_down` per variant.
                "stalled": self.stalls.stalled,
                # Node budgets kept for tight deadlines, held or suspended (engine/lanes.py).
                "fast_lanes": self.engine.fast_lanes(self.clock()),
                "background": self.background.health()}

    # -- life ----------------------------------------------------------------------------
    async def start(self) -> "SelectorService":
        """List the gateways once (so the first request has a registry), then keep fresh;
        concurrent first requests wait for the one start."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self.registry.refresh()
                await self.refresher.poll_load()
            except Exception:   # the background rounds keep trying
                pass
            self.refresher.start(self.background)
            self.stalls.start(self.background)
            self._started.set_result(None)
        elif not self._started.done():
            await asyncio.shield(self._started)
        return self

    async def stop(self) -> None:
        await self.background.stop()
        await self.client.close()

    # -- routing -------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        """Serve one request on the running event loop."""
        try:
            self._admit(request)
            if self._started is None or not self._started.done():
                await self.start()
            if _is_selection(request):
                delay = inbound_delay_s(request, self.wall())
                return await self.recent.record(request, self.select, delay)
            if oip.is_oip(request):
                return await oip.handle(self, request)
            return self._route(request)
        except FaasmlError as exc:
            return oip.error(exc) if oip.is_oip(request) else Response.error(exc)
        except Exception as exc:  # a bad request must never take the selector down
            return Response.error(internal_error(exc))

    def _admit(self, request: Request) -> None:
        if self.api_keys is not None:
            self.api_keys.check(request)

    def _route(self, request: Request) -> Response:
        """Everything but a selection: cheap reads of the selector's own state."""
        path = "/" + request.path.strip("/")
        if path == "/":
            raise MethodNotAllowed(f"{request.method} is not supported; POST the input")
        if request.method != "GET":
            raise MethodNotAllowed(f"{path} answers GET only")
        if path == "/variants":
            return Response.json(views.variants_view(self.engine, self.clock(), self.setup()))
        if path == "/decisions":
            return Response.json(self.recent.view(_int_param(request, "limit"), _int_param(request, "after") or 0))
        if path == "/metrics":
            text = (self.metrics.render() + self.recent.render() + self.direct_metrics.render()
                    + self.background.render())
            return Response(200, text.encode(), {"Content-Type": prometheus.CONTENT_TYPE})
        if path == "/health":
            return self._health()
        if path == "/ready":
            if not self.registry.snapshot.variants:
                raise NotReady("no variant discovered yet", details={"problems": list(self.registry.snapshot.problems)})
            self._raise_if_background_down()
            return Response.json({"ready": True, "variants": len(self.registry.snapshot.variants)})
        raise NotFound(f"no route {path}; see GET /variants or POST / (docs/api.md)")

    def _raise_if_background_down(self) -> None:
        dead = self.background.dead()
        if dead:
            raise NotReady(f"background task(s) stopped: {', '.join(dead)}", code=BACKGROUND_STOPPED,
                           details={"background": self.background.health()})

    def _health(self) -> Response:
        self._raise_if_background_down()
        return Response.json({"healthy": True, "background": self.background.health(),
                              "variants": len(self.registry.snapshot.variants)})

    # -- selection -----------------------------------------------------------------------
    async def select(self, request: Request) -> Response:
        selection = parse_selection(request)
        if request.method == "GET" and not selection.explain:
            raise MethodNotAllowed("GET answers only with explain=1; POST the input to get a prediction")
        return await self.select_as(request, selection)

    async def select_as(self, request: Request, selection: SelectionRequest,
                        subpath: Callable[[Candidate], str] | None = None) -> Response:
        """Decide for `selection` and forward `request`'s body (to `subpath` under the
        chosen function, when given): the explain table with `explain`."""
        if selection.explain:
            decision = self._engine_decide(selection, acquire=False)
            return Response.json(views.explain_view(decision.task, selection, decision))
        if not request.body:
            # No task takes an empty input: refusing here costs no decision, no slot and no hop.
            raise BadRequest("the body is empty; POST the input (an image, text or a JSON document)",
                             code=EMPTY_BODY)
        arrived = self.clock() - inbound_delay_s(request, self.wall(), bool(selection.max_latency_ms))
        decision = await self._decide(selection, arrived)
        deadline_s = selection.max_latency_ms / 1000.0 if selection.max_latency_ms else self.config.timeout_s
        if self.api_keys is not None:   # the client's key is for the selector, not the executors
            request = replace(request, headers=Headers(
                [(k, v) for k, v in request.headers.items() if k.lower() not in KEY_HEADERS]))
        forwarded = await self.forwarder.forward(decision, request, arrived + deadline_s, subpath)
        plan = forwarded.plan
        now = self.clock()
        if selection.max_latency_ms is not None and not selection.variant:
            ok = forwarded.reply is not None and 200 <= forwarded.reply.status < 300
            record_tight_outcome(self.engine, decision, forwarded.candidate, ok, (now - arrived) * 1000.0,
                                 selection.max_latency_ms, now)
        for attempt in plan.failed_over:
            self.metrics.count(RETRIES, task=decision.task, variant=attempt.variant, reason=attempt.reason)
        if forwarded.reply is None:
            error = plan.error(now, forwarded.last.headers.get("Retry-After") if forwarded.last else None)
            self._count_refusal(decision.task, error)
            raise error
        return self._respond(decision, forwarded, arrived)

    async def _decide(self, selection: SelectionRequest, arrived: float) -> Decision:
        decision = self._timed_decide(selection)
        if decision.error is not None and decision.error.status == 503 \
                and self.registry.age() > STALE_REGISTRY_RETRY_S:
            # Nothing healthy in a registry listed a while ago: replicas may have become
            # ready since (start-up, restarts), so look again before answering 503: one
            # listing in the background for every request that asks, waited on briefly.
            seen = self.registry.generation
            self.refresher.want_listing(seen)
            await self.registry.wait_newer(seen, REFRESH_WAIT_S)
            decision = self._timed_decide(selection)
        if self._held(decision) and self.config.hold_s > 0:
            held_from = self.clock()
            decision = await self._hold(selection, arrived)
            decision.held_s = self.clock() - held_from
            self.metrics.count(HELD, task=decision.task, outcome="shed" if decision.error else "admitted")
        if decision.error is not None:
            self._count_refusal(decision.task, decision.error)
            raise decision.error
        return decision

    def _timed_decide(self, selection: SelectionRequest) -> Decision:
        started = time.perf_counter()
        decision = self._engine_decide(selection)
        decision.decision_s = time.perf_counter() - started
        self.metrics.observe_decision(decision.decision_s)
        return decision

    def _engine_decide(self, selection: SelectionRequest, acquire: bool = True) -> Decision:
        try:
            return self.engine.decide(selection, self.clock(), acquire=acquire)
        except NotFound:
            self.refresher.wake()   # a task or variant the registry does not know yet: look again
            raise

    @staticmethod
    def _held(decision: Decision) -> bool:
        return decision.error is not None and decision.error.code == NO_ROOM

    async def _hold(self, selection: SelectionRequest, arrived: float) -> Decision:
        """Every candidate's node is full or kept for tighter deadlines: wait here for room
        (engine/holds.py) rather than in an executor's queue or shed at once, within the
        hold time and the request's own limit, which shrinks by the time spent waiting."""
        until = hold_until(arrived, self.config.hold_s, selection.max_latency_ms)
        waiter = _Waiter()
        evicted = self.holds.join(waiter)
        if evicted is not None:
            evicted.evicted = True
            evicted.event.set()
        try:
            while True:
                remaining = until - self.clock()
                if remaining <= 0 or waiter.evicted:
                    return self._timed_decide(asked_now(selection, arrived, self.clock()))
                try:
                    await asyncio.wait_for(waiter.event.wait(), min(remaining, RECHECK_S))
                except asyncio.TimeoutError:
                    pass
                waiter.event.clear()
                decision = self._timed_decide(asked_now(selection, arrived, self.clock()))
                if not self._held(decision):
                    return decision
        finally:
            self.holds.leave(waiter)

    def _released(self) -> None:
        """A request gave back its slot: room may have appeared for the newest waiters."""
        for waiter in self.holds.released():
            waiter.event.set()

    def _stalled(self, candidate: Candidate) -> None:
        self.stalls.watch(candidate.key, candidate.variant)

    def _count_refusal(self, task: str, error: FaasmlError) -> None:
        """One count per request the selector could not serve, by why."""
        if error.status == 422:
            self.metrics.count(INFEASIBLE, task=task, limit=str(error.details.get("limit", "")))
        elif error.status == 429:
            self.metrics.count(SHED, task=task)
        else:
            self.metrics.count(FAILED, task=task, code=error.code)

    def _respond(self, decision: Decision, forwarded: Forwarded, arrived: float) -> Response:
        answered, reply = forwarded.candidate, forwarded.reply
        assert answered is not None and reply is not None
        self.metrics.count(DECISIONS, task=decision.task, variant=answered.key, policy=decision.policy)
        headers = Headers.end_to_end(reply.headers.items())
        headers["X-Faasml-Attempts"] = str(len(forwarded.plan.attempts))
        headers["X-Faasml-Policy"] = decision.policy
        if 400 <= reply.status < 500:
            return _refused_by(answered.key, reply.status, reply.body, headers)
        headers["X-Faasml-Variant"] = answered.key
        # The latency the client was predicted to see, as it sees it: from the gateway's
        # stamp, so the time it had already waited (the inbound hop, a hold) counts too.
        waited_ms = max(0.0, decision.decided_at - arrived) * 1000.0
        headers["X-Faasml-Predicted-Latency-Ms"] = f"{waited_ms + answered.prediction.total_ms:.3f}"
        headers["X-Faasml-Accuracy"] = f"{answered.variant.accuracy:g}"
        if decision.exploring and answered is decision.ranked[0]:
            headers["X-Faasml-Exploring"] = "1"   # chosen to learn its latency here, not on its score
        if decision.held_s:
            headers["X-Faasml-Held-Ms"] = f"{decision.held_s * 1000.0:.1f}"
        return Response(reply.status, reply.body, headers)


def _refused_by(key: str, status: int, body: bytes, headers: Headers) -> Response:
    """The chosen variant could not read the input (a 4xx the client gets as it is).
    X-Faasml-Variant means "this variant answered", so a refusal names the variant in
    X-Faasml-Refused-By and, for a JSON error, in the error's `variant` field."""
    headers["X-Faasml-Refused-By"] = key
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Response(status, body, headers)
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        document["error"]["variant"] = key
        body = json.dumps(document).encode()
        headers["Content-Type"] = "application/json"
    return Response(status, body, headers)
