"""The selector's request API over the core: one `handle(Request) -> Response`.

Routes (paths as the function sees them, i.e. after `/function/selector`):
  POST /            select a variant, forward the body, answer with its response
  GET|POST /?explain=1   the candidate table instead of forwarding
  GET /variants     the registry with live state
  GET /decisions    the recent decisions: asked, chosen, predicted vs actual (recent.py)
  GET /metrics      the selector's own metrics (Prometheus text)
  GET /ready        200 once the registry lists at least one variant, else 503
"""
from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Generator, Sequence

from faasml import prometheus
from faasml.errors import BadRequest, FaasmlError, MethodNotAllowed, NotFound, NotReady, internal_error
from faasml.http import Headers, Request, Response
from faasml.selector.access import KEY_HEADERS, ApiKeys
from faasml.selector.candidate import Candidate
from faasml.selector.config import SelectorConfig
from faasml.selector.direct import DirectCallMetrics, DirectRoutes
from faasml.selector.decision import NO_ROOM, Decider, Decision, DecisionConfig
from faasml.selector.forwarding import Forwarded, Forwarder
from faasml.selector.gateway_client import GatewayClient
from faasml.selector.holding import HoldQueue
from faasml.selector.invoker import AsyncInvoker
from faasml.selector.load import Clock, LoadConfig, LoadTracker
from faasml.selector.loadsource import GatewayMetricsLoadSource, PrometheusLoadSource
from faasml.selector.params import SelectionRequest, parse_selection
from faasml.selector.policies import POLICIES, Policy, make_policy
from faasml.selector.predictor import LatencyPredictor
from faasml.selector.profiles import ProfileFile
from faasml.selector.recent import RecentDecisions
from faasml.selector.refresher import Refresher
from faasml.selector.registry import Registry
from faasml.selector.stalls import StallBound, StallWatch
from faasml.selector.telemetry import (DECISIONS, FAILED, HELD, INFEASIBLE, RETRIES, SHED,
                                       SelectorMetrics)
from faasml.selector.variant import Variant
from faasml.settings import ConfigError
from faasml.steps import run_async, run_blocking
from faasml.selector import views

# The gateway stamps each call with X-Start-Time (Unix nanoseconds, as OpenFaaS's gateway
# does); a larger gap than this is clock skew between hosts, not a delay, and is ignored.
MAX_INBOUND_DELAY_S = 1.0
# `faasml up` marks a call it ran from its async queue; its X-Start-Time is the acceptance.
QUEUED_HEADER = "X-Faasml-Queued"


def inbound_delay_s(request: Request, deadline_given: bool = False) -> float:
    """How long ago the gateway took the request: a deadline runs from there, not from
    when the handler got it (the gateway hop and the server's queue come first). A
    queued async call with the client's own deadline counts its whole wait in the queue."""
    stamp = request.headers.get("X-Start-Time")
    try:
        delay = time.time() - int(stamp) / 1e9 if stamp else 0.0
    except ValueError:
        return 0.0
    if deadline_given and request.headers.get(QUEUED_HEADER):
        return max(delay, 0.0)
    return delay if 0.0 < delay < MAX_INBOUND_DELAY_S else 0.0


def _is_selection(request: Request) -> bool:
    return request.path.strip("/") == "" and request.method in ("POST", "PUT", "GET")


@dataclass(frozen=True)
class _Forward:
    """A selection's I/O step: forward to the ranked candidates (forwarding.py)."""

    ranked: list[Candidate]
    request: Request
    deadline: float


@dataclass(frozen=True)
class _Hold:
    """A selection's I/O step: wait for room, re-deciding with `attempt` (holding.py)."""

    attempt: Callable[[], Decision]
    until: float


@dataclass(frozen=True)
class _Listing:
    """A selection's I/O step: wait (briefly) for a registry listing newer than `seen`."""

    seen: int


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True, int("²") fails
        raise BadRequest(f"{name} must be a whole number, got {raw!r}", code="bad_parameter",
                         details={"parameter": name})
    return int(raw)


# A registry older than this is re-listed before a "none healthy" 503 is answered; the
# request waits at most REFRESH_WAIT_S for that listing (one for all such requests).
STALE_REGISTRY_RETRY_S = 0.5
REFRESH_WAIT_S = 1.0


