"""The Open Inference Protocol (KServe v2 REST) through the selector: the routes Triton,
KServe and MLServer clients speak, over the same selection as `POST /`.

  POST /v2/models/<model>[/versions/<v>]/infer   select among <model>'s variants, forward
                                                 the body to the chosen one's
                                                 /v2/models/<variant>/infer
  GET  /v2/models/<model>[/versions/<v>][/ready]  the metadata (readiness) of <model>'s most
                                                 accurate healthy variant
  GET  /v2/health/ready | /v2/health/live

`<model>` is, in this order: a variant's function name (a pin), a family (the
`faasml.io/family` annotation: every variant of one model), a task (`tensor` excepted: two
tensor models do not share inputs). The client's trade-off and limits come from the query,
`X-Faasml-*` headers or the body's top-level `parameters` (query beats header beats body).
Errors on these routes have the protocol's shape, `{"error": message}`, with faasml's
code in `X-Faasml-Error-Code` (docs/api.md, "Open Inference Protocol through the selector").
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Callable, Protocol

from faasml.errors import (NO_HEALTHY_VARIANT, UNKNOWN_MODEL, UNKNOWN_VERSION, FaasmlError, MethodNotAllowed,
                           NotFound, NotReady)
from faasml.http import Headers, Request, Response
from faasml.selector.client import HttpClient, UpstreamError
from faasml.selector.engine.candidate import Candidate
from faasml.selector.engine.core import Engine
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.gateway_client import Gateway
from faasml.selector.params import parse_selection
from faasml.selector.refresher import Refresher
from faasml.selector.registry import Registry


class Selector(Protocol):
    """What these routes use of the selector's service (service.py)."""

    engine: Engine
    registry: Registry
    refresher: Refresher
    gateways: dict[str, Gateway]
    client: HttpClient
    clock: Callable[[], float]

    async def select_as(self, request: Request, selection: SelectionRequest,
                        subpath: Callable[[Candidate], str] | None = None) -> Response: ...

PREFIX = "/v2"
MODEL_PATH = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")
NOT_SELECTABLE_TASKS = frozenset({"tensor"})
METADATA_TIMEOUT_S = 10.0


def is_oip(request: Request) -> bool:
    path = "/" + request.path.strip("/")
    return path == PREFIX or path.startswith(PREFIX + "/")


def error(exc: FaasmlError) -> Response:
    """The protocol's error shape, with the status and headers faasml gives the fault."""
    headers = Headers({"Content-Type": "application/json", "X-Faasml-Error-Code": exc.code})
    headers.update(exc.headers)
    return Response(exc.status, json.dumps({"error": exc.message}).encode(), headers)


def target(service: Selector, model: str) -> dict[str, str]:
    """What `<model>` names: {"variant": ...}, {"family": ...} or {"task": ...}; 404 else."""
    snapshot = service.registry.snapshot
    if model in snapshot.by_key:
        return {"variant": model}
    if any(v.family == model for v in snapshot.variants):
        return {"family": model}
    if model in snapshot.by_task and model not in NOT_SELECTABLE_TASKS:
        return {"task": model}
    service.refresher.wake()
    raise NotFound(f"unknown model {model!r}: name a variant, a model family or a task", code=UNKNOWN_MODEL)


def body_parameters(request: Request) -> dict[str, Any]:
    """The inference request's top-level `parameters` (the protocol's place for the
    trade-off and limits); {} when there are none. A body that is no JSON object is the
    executor's to refuse."""
    try:
        document = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    parameters = document.get("parameters") if isinstance(document, dict) else None
    return parameters if isinstance(parameters, dict) else {}


async def handle(service: Selector, request: Request) -> Response:
    path = "/" + request.path.strip("/")
    if path in (PREFIX + "/health/live", PREFIX + "/health/ready"):
        if request.method != "GET":
            raise MethodNotAllowed(f"{path} answers GET only")
        if path.endswith("/live"):
            return Response.json({"live": True})
        if not service.registry.snapshot.variants:
            raise NotReady("no variant discovered yet")
        return Response.json({"ready": True})
    match = MODEL_PATH.match(path)
    if match is None:
        raise NotFound(f"no route {path} (the Open Inference Protocol's /v2/models/<model>/infer)")
    model, version, action = match.group(1), match.group(2), match.group(3) or ""
    if version not in (None, "1"):
        raise NotFound(f"model {model!r} has no version {version!r} (only 1)", code=UNKNOWN_VERSION)
    chosen = target(service, model)
    if action == "/infer":
        if request.method != "POST":
            raise MethodNotAllowed(f"{path} answers POST only")
        selection = parse_selection(request, body_parameters(request))
        selection = dataclasses.replace(selection, task=chosen.get("task"), family=chosen.get("family"),
                                        variant=chosen.get("variant"))
        return await service.select_as(request, selection,
                                       subpath=lambda candidate: f"/v2/models/{candidate.variant.name}/infer")
    if request.method != "GET":
        raise MethodNotAllowed(f"{path} answers GET only")
    return await _describe(service, chosen, action)


async def _describe(service: Selector, chosen: dict[str, str], action: str) -> Response:
    """Metadata or readiness, as the most accurate healthy variant of the model says it
    (its variants take the same inputs)."""
    selection = SelectionRequest(task=chosen.get("task"), tradeoff=1.0, variant=chosen.get("variant"),
                                 family=chosen.get("family"), policy="most-accurate")
    decision = service.engine.decide(selection, service.clock(), acquire=False)
    if decision.error is not None:
        raise decision.error
    variant = decision.ranked[0].variant
    gateway = service.gateways[variant.gateway]
    url = gateway.function_url(variant.name, variant.namespace, f"/v2/models/{variant.name}{action}")
    try:
        reply = await service.client.request("GET", url, (), b"", METADATA_TIMEOUT_S)
    except (UpstreamError, OSError, TimeoutError) as exc:
        raise NotReady(f"{variant.id} did not answer: {type(exc).__name__}", code=NO_HEALTHY_VARIANT) from exc
    headers = Headers.end_to_end(reply.headers.items())
    headers["X-Faasml-Variant"] = variant.id
    return Response(reply.status, reply.body, headers)
