"""The client's side of a selection: what it asks for and the limits it sets.

Parameters come from the query string or from `X-Faasml-*` headers (the request contract
in docs/architecture.md), so a plain `curl`, `faas-cli invoke --query` or `-H` all work.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from faasml.errors import BAD_PARAMETER, BadRequest
from faasml.http import Request
from faasml.selector.engine.request import DEFAULT_TRADEOFF, SelectionRequest

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"", "0", "false", "no", "off"}


Fallback = Mapping[str, Any]


def _raw(request: Request, name: str, header: str, fallback: Fallback | None) -> str | None:
    """The query's, else the header's, else (the Open Inference Protocol's body
    `parameters`) the fallback's value, as text."""
    raw = request.param(name, header)
    if raw is None and fallback is not None and fallback.get(name) is not None:
        value = fallback[name]
        raw = str(value).lower() if isinstance(value, bool) else str(value)
    return raw


def _number(request: Request, name: str, header: str, low: float, high: float,
            fallback: Fallback | None = None) -> float | None:
    raw = _raw(request, name, header, fallback)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}", code=BAD_PARAMETER,
                         details={"parameter": name}) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRequest(f"{name} must be between {low:g} and {high:g}, got {raw!r}",
                         code=BAD_PARAMETER, details={"parameter": name})
    return value


def _flag(request: Request, name: str, header: str, fallback: Fallback | None = None) -> bool:
    raw = (_raw(request, name, header, fallback) or "").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise BadRequest(f"{name} must be 1 or 0, got {raw!r}", code=BAD_PARAMETER,
                     details={"parameter": name})


def _text(request: Request, name: str, header: str, fallback: Fallback | None = None) -> str | None:
    raw = _raw(request, name, header, fallback)
    return raw.strip() or None if raw is not None else None


def parse_selection(request: Request, fallback: Fallback | None = None) -> SelectionRequest:
    """Read and validate the selection parameters; BadRequest (400) names the culprit.
    `fallback`: values taken when neither the query nor a header gives one (the Open
    Inference Protocol's body `parameters`)."""
    tradeoff = _number(request, "tradeoff", "X-Faasml-Tradeoff", 0.0, 1.0, fallback)
    max_latency = _number(request, "max_latency_ms", "X-Faasml-Max-Latency-Ms", 0.0, 3.6e6, fallback)
    if max_latency is not None and max_latency <= 0:
        raise BadRequest("max_latency_ms must be positive", code=BAD_PARAMETER,
                         details={"parameter": "max_latency_ms"})
    return SelectionRequest(
        task=_text(request, "task", "X-Faasml-Task"),
        tradeoff=DEFAULT_TRADEOFF if tradeoff is None else tradeoff,
        max_latency_ms=max_latency,
        min_accuracy=_number(request, "min_accuracy", "X-Faasml-Min-Accuracy", 0.0, 1.0, fallback),
        variant=_text(request, "variant", "X-Faasml-Variant"),
        explain=_flag(request, "explain", "X-Faasml-Explain", fallback),
        policy=_text(request, "policy", "X-Faasml-Policy", fallback),
        family=_text(request, "family", "X-Faasml-Family"),
    )