class SelectorService:
    def __init__(self, config: SelectorConfig, clock: Clock = time.monotonic,
                 rng: random.Random | None = None):
        self.config = config
        self.clients = {e.url: GatewayClient(e, pool_size=config.pool_size) for e in config.endpoints()}
        self.registry = Registry(list(self.clients.values()), ProfileFile(config.profiles_path), clock)
        self.load = LoadTracker(LoadConfig(observed_max_age_s=config.observed_max_age_s,
                                           gateway_max_age_s=config.gateway_max_age_s,
                                           cooldown_s=config.cooldown_s), clock)
        self.predictor = LatencyPredictor(self.load, config.replica_concurrency)
        self.decider = Decider(self.predictor, self.load,
                               DecisionConfig(config.max_queue_per_slot, config.max_queue_ms,
                                              config.protect_s, config.protect_margin,
                                              config.protect_suspend_below), clock)
        self.holds = HoldQueue()
        self.load.on_release = self.holds.notify
        self.policies: dict[str, Policy] = {name: make_policy(name, rng) for name in POLICIES}
        if config.policy not in self.policies:  # load() checks it; a config built in code may not
            raise ConfigError(f"FAASML_POLICY={config.policy!r}: must be one of {', '.join(POLICIES)}")
        self.metrics = SelectorMetrics()
        self.recent = RecentDecisions()
        self.refresher = Refresher(self.registry, self.load, self._load_sources(clock),
                                   config.registry_refresh_s, config.metrics_poll_s)
        self.stalls = StallWatch(self.clients, self.load) if config.stall_factor > 0 else None
        self.forwarder = Forwarder(self.clients, self.load, config.max_attempts, self.refresher.wake,
                                   StallBound(config.stall_factor, config.stall_floor_ms), self.stalls)
        self.direct_metrics = DirectCallMetrics()
        self.invoker = AsyncInvoker(routes=DirectRoutes(config.direct_functions, config.direct_url),
                                    direct_metrics=self.direct_metrics,
                                    on_stale_address=self.refresher.wake)
        self.api_keys = ApiKeys(config.api_keys_secret) if config.api_keys_secret else None
        self._started = threading.Lock()
        self._running = False

    def setup(self) -> dict[str, Any]:
        """What this selector runs with: policies, gateways, load sources, registry age."""
        if self.config.prometheus_url:
            sources = [f"prometheus {self.config.prometheus_url}"]
        else:
            sources = [f"gateway-metrics {url}" for url in self.clients]
        return {"default_policy": self.config.policy, "policies": list(self.policies),
                "gateways": [c.endpoint.name for c in self.clients.values()], "load_sources": sources,
                "registry_age_s": round(self.registry.age(), 3) if self.registry.snapshot.variants else None,
                # Skipped until they answer again (stalls.py); `live.cooling_down` per variant.
                "stalled": self.stalls.stalled if self.stalls is not None else [],
                # Node budgets kept for tight deadlines, held or suspended (admission.py).
                "fast_lanes": self.decider.fast_lanes()}

    def _load_sources(self, clock: Clock):
        if self.config.prometheus_url:
            return [(None, PrometheusLoadSource(self.config.prometheus_url, clock=clock))]
        return [(url, GatewayMetricsLoadSource(client, clock)) for url, client in self.clients.items()]

    def start(self) -> "SelectorService":
        """List the gateways once (so the first request has a registry), then keep fresh."""
        with self._started:
            if not self._running:
                self.registry.refresh()
                self.refresher.poll_load()
                self.refresher.start()
                self._running = True
        return self

    def stop(self) -> None:
        self.refresher.stop()
        if self.stalls is not None:
            self.stalls.stop()

    # -- routing -------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Serve one request, blocking this thread for its I/O (threaded servers, tests)."""
        try:
            self._admit(request)
            if not self._running:
                self.start()
            if _is_selection(request):
                return self.recent.record(request, self.select, inbound_delay_s(request))
            return self._route(request)
        except FaasmlError as exc:
            return Response.error(exc)
        except Exception as exc:  # a bad request must never take the selector down
            return Response.error(internal_error(exc))

    async def handle_async(self, request: Request) -> Response:
        """Serve one request on the running event loop (the template's asyncio server):
        the same steps as `handle`, waiting on its I/O without a thread of its own."""
        try:
            self._admit(request)
            if not self._running:
                await asyncio.to_thread(self.start)  # the first listing blocks
            if _is_selection(request):
                return await self.recent.record_async(request, self.select_async, inbound_delay_s(request))
            return self._route(request)
        except FaasmlError as exc:
            return Response.error(exc)
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
            return Response.json(views.variants_view(self.registry.snapshot, self.load, self.predictor,
                                                     self.setup()))
        if path == "/decisions":
            return Response.json(self.recent.view(_int_param(request, "limit"), _int_param(request, "after") or 0))
        if path == "/metrics":
            text = self.metrics.render() + self.recent.render() + self.direct_metrics.render()
            return Response(200, text.encode(), {"Content-Type": prometheus.CONTENT_TYPE})
        if path == "/ready":
            if not self.registry.snapshot.variants:
                raise NotReady("no variant discovered yet", details={"problems": list(self.registry.snapshot.problems)})
            return Response.json({"ready": True, "variants": len(self.registry.snapshot.variants)})
        raise NotFound(f"no route {path}; see GET /variants or POST / (docs/api.md)")

    # -- selection -----------------------------------------------------------------
    # A selection is written once, as steps (`_selection`) that yield the I/O they need
    # (forward, hold, wait for a listing) and are sent its result; `select` performs
    # that I/O blocking, `select_async` awaiting it.
    def select(self, request: Request) -> Response:
        return run_blocking(self._selection(request), self._perform_blocking)

    async def select_async(self, request: Request) -> Response:
        return await run_async(self._selection(request), self._perform_async)

    def _perform_blocking(self, need: "_Forward | _Hold | _Listing") -> Any:
        if isinstance(need, _Forward):
            return self.forwarder.forward(need.ranked, need.request, need.deadline)
        if isinstance(need, _Hold):
            return self.holds.hold(need.attempt, self._held, need.until)
        return self.registry.wait_newer(need.seen, REFRESH_WAIT_S)

    async def _perform_async(self, need: "_Forward | _Hold | _Listing") -> Any:
        if isinstance(need, _Forward):
            return await self.forwarder.forward_async(need.ranked, need.request, need.deadline, self.invoker)
        if isinstance(need, _Hold):
            return await self.holds.hold_async(need.attempt, self._held, need.until)
        return await asyncio.to_thread(self.registry.wait_newer, need.seen, REFRESH_WAIT_S)

    def _selection(self, request: Request) -> Generator[Any, Any, Response]:
        selection = parse_selection(request)
        if request.method == "GET" and not selection.explain:
            raise MethodNotAllowed("GET answers only with explain=1; POST the input to get a prediction")
        variants, task = self._variants_for(selection)
        policy = self._policy(selection)
        if selection.explain:
            decision = self.decider.evaluate(variants, selection, policy, acquire=False)
            return Response.json(views.explain_view(task, selection, decision))
        arrived = time.monotonic() - inbound_delay_s(request, bool(selection.max_latency_ms))
        decision = yield from self._decide(selection, policy, variants, task, arrived)
        deadline_s = selection.max_latency_ms / 1000.0 if selection.max_latency_ms else self.config.timeout_s
        if self.api_keys is not None:   # the client's key is for the selector, not the executors
            request = replace(request, headers=Headers(
                [(k, v) for k, v in request.headers.items() if k.lower() not in KEY_HEADERS]))
        forwarded = yield _Forward(decision.ranked, request, arrived + deadline_s)
        if selection.max_latency_ms is not None and not selection.variant:
            self._record_tight(selection.max_latency_ms, decision, forwarded, arrived)
        for attempt in forwarded.failed_over:
            self.metrics.count(RETRIES, task=task, variant=attempt.variant, reason=attempt.reason)
        if forwarded.error is not None:
            self._count_refusal(task, forwarded.error)
            raise forwarded.error
        return self._respond(task, decision, forwarded)

    def _decide(self, selection: SelectionRequest, policy: Policy, variants: Sequence[Variant],
                task: str, arrived: float) -> Generator[Any, Any, Decision]:
        decision = self.decider.evaluate(variants, selection, policy, acquire=True)
        if decision.error is not None and decision.error.status == 503 \
                and self.registry.age() > STALE_REGISTRY_RETRY_S:
            # Nothing healthy in a registry listed a while ago: replicas may have become
            # ready since (start-up, restarts), so look again before answering 503: one
            # listing in the background for every request that asks, waited on briefly.
            seen = self.registry.generation
            self.refresher.want_listing(seen)
            yield _Listing(seen)
            variants, task = self._variants_for(selection)
            decision = self.decider.evaluate(variants, selection, policy, acquire=True)
        if self._held(decision) and self.config.hold_s > 0:
            held_from = time.monotonic()
            decision = yield self._hold(selection, policy, variants, arrived)
            decision.held_s = time.monotonic() - held_from
            self.metrics.count(HELD, task=task, outcome="shed" if decision.error else "admitted")
        self.metrics.observe_decision(decision.decision_s)
        if decision.error is not None:
            self._count_refusal(task, decision.error)
            raise decision.error
        return decision

    def _record_tight(self, limit_ms: float, decision: Decision, forwarded: Forwarded, arrived: float) -> None:
        """Whether a request with a limit met it, on the node that answered (or, with no
        answer, where it was first sent): the fast lanes hold while theirs mostly do."""
        candidate = forwarded.candidate or (decision.ranked[0] if decision.ranked else None)
        if candidate is None or candidate.variant.node is None:
            return
        met = (forwarded.upstream is not None and 200 <= forwarded.upstream.status < 300
               and (time.monotonic() - arrived) * 1000.0 <= limit_ms)
        self.decider.record_tight(candidate.variant.node, limit_ms, met)

    @staticmethod
    def _held(decision: Decision) -> bool:
        return decision.error is not None and decision.error.code == NO_ROOM

    def _hold(self, selection: SelectionRequest, policy: Policy, variants: Sequence[Variant],
              arrived: float) -> "_Hold":
        """Every candidate's node is full or kept for tighter deadlines: wait here for
        room (holding.py) rather than in an executor's queue or shed at once, within the
        hold time and the request's own limit, which shrinks by the time spent waiting."""
        limit = selection.max_latency_ms
        until = arrived + self.config.hold_s
        if limit is not None:
            until = min(until, arrived + limit / 1000.0)

        def attempt() -> Decision:
            waited_ms = (time.monotonic() - arrived) * 1000.0
            now_asking = selection if limit is None else replace(selection, max_latency_ms=max(limit - waited_ms, 1e-3))
            return self.decider.evaluate(variants, now_asking, policy, acquire=True)

        return _Hold(attempt, until)

    def _count_refusal(self, task: str, error: FaasmlError) -> None:
        """One count per request the selector could not serve, by why."""
        if error.status == 422:
            self.metrics.count(INFEASIBLE, task=task, limit=str(error.details.get("limit", "")))
        elif error.status == 429:
            self.metrics.count(SHED, task=task)
        else:
            self.metrics.count(FAILED, task=task, code=error.code)

    def _variants_for(self, selection: SelectionRequest) -> tuple[Sequence[Variant], str]:
        snapshot = self.registry.snapshot
        if selection.variant:
            variant = snapshot.by_key.get(selection.variant)
            if variant is None:
                self.refresher.wake()
                raise NotFound(f"unknown variant {selection.variant!r}", code="unknown_variant",
                               details={"known_variants": sorted(snapshot.by_key)})
            if selection.task and selection.task != variant.task:
                raise BadRequest(f"variant {variant.id!r} does task {variant.task!r}, not {selection.task!r}",
                                 code="bad_parameter", details={"parameter": "variant"})
            return [variant], variant.task
        if not selection.task:
            raise BadRequest("parameter task is required (query task= or header X-Faasml-Task)",
                             code="missing_task", details={"known_tasks": snapshot.tasks})
        variants = snapshot.by_task.get(selection.task)
        if not variants:
            self.refresher.wake()
            raise NotFound(f"unknown task {selection.task!r}", code="unknown_task",
                           details={"known_tasks": snapshot.tasks})
        return variants, selection.task   # the snapshot's tuple: the decider's table knows it by identity

    def _policy(self, selection: SelectionRequest) -> Policy:
        name = selection.policy or self.config.policy
        policy = self.policies.get(name)
        if policy is None:
            raise BadRequest(f"unknown policy {name!r}", code="bad_parameter",
                             details={"parameter": "policy", "known_policies": list(POLICIES)})
        return policy

    def _respond(self, task: str, decision: Decision, forwarded: Forwarded) -> Response:
        answered = forwarded.candidate
        self.metrics.count(DECISIONS, task=task, variant=answered.key, policy=decision.policy)
        upstream = forwarded.upstream.headers
        # Ours (the event loop's client) already hold one value per name; urllib3's map
        # joins a repeated header's values when read by name.
        pairs = upstream.items() if isinstance(upstream, Headers) else ((n, upstream[n]) for n in upstream)
        headers = Headers.end_to_end(pairs)
        headers["X-Faasml-Variant"] = answered.key
        headers["X-Faasml-Predicted-Latency-Ms"] = f"{answered.prediction.total_ms:.3f}"
        headers["X-Faasml-Accuracy"] = f"{answered.variant.accuracy:g}"
        headers["X-Faasml-Attempts"] = str(len(forwarded.attempts))
        headers["X-Faasml-Policy"] = decision.policy
        if decision.held_s:
            headers["X-Faasml-Held-Ms"] = f"{decision.held_s * 1000.0:.1f}"
        return Response(forwarded.upstream.status, forwarded.upstream.body, headers)
