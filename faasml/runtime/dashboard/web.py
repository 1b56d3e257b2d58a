"""The dashboard's routes on the local runtime's gateway, all behind its basic auth (the
page shows /system data; a browser asks for the password once and sends it with every
request to the same realm, the page's polls included):

  GET /              -> redirect to /ui/ (open, as OpenFaaS's gateway does)
  GET /ui            -> redirect to /ui/
  GET /ui/           the page (static/index.html)
  GET /ui/{file}     its script and style sheet
  GET /ui/api/state  functions with replicas per node, in flight and requests/s; nodes;
                     which function is the selector
  GET /ui/api/decisions?after=N&limit=N
                     the selector's recent decisions (its GET /decisions), fetched
                     by the gateway from a ready replica with the selector's own API
                     key when its keys are on: the page needs none, and never sees one
"""
from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from faasml import __version__
from faasml.errors import BadGateway, NotFound, NotReady
from faasml.runtime.dashboard.overview import RateTracker, summarize_function, summarize_nodes
from faasml.runtime.responses import json_response
from faasml.runtime.selector_access import selector_credentials, selectors
from faasml.upstream import UpstreamError, UpstreamPool

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[..., Handler]   # (methods, secured=True) -> the guarded handler
STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
DECISIONS_TIMEOUT_S = 5.0
DECISIONS_QUERY = ("after", "limit")   # what the page may ask of the selector's /decisions


def _static(name: str) -> bytes:
    return resources.files("faasml.runtime.dashboard").joinpath("static", name).read_bytes()


class Dashboard:
    def __init__(self, provider, upstream: UpstreamPool, clock: Callable[[], float] = time.monotonic):
        self.provider = provider  # the LocalProvider: namespaces(), list_status(namespace), functions
        self.upstream = upstream  # the gateway's pooled connections to replicas
        self.clock = clock
        self.rates = RateTracker()

    def state(self) -> dict:
        statuses = [s for namespace in self.provider.namespaces() for s in self.provider.list_status(namespace)]
        functions = [summarize_function(s) for s in statuses]
        per_second = self.rates.observe(self.clock(), {f["name"]: f["invocations"] for f in functions})
        for function in functions:
            function["requests_per_s"] = per_second.get(function["name"])
        selector = next((f["name"] for f in functions if f["role"] == "selector"), None)
        return {"version": __version__, "generated_at": time.time(), "selector": selector,
                "functions": functions, "nodes": summarize_nodes(statuses)}

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": "/ui/"})

    async def root(self, request: web.Request) -> web.StreamResponse:
        # Permanent, as OpenFaaS's gateway answers `/`; the page itself asks for the password.
        return web.Response(status=301, headers={"Location": "/ui/"})

    async def page(self, request: web.Request) -> web.Response:
        name = request.match_info.get("file") or "index.html"
        if name not in STATIC:
            raise NotFound(f"no file {name} in the dashboard")
        # no-cache: a page left open across a runtime upgrade gets the new script on reload
        return web.Response(body=_static(name), content_type=STATIC[name],
                            headers={"Cache-Control": "no-cache"})

    async def api_state(self, request: web.Request) -> web.Response:
        return json_response(self.state())

    async def api_decisions(self, request: web.Request) -> web.Response:
        """The selector's `/decisions`, as it answers (a 400 for a bad `limit` included)."""
        selector = next(selectors(self.provider), None)
        if selector is None:
            raise NotFound("no selector function is deployed (label faasml.io/role=selector)")
        replica = next((r for r in selector.all_replicas() if r.routable), None)
        if replica is None:
            raise NotReady(f"{selector.spec.name} has no ready replica")
        query = urlencode([(k, request.query[k]) for k in DECISIONS_QUERY if k in request.query])
        try:
            answer = await self.upstream.request(replica.port, "GET", "/decisions" + (f"?{query}" if query else ""),
                                                 selector_credentials(self.provider, selector), b"",
                                                 DECISIONS_TIMEOUT_S)
        except (UpstreamError, asyncio.TimeoutError, OSError) as exc:
            raise BadGateway(f"{selector.spec.name} did not answer: {exc}") from exc
        return web.Response(status=answer.status, body=answer.body, content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    def routes(self, guarded: Guard) -> list[web.RouteDef]:
        """The routes, each wrapped by the gateway's auth + JSON-error guard."""
        return [web.route("*", "/", guarded({"GET": self.root}, secured=False)),
                web.route("*", "/ui", guarded({"GET": self.redirect})),
                web.route("*", "/ui/", guarded({"GET": self.page})),
                web.route("*", "/ui/api/state", guarded({"GET": self.api_state})),
                web.route("*", "/ui/api/decisions", guarded({"GET": self.api_decisions})),
                web.route("*", "/ui/{file}", guarded({"GET": self.page}))]
