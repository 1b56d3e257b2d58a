"""The selector's recent decisions: what each client asked, what answered it, and how the
predicted latency compared with what happened.

A bounded ring (the newest `capacity` requests) for `GET /decisions`, which the local
runtime's dashboard polls, and three metric families for Grafana on a cluster:
choices per client class, and predicted and observed latency per variant as histograms
on the same buckets, so a panel can set the two side by side.

It reads the request and the selector's answer (its `X-Faasml-*` headers, or the error
it raised), never the decision internals: the service only wraps `select` with `record`.
Everything runs on the selector's event loop: no lock.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Any, Awaitable, Callable

from faasml.errors import FaasmlError
from faasml.http import Request, Response
from faasml.prometheus import Histogram, family, histogram_family, render
from faasml.selector.params import DEFAULT_TRADEOFF, TRUE_WORDS

DEFAULT_CAPACITY = 200
PREDICTING_METHODS = ("POST", "PUT")

CHOICES = "faasml_selector_choices_total"
PREDICTED_SECONDS = "faasml_selector_predicted_latency_seconds"
OBSERVED_SECONDS = "faasml_selector_observed_latency_seconds"
# Latency buckets (seconds): an edge int8 variant answers in ~5 ms, a loaded cloud one in
# seconds; the deadline default is 25 s.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0)

# Clients are grouped by the trade-off they ask for: a label per exact value would be
# unbounded, and these three are what an operator asks about ("who wants speed?").
FAST_BELOW, ACCURATE_ABOVE = 1 / 3, 2 / 3


def client_class(tradeoff: float | None, pinned: bool) -> str:
    if pinned:
        return "pinned"
    value = DEFAULT_TRADEOFF if tradeoff is None else tradeoff
    if value < FAST_BELOW:
        return "fast"
    return "accurate" if value > ACCURATE_ABOVE else "balanced"


def _number(raw: str | None) -> float | None:
    """A parameter as the client sent it, as a number when it is one (the selector has
    already refused the malformed ones with a 400; the log keeps them as None)."""
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    return value if value is None or math.isfinite(value) else None


def _header_number(response: Response, name: str) -> float | None:
    return _number(response.headers.get(name))


class RecentDecisions:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.capacity = capacity
        self.clock = clock    # for durations
        self.wall = wall      # for the entries' `at` (Unix seconds)
        self._ring: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = 0
        self._choices: dict[tuple[str, str, str], int] = {}
        self._predicted: dict[str, Histogram] = {}
        self._observed: dict[str, Histogram] = {}

    # -- recording ---------------------------------------------------------------------
    async def record(self, request: Request, select: Callable[[Request], Awaitable[Response]],
                     waited_s: float = 0.0) -> Response:
        """Run `select`, log its outcome, pass the response (or the error) on unchanged.
        `waited_s`: how long the request waited before the handler got it (the actual
        latency counts from the gateway, as the deadline does). Explain calls and GETs
        (a readiness probe on `/`) are not decisions that ran a model, and are not logged."""
        started = self._start(request, waited_s)
        if started is None:
            return await select(request)
        # The entry is written after the answer has gone: the loop runs these callbacks
        # once this request's task yields, before it reads the next request, so a client
        # that got its answer finds it logged (each is tens of µs off the hop).
        loop = asyncio.get_running_loop()
        try:
            response = await select(request)
        except FaasmlError as exc:
            loop.call_soon(self._refused, request, started, exc, self.clock())
            raise
        loop.call_soon(self._answered, request, started, response, self.clock())
        return response

    def _start(self, request: Request, waited_s: float) -> float | None:
        """When the request started (monotonic), or None when it is not logged."""
        if request.method not in PREDICTING_METHODS \
                or (request.param("explain", "X-Faasml-Explain") or "").strip().lower() in TRUE_WORDS:
            return None
        return self.clock() - waited_s

    def _refused(self, request: Request, started: float, exc: FaasmlError, ended: float) -> None:
        self._add(self._entry(request, started, ended, exc.status) | {
            "code": exc.code, "message": exc.message,
            "retry_after_s": exc.details.get("retry_after_s")})

    def _answered(self, request: Request, started: float, response: Response, ended: float) -> None:
        self._add(self._entry(request, started, ended, response.status) | {
            "variant": response.headers.get("X-Faasml-Variant") or response.headers.get("X-Faasml-Refused-By"),
            "accuracy": _header_number(response, "X-Faasml-Accuracy"),
            "predicted_ms": _header_number(response, "X-Faasml-Predicted-Latency-Ms"),
            "compute_ms": _header_number(response, "X-Faasml-Compute-Ms"),
            "held_ms": _header_number(response, "X-Faasml-Held-Ms"),
            "attempts": int(_header_number(response, "X-Faasml-Attempts") or 0),
            "policy": response.headers.get("X-Faasml-Policy")})

    def _entry(self, request: Request, started: float, ended: float, status: int) -> dict[str, Any]:
        tradeoff = _number(request.param("tradeoff", "X-Faasml-Tradeoff"))
        pinned = bool((request.param("variant", "X-Faasml-Variant") or "").strip())
        return {"at": self.wall(), "status": status,
                "task": request.param("task", "X-Faasml-Task"),
                "tradeoff": tradeoff,
                "max_latency_ms": _number(request.param("max_latency_ms", "X-Faasml-Max-Latency-Ms")),
                "min_accuracy": _number(request.param("min_accuracy", "X-Faasml-Min-Accuracy")),
                "client_class": client_class(tradeoff, pinned),
                "actual_ms": round((ended - started) * 1000.0, 3)}

    def _add(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        entry["seq"] = self._seq
        self._ring.append(entry)
        variant = entry.get("variant")
        if variant is None:
            return  # refused: the selector's own counters (shed, failed, ...) say why
        # Only answered requests feed the labelled series: their task and variant are
        # known to the registry, so a client cannot grow the label sets at will.
        key = (entry["task"] or "", entry["client_class"], variant)
        self._choices[key] = self._choices.get(key, 0) + 1
        if entry["predicted_ms"] is not None:
            self._histogram(self._predicted, variant).observe(entry["predicted_ms"] / 1000.0)
        self._histogram(self._observed, variant).observe(entry["actual_ms"] / 1000.0)

    @staticmethod
    def _histogram(histograms: dict[str, Histogram], variant: str) -> Histogram:
        histogram = histograms.get(variant)
        if histogram is None:
            histogram = histograms[variant] = Histogram(LATENCY_BUCKETS_S)
        return histogram

    # -- reading -----------------------------------------------------------------------
    def view(self, limit: int | None = None, after: int = 0) -> dict[str, Any]:
        """The newest entries first (at most `limit`, only those with `seq` > `after`), so a
        poller asks only for what it has not seen."""
        entries = [dict(e) for e in self._ring if e["seq"] > after]
        last = self._seq
        entries.reverse()
        if limit is not None:
            entries = entries[:max(0, limit)]
        return {"capacity": self.capacity, "last_seq": last, "calibration": self.calibration(),
                "decisions": entries}

    def calibration(self) -> dict[str, Any]:
        """How the latency clients saw compares with what the selector predicted for them,
        over the answered requests in the ring: the median and 90th percentile of
        actual / predicted (1 is a perfect prediction)."""
        ratios = sorted(e["actual_ms"] / e["predicted_ms"] for e in self._ring
                        if e.get("variant") and e.get("predicted_ms") and e["predicted_ms"] > 0)
        if not ratios:
            return {"answered": 0, "actual_over_predicted_p50": None, "actual_over_predicted_p90": None}
        pick = lambda q: round(ratios[min(len(ratios) - 1, int(q * len(ratios)))], 3)  # noqa: E731
        return {"answered": len(ratios), "actual_over_predicted_p50": pick(0.5),
                "actual_over_predicted_p90": pick(0.9)}

    def render(self) -> str:
        choices = [((("task", task), ("client_class", klass), ("variant", variant)), count)
                   for (task, klass, variant), count in sorted(self._choices.items())]
        return render([
            family(CHOICES, "counter", "requests answered, by task, client class "
                   "(fast: tradeoff < 1/3, balanced, accurate: > 2/3, pinned) and variant", choices),
            histogram_family(PREDICTED_SECONDS, "latency the selector predicted for the variant it chose",
                             [((("variant", v),), h) for v, h in sorted(self._predicted.items())]),
            histogram_family(OBSERVED_SECONDS, "latency the selector saw, from the gateway's stamp "
                             "to the answer", [((("variant", v),), h) for v, h in sorted(self._observed.items())]),
        ])
