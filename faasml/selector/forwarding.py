"""Forwarding with fallback: call the ranked variants in turn until one answers.

Retried (next in the ranking, while the deadline allows): connection errors, timeouts,
429 and 5xx, and 404 (the function vanished: the registry is stale). Never retried: any
other 4xx, which is about the input and would fail the same everywhere. A variant that
refused connections, answered 404 or 503 is marked down for a short cool-down so the
next decisions skip it without waiting for the registry to notice. Every attempt but the
last is also bounded by its stall bound (stalls.py): one that runs far past its
prediction is abandoned for the next variant, and its variant stays out until it answers.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generator, Mapping
from urllib.parse import urlencode

import urllib3

from faasml.errors import FaasmlError, GatewayTimeout, NotReady, TooManyRequests
from faasml.http import Headers, Request
from faasml.steps import run_async, run_blocking
from faasml.selector.candidate import Candidate
from faasml.selector.gateway_client import GatewayClient, Upstream
from faasml.selector.load import LoadTracker
from faasml.selector.stalls import StallBound, StallWatch

if TYPE_CHECKING:
    from faasml.selector.invoker import AsyncInvoker

SELECTION_PARAMS = frozenset({"task", "tradeoff", "max_latency_ms", "min_accuracy", "variant",
                              "explain", "policy"})
MARK_DOWN_STATUSES = frozenset({404, 502, 503})


class Outcome(enum.Enum):
    """How one attempt ended."""

    ANSWERED = "answered"                  # a status the client gets as it is
    RETRYABLE = "retryable"                # 429, 404 (gone) or 5xx: another variant may answer
    TIMEOUT = "timeout"                    # the deadline ran out
    STALLED = "stalled"                    # ran past its stall bound: abandoned for the next
    CONNECTION_ERROR = "connection error"


@dataclass(frozen=True)
class Attempt:
    variant: str
    outcome: Outcome
    elapsed_ms: float
    status: int | None = None   # what the variant answered; None when it did not answer
    error: str = ""             # the exception type of a connection error

    @property
    def reason(self) -> str:
        """What went wrong, as the retries metric labels it: the status, else the outcome."""
        return str(self.status) if self.status is not None else self.outcome.value

    def as_dict(self) -> dict[str, Any]:
        outcome = f"{self.reason}: {self.error}" if self.error else self.reason
        return {"variant": self.variant, "outcome": outcome, "elapsed_ms": round(self.elapsed_ms, 3)}


@dataclass
class Forwarded:
    """Every attempt of one request, and either the answer or why there is none."""

    attempts: list[Attempt]
    upstream: Upstream | None = None
    candidate: Candidate | None = None
    error: FaasmlError | None = None

    @property
    def failed_over(self) -> list[Attempt]:
        """The attempts after which the next variant was tried (the last one never was)."""
        return self.attempts[:-1]


def is_retryable(status: int) -> bool:
    return status == 429 or status == 404 or status >= 500


def outgoing_headers(request: Request) -> Headers:
    """The client's headers for the executor, less hop-by-hop ones and the selector's own."""
    return Headers.end_to_end(request.headers.items(), drop_prefix="x-faasml-")


def outgoing_query(request: Request) -> str:
    return urlencode({k: v for k, v in request.query.items() if k not in SELECTION_PARAMS})


@dataclass(frozen=True)
class Call:
    """One attempt the forwarder wants made: `candidate` with this body, headers and query,
    given `timeout_s` (its stall bound when `stall`, else the remaining deadline)."""

    candidate: Candidate
    body: bytes
    headers: Headers
    query: str
    timeout_s: float
    stall: bool


@dataclass(frozen=True)
class CallFailed:
    """An attempt that got no answer: timed out, or could not connect / lost the line."""

    outcome: Outcome
    error: str = ""


CallResult = Upstream | CallFailed
# The attempt loop as a generator: it yields each Call and is sent what became of it.
AttemptSteps = Generator[Call, CallResult, Forwarded]


class Forwarder:
    """Tries the ranked variants in turn. The loop (what to try next, the bounds, the
    accounting) is written once, in `_attempts`; `forward` makes its calls with the
    blocking gateway clients and `forward_async` with an asyncio client (`AsyncInvoker`),
    which the selector's event-loop server uses, so both keep the same semantics."""

    def __init__(self, clients: Mapping[str, GatewayClient], load: LoadTracker, max_attempts: int = 3,
                 on_variant_gone: Callable[[], None] = lambda: None,
                 stall_bound: StallBound | None = None, stalls: StallWatch | None = None):
        self.clients = clients            # gateway base URL -> client
        self.load = load
        self.max_attempts = max(1, max_attempts)
        self.on_variant_gone = on_variant_gone
        self.stall_bound = stall_bound or StallBound()
        self.stalls = stalls

    def forward(self, ranked: list[Candidate], request: Request, deadline: float) -> Forwarded:
        """Try `ranked` in order; the first one's in-flight slot was taken by the decider."""
        return run_blocking(self._attempts(ranked, request, deadline), self._call_blocking)

    async def forward_async(self, ranked: list[Candidate], request: Request, deadline: float,
                            invoker: "AsyncInvoker") -> Forwarded:
        """`forward` on the running event loop, calling through `invoker`."""
        return await run_async(self._attempts(ranked, request, deadline), invoker.call)

    def _attempts(self, ranked: list[Candidate], request: Request, deadline: float) -> AttemptSteps:
        headers, query = outgoing_headers(request), outgoing_query(request)
        attempts: list[Attempt] = []
        last: Upstream | None = None
        tries = ranked[: self.max_attempts]
        for index, candidate in enumerate(tries):
            if index > 0:
                self.load.acquire(candidate.key)
            upstream = None
            try:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # The last try waits out the deadline: a slow input still gets its answer.
                bound = remaining if index == len(tries) - 1 or self.stalls is None \
                    else self.stall_bound.seconds(candidate.prediction.total_ms, remaining,
                                                  cold=candidate.prediction.service_source == "profile")
                call = Call(candidate, request.body, headers, query, bound, stall=bound < remaining)
                started = time.perf_counter()
                result = yield call
                upstream = self._judge(call, result, (time.perf_counter() - started) * 1e3, attempts)
            finally:
                # Abandoned on a timeout, the call still runs in the executor: its work
                # stays on the node for about one more service time.
                timed_out = upstream is None and attempts \
                    and attempts[-1].outcome in (Outcome.TIMEOUT, Outcome.STALLED)
                self.load.release(candidate.key, candidate.prediction.service_ms if timed_out else 0.0)
            if upstream is None:
                continue
            last = upstream
            if not is_retryable(upstream.status):
                self._observe(candidate, upstream)
                return Forwarded(attempts, upstream, candidate)
        return Forwarded(attempts, error=self._exhausted(attempts, last, deadline))

    def _call_blocking(self, call: Call) -> CallResult:
        variant = call.candidate.variant
        try:
            return self.clients[variant.gateway].invoke(variant.name, variant.namespace, call.body,
                                                        call.headers, call.query, call.timeout_s)
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            return CallFailed(Outcome.TIMEOUT)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return CallFailed(Outcome.CONNECTION_ERROR, type(exc).__name__)

    def _judge(self, call: Call, result: CallResult, elapsed_ms: float,
               attempts: list[Attempt]) -> Upstream | None:
        """Record one attempt's outcome; the upstream answer, or None when there is none."""
        candidate, variant = call.candidate, call.candidate.variant
        if isinstance(result, CallFailed):
            if result.outcome is Outcome.TIMEOUT:
                outcome = Outcome.STALLED if call.stall else Outcome.TIMEOUT
                attempts.append(Attempt(variant.id, outcome, elapsed_ms))
                if call.stall and self.stalls is not None:
                    self.stalls.stalled_on(candidate.key, variant)
                return None
            attempts.append(Attempt(variant.id, Outcome.CONNECTION_ERROR, elapsed_ms, error=result.error))
            self.load.mark_down(candidate.key)
            self.on_variant_gone()
            return None
        outcome = Outcome.RETRYABLE if is_retryable(result.status) else Outcome.ANSWERED
        attempts.append(Attempt(variant.id, outcome, result.elapsed_ms, result.status))
        if result.status in MARK_DOWN_STATUSES:
            self.load.mark_down(candidate.key)
            if result.status == 404:
                self.on_variant_gone()
        return result

    def _observe(self, candidate: Candidate, upstream: Upstream) -> None:
        if not 200 <= upstream.status < 300:
            return
        compute = upstream.headers.get("X-Faasml-Compute-Ms")
        try:
            compute_ms = float(compute) if compute is not None else None
        except ValueError:
            compute_ms = None
        self.load.observe(candidate.key, upstream.elapsed_ms, compute_ms)
        self.load.mark_up(candidate.key)

    def _exhausted(self, attempts: list[Attempt], last: Upstream | None, deadline: float) -> FaasmlError:
        tried = [a.as_dict() for a in attempts]
        summary = "; ".join(f"{a['variant']}: {a['outcome']}" for a in tried) or "no attempt fitted the deadline"
        details = {"attempts": tried}
        headers = {"X-Faasml-Attempts": str(len(attempts))}
        # An attempt that timed out was given the whole remaining deadline (a stall bound
        # ends as STALLED): the deadline has passed even when the event loop's timer
        # (libuv's millisecond clock) fired a moment before time.monotonic() got there.
        if time.monotonic() >= deadline or (attempts and attempts[-1].outcome is Outcome.TIMEOUT):
            return GatewayTimeout(f"deadline passed before any variant answered ({summary})",
                                  code="deadline_exceeded", details=details, headers=headers)
        if last is not None and all(a.status == 429 for a in attempts):
            headers["Retry-After"] = last.headers.get("Retry-After") or "1"
            return TooManyRequests(f"every variant tried is saturated ({summary})", code="saturated",
                                   details=details, headers=headers)
        return NotReady(f"no variant could answer ({summary})", code="no_healthy_variant", details=details,
                        headers=headers)
