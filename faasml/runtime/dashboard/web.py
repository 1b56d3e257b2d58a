"""The dashboard's routes on the local runtime's gateway, all behind its basic auth (the
page shows /system data; a browser asks for the password once and sends it with every
request to the same realm, the page's polls included):

  GET /ui            -> redirect to /ui/
  GET /ui/           the page (static/index.html)
  GET /ui/{file}     its script and style sheet
  GET /ui/api/state  functions with replicas per node, in flight and requests/s; nodes;
                     which function is the selector (the page reads its recent
                     decisions from /function/<selector>/decisions, an open path)
"""
from __future__ import annotations

import time
from importlib import resources
from typing import Awaitable, Callable

from aiohttp import web

from faasml import __version__
from faasml.errors import NotFound
from faasml.runtime.dashboard.overview import RateTracker, summarize_function, summarize_nodes
from faasml.runtime.responses import json_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[[dict[str, Handler]], Handler]
STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


def _static(name: str) -> bytes:
    return resources.files("faasml.runtime.dashboard").joinpath("static", name).read_bytes()


class Dashboard:
    def __init__(self, provider, clock: Callable[[], float] = time.monotonic):
        self.provider = provider  # the LocalProvider: namespaces() and list_status(namespace)
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

    async def page(self, request: web.Request) -> web.Response:
        name = request.match_info.get("file") or "index.html"
        if name not in STATIC:
            raise NotFound(f"no file {name} in the dashboard")
        # no-cache: a page left open across a runtime upgrade gets the new script on reload
        return web.Response(body=_static(name), content_type=STATIC[name],
                            headers={"Cache-Control": "no-cache"})

    async def api_state(self, request: web.Request) -> web.Response:
        return json_response(self.state())

    def routes(self, guarded: Guard) -> list[web.RouteDef]:
        """The routes, each wrapped by the gateway's auth + JSON-error guard."""
        return [web.route("*", "/ui", guarded({"GET": self.redirect})),
                web.route("*", "/ui/", guarded({"GET": self.page})),
                web.route("*", "/ui/api/state", guarded({"GET": self.api_state})),
                web.route("*", "/ui/{file}", guarded({"GET": self.page}))]
