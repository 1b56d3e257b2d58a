"""Forwarding with fallback, as a plan: which variant to call next, with what bound, and
what each outcome means. The shell makes the calls (service.py, over HTTP) and so does the
simulator (over simulated executors); both drive this same object.

Retried (next in the ranking, while the deadline allows): connection errors, timeouts,
429 and 5xx, and 404 (the function vanished: the registry is stale). Never retried: any
other 4xx, which is about the input and would fail the same everywhere. A variant that
refused connections, answered 404 or 503 (or 502) is marked down for a short cool-down
so the next decisions skip it without waiting for the registry to notice. Every attempt
but the last is also bounded by its stall bound: one that runs far past its prediction
is abandoned for the next variant, and its variant stays out until it answers (the
shell's stall watch probes it). The last attempt gets the whole remaining deadline, so
an input that is merely slow still gets its answer rather than three abandoned tries.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faasml.errors import (DEADLINE_EXCEEDED, NO_HEALTHY_VARIANT, SATURATED, FaasmlError, GatewayTimeout,
                           NotReady, TooManyRequests)
from faasml.selector.engine.candidate import Candidate
from faasml.selector.engine.settings import ForwardSettings
from faasml.selector.engine.signals import Ticket

if TYPE_CHECKING:
    from faasml.selector.engine.core import Decision, Engine

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


def is_retryable(status: int) -> bool:
    return status == 429 or status == 404 or status >= 500


@dataclass(frozen=True)
class StallBound:
    factor: float            # an attempt may take this many times its prediction
    floor_ms: float          # and never less than this (scheduling jitter, GC, a cold cache)
    # A variant this selector has never seen answer is predicted from its profile only,
    # and its first requests pay a cold start (ONNX Runtime allocates its arenas on the
    # first run): a bound that tight would give up on a healthy variant's first answer.
    cold_floor_ms: float = 2000.0

    def seconds(self, predicted_ms: float, remaining_s: float, cold: bool = False) -> float:
        floor = max(self.floor_ms, self.cold_floor_ms) if cold else self.floor_ms
        return min(remaining_s, max(floor, self.factor * predicted_ms) / 1000.0)


@dataclass(frozen=True)
class Call:
    """One attempt to make: `candidate`, given `timeout_s` (its stall bound when `stall`,
    else the remaining deadline); `ticket` counts it in flight until the plan hears back."""

    candidate: Candidate
    timeout_s: float
    stall: bool
    ticket: Ticket


@dataclass(frozen=True)
class Reply:
    """An attempt that got an answer."""

    status: int
    elapsed_ms: float
    compute_ms: float | None = None   # the executor's X-Faasml-Compute-Ms, when given


@dataclass(frozen=True)
class NoReply:
    """An attempt that got no answer: timed out, or could not connect / lost the line."""

    outcome: Outcome              # TIMEOUT or CONNECTION_ERROR
    elapsed_ms: float
    error: str = ""


@dataclass
class Effects:
    """What the caller must do after one outcome, beyond the plan's own bookkeeping."""

    done: bool = False            # stop: `Attempts.answer` (or the error) is final
    relist: bool = False          # the registry is stale (a function vanished or moved)
    stalled: Candidate | None = None   # watch this variant until it answers again


