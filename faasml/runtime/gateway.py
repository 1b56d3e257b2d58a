"""The HTTP layer: OpenFaaS gateway + faas-provider routes over the local provider.

Thin on purpose: each handler parses, calls the provider, and answers with the status
faas-netes uses (202 for deploy/update/delete/scale, 404 unknown function, 400 bad body).
`/system/*` needs basic auth; `/function/*`, `/healthz` and `/metrics` stay open, as in
OpenFaaS. Every error is JSON `{"error": {"code", "message"}}`; no request can crash it.
"""
from __future__ import annotations

import asyncio
import json
import platform
import sys
import traceback
from typing import Awaitable, Callable

from aiohttp import web

from faasml import errors as codes
from faasml import prometheus
from faasml.background import Background
from faasml.errors import (BadRequest, FaasmlError, MethodNotAllowed, NotFound, NotReady, PayloadTooLarge,
                           Unauthorized, internal_error)
from faasml.runtime.async_api import AsyncApi
from faasml.runtime.auth import BasicAuth
from faasml.runtime.dashboard.web import Dashboard
from faasml.runtime.logstore import parse_rfc3339
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.openfaas import (gateway_info, parse_delete, parse_deployment, parse_scale,
                                    provider_info)
from faasml.runtime.provider import LocalProvider
from faasml.runtime.proxy import FunctionProxy
from faasml.runtime.responses import error_response, json_response
from faasml.runtime.revision import current_revision
from faasml.runtime.secrets_api import SecretsApi
from faasml.runtime.stack import DEFAULT_NAMESPACE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOG_FOLLOW_POLL_S = 1.0


class GatewayApi:
    def __init__(self, provider: LocalProvider, proxy: FunctionProxy, auth: BasicAuth,
                 metrics: GatewayMetrics, async_api: AsyncApi | None = None, background: Background | None = None):
        self.provider, self.proxy, self.auth, self.metrics = provider, proxy, auth, metrics
        self.background = background or Background("faasml up")
        self.async_api = async_api
        self.secrets = SecretsApi(provider)

    def routes(self) -> list[web.RouteDef]:
        system = {
            "/system/functions": {"GET": self.list_functions, "POST": self.deploy,
                                  "PUT": self.update, "DELETE": self.delete},
            "/system/function/{name}": {"GET": self.describe},
            "/system/scale-function/{name}": {"POST": self.scale},
            "/system/info": {"GET": self.info},
            "/system/namespaces": {"GET": self.namespaces},
            "/system/logs": {"GET": self.logs},
            "/system/secrets": {"GET": self.secrets.list, "POST": self.secrets.create,
                                "PUT": self.secrets.update, "DELETE": self.secrets.delete},
        }
        if self.async_api is not None:   # faasml's own: the async queue's dead letters
            system["/system/async/failed"] = {"GET": self.async_api.dead_letters}
            system["/system/async/failed/{id}/replay"] = {"POST": self.async_api.replay}
        routes = [
            web.route("*", "/function/{name}", self.proxy.handle),
            web.route("*", "/function/{name}/{tail:[\\s\\S]*}", self.proxy.handle),
            *([web.route("*", path, self._guarded({"POST": self.async_api.accept}, secured=False))
               for path in ("/async-function/{name}", "/async-function/{name}/{tail:[\\s\\S]*}")]
              if self.async_api else []),
            web.route("*", "/healthz", self._guarded({"GET": self.healthz}, secured=False)),
            web.route("*", "/metrics", self._guarded({"GET": self.prometheus}, secured=False)),
        ]
        routes += [web.route("*", path, self._guarded(methods)) for path, methods in system.items()]
        routes += Dashboard(self.provider, self.proxy.upstream).routes(self._guarded)
        # [\s\S]: a path with a newline in it (%0A) is unknown too, and answered in JSON.
        routes.append(web.route("*", "/{tail:[\\s\\S]*}", self.unknown_path))
        return routes

    def _guarded(self, methods: dict[str, Handler], secured: bool = True) -> Handler:
        """Dispatch by method (JSON 405 otherwise), check auth, turn any error into JSON."""
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                if secured and not self.auth.allows(request.headers.get("Authorization")):
                    raise Unauthorized(f"basic auth required for {request.path} (user admin)",
                                       headers={"WWW-Authenticate": 'Basic realm="Restricted"'})
                method = methods.get("GET" if request.method == "HEAD" else request.method)
                if method is None:
                    raise MethodNotAllowed(f"{request.method} is not allowed on {request.path}",
                                           headers={"Allow": ", ".join(methods)})
                return await method(request)
            except FaasmlError as exc:
                return error_response(exc)
            except web.HTTPRequestEntityTooLarge:
                return error_response(PayloadTooLarge("request body over the gateway's limit (--max-body-mb)"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                return error_response(internal_error(exc))
        return handler

    async def unknown_path(self, request: web.Request) -> web.Response:
        return error_response(NotFound(f"no route {request.method} {request.path}"))

    # --- open endpoints ------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        """OK while every background task runs; a 503 naming the ones that stopped."""
        stopped = self.background.stopped()
        if stopped:
            return error_response(NotReady("background task(s) stopped: " + "; ".join(
                f"{name} ({why})" for name, why in sorted(stopped.items())), code=codes.BACKGROUND_STOPPED,
                details=self.background.health()))
        return web.Response(text="OK")

    async def prometheus(self, request: web.Request) -> web.Response:
        self.provider.refresh_gauges()
        return web.Response(body=self.metrics.render().encode(), headers={"Content-Type": prometheus.CONTENT_TYPE})

    # --- /system/* -----------------------------------------------------------------

    async def list_functions(self, request: web.Request) -> web.Response:
        return json_response(self.provider.list_status(request.query.get("namespace")))

    async def describe(self, request: web.Request) -> web.Response:
        supervisor = self.provider.get(request.match_info["name"], request.query.get("namespace"))
        usage = request.query.get("usage", "").lower() in ("1", "true")
        return json_response(self.provider.status(supervisor, usage=usage))

    async def deploy(self, request: web.Request) -> web.Response:
        await self.provider.deploy_request(parse_deployment(await request.read()))
        return web.Response(status=202)

    async def update(self, request: web.Request) -> web.Response:
        await self.provider.update_request(parse_deployment(await request.read()))
        return web.Response(status=202)

    async def delete(self, request: web.Request) -> web.Response:
        name, namespace = parse_delete(await request.read())
        self.provider.remove(name, namespace or request.query.get("namespace"))
        return web.Response(status=202)

    async def scale(self, request: web.Request) -> web.Response:
        replicas, namespace = parse_scale(await request.read())
        self.provider.scale(request.match_info["name"], namespace or request.query.get("namespace"),
                            replicas)
        return web.Response(status=202)

    async def info(self, request: web.Request) -> web.Response:
        # A stock gateway forwarding to its provider adds X-Forwarded-Host and reads the
        # provider's shape; faas-cli and everyone else get the gateway's.
        revision, orchestration = current_revision(), self.provider.orchestration
        if request.query.get("shape") == "provider" or "X-Forwarded-Host" in request.headers:
            return json_response(provider_info(revision, orchestration))
        return json_response(gateway_info(revision, platform.machine(), orchestration))

    async def namespaces(self, request: web.Request) -> web.Response:
        return json_response(self.provider.namespaces())

    async def logs(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        name = query.get("name", "")
        if not name:
            raise BadRequest("query parameter `name` is required", code=codes.BAD_PARAMETER)
        namespace = query.get("namespace") or DEFAULT_NAMESPACE
        if (name, namespace) not in self.provider.functions and not self.provider.logs.has(name, namespace):
            raise NotFound(f"function {name}.{namespace} is not deployed", code=codes.FUNCTION_NOT_FOUND)
        try:
            since_s = parse_rfc3339(query["since"]) if query.get("since") else None
            tail = int(query["tail"]) if query.get("tail") else None
        except ValueError as exc:
            raise BadRequest(f"bad `since` or `tail`: {exc}", code=codes.BAD_PARAMETER) from exc
        follow = query.get("follow", "").lower() in ("1", "true")
        instance = query.get("instance") or None
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        backlog = self.provider.logs.read(name, namespace, instance, since_s, tail)
        await response.write("".join(json.dumps(r) + "\n" for r in backlog).encode())
        if follow:
            await self._follow_logs(request, response, name, namespace, instance)
        await response.write_eof()
        return response

    async def _follow_logs(self, request, response, name, namespace, instance) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        unsubscribe = self.provider.logs.subscribe(name, namespace, queue.put_nowait)
        try:
            while request.transport is not None and not request.transport.is_closing():
                try:
                    record = await asyncio.wait_for(queue.get(), LOG_FOLLOW_POLL_S)
                except asyncio.TimeoutError:
                    continue
                if instance is None or record["instance"] == instance:
                    await response.write((json.dumps(record) + "\n").encode())
        except (ConnectionResetError, RuntimeError):
            pass  # the client went away
        finally:
            unsubscribe()


def build_app(api: GatewayApi, max_body_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes)
    app.add_routes(api.routes())
    return app