@dataclass
class Attempts:
    """The attempts of one request over a decision's ranking, until one answers or the
    ranking, the attempt budget or the deadline runs out."""

    engine: "Engine"
    decision: "Decision"
    deadline: float               # clock seconds
    settings: ForwardSettings
    attempts: list[Attempt] = field(default_factory=list)
    answer: Candidate | None = None       # the candidate whose reply is the answer
    _index: int = 0
    _last_status: int | None = None

    @property
    def tries(self) -> int:
        return min(len(self.decision.ranked), max(1, self.settings.max_attempts))

    def next_call(self, now: float) -> Call | None:
        """The next attempt to make at `now`, or None when none is left (the first one's
        in-flight count was taken by the decision; a later one's is taken here)."""
        if self.answer is not None or self._index >= self.tries:
            self._release_unused()
            return None
        remaining = self.deadline - now
        if remaining <= 0:
            self._release_unused()
            return None
        index = self._index
        candidate = self.decision.ranked[index]
        ticket = self.decision.ticket if index == 0 and self.decision.ticket is not None \
            else self.engine.acquire(candidate.key, now)
        self._index += 1
        last = index == self.tries - 1
        stall_on = self.settings.stall_factor > 0 and not last
        bound = remaining
        if stall_on:
            stall = StallBound(self.settings.stall_factor, self.settings.stall_floor_ms)
            bound = stall.seconds(candidate.prediction.total_ms, remaining,
                                  cold=candidate.prediction.service_source == "profile")
        return Call(candidate, bound, bound < remaining, ticket)

    def _release_unused(self) -> None:
        """A decision's first ticket that no call used (the deadline had passed)."""
        ticket = self.decision.ticket
        if self._index == 0 and ticket is not None and not ticket.released:
            self.engine.release(ticket, self.deadline)

    def record(self, call: Call, now: float, result: Reply | NoReply) -> Effects:
        """What became of `call`: the in-flight count is given back (kept for a while on
        a timeout: the executor still works on it), health marks and observations
        updated; what the caller must do next."""
        engine, candidate, key = self.engine, call.candidate, call.candidate.key
        effects = Effects()
        if isinstance(result, NoReply):
            if result.outcome is Outcome.TIMEOUT:
                outcome = Outcome.STALLED if call.stall else Outcome.TIMEOUT
                self.attempts.append(Attempt(key, outcome, result.elapsed_ms))
                engine.release(call.ticket, now, candidate.prediction.service_ms)
                if call.stall:
                    engine.mark_down(key, now, until_up=True)
                    effects.stalled = candidate
            else:
                self.attempts.append(Attempt(key, Outcome.CONNECTION_ERROR, result.elapsed_ms, error=result.error))
                engine.release(call.ticket, now)
                engine.mark_down(key, now)
                effects.relist = True
            return effects
        engine.release(call.ticket, now)
        self._last_status = result.status
        retryable = is_retryable(result.status)
        self.attempts.append(Attempt(key, Outcome.RETRYABLE if retryable else Outcome.ANSWERED,
                                     result.elapsed_ms, result.status))
        if result.status in MARK_DOWN_STATUSES:
            engine.mark_down(key, now)
            effects.relist = result.status == 404
        if not retryable:
            if 200 <= result.status < 300:
                engine.observe(key, now, result.elapsed_ms, result.compute_ms, candidate.prediction.model_ms)
                engine.mark_up(key)
                effects.stalled = None
            self.answer = candidate
            effects.done = True
        return effects

    def error(self, now: float, retry_after: str | None = None) -> FaasmlError:
        """Why no variant answered (call once `next_call` gave None and no answer came)."""
        tried = [a.as_dict() for a in self.attempts]
        summary = "; ".join(f"{a['variant']}: {a['outcome']}" for a in tried) or "no attempt fitted the deadline"
        details = {"attempts": tried}
        headers = {"X-Faasml-Attempts": str(len(self.attempts))}
        # An attempt that timed out was given the whole remaining deadline (a stall bound
        # ends as STALLED): the deadline has passed even when a timer fired a moment early.
        if now >= self.deadline or (self.attempts and self.attempts[-1].outcome is Outcome.TIMEOUT):
            return GatewayTimeout(f"deadline passed before any variant answered ({summary})",
                                  code=DEADLINE_EXCEEDED, details=details, headers=headers)
        if self._last_status is not None and all(a.status == 429 for a in self.attempts):
            headers["Retry-After"] = retry_after or "1"
            return TooManyRequests(f"every variant tried is saturated ({summary})", code=SATURATED,
                                   details=details, headers=headers)
        return NotReady(f"no variant could answer ({summary})", code=NO_HEALTHY_VARIANT, details=details,
                        headers=headers)

    @property
    def failed_over(self) -> list[Attempt]:
        """The attempts after which the next variant was tried (the last one never was)."""
        return self.attempts[:-1]


def record_tight_outcome(engine: "Engine", decision: "Decision", answered: Candidate | None, ok: bool,
                         latency_ms: float, max_latency_ms: float, now: float) -> None:
    """Whether a request with a limit met it, on the node that answered (or, with no
    answer, where it was first sent): the fast lanes hold while theirs mostly do."""
    candidate = answered or (decision.ranked[0] if decision.ranked else None)
    if candidate is None or candidate.variant.node is None:
        return
    engine.record_tight(candidate.variant.node, max_latency_ms, ok and latency_ms <= max_latency_ms, now)
