"""`/system/secrets` routes (faas-provider's secrets API) over the local SecretStore."""
from __future__ import annotations

from aiohttp import web

from faasml.runtime.provider import LocalProvider
from faasml.runtime.responses import json_response
from faasml.runtime.secret_store import parse_secret


class SecretsApi:
    """`/system/secrets` as faas-provider defines it: list names, create (POST), update
    (PUT), delete; 202 on changes as faas-netes answers. Values are never echoed."""

    def __init__(self, provider: LocalProvider):
        self.provider = provider

    def _namespace(self, given: str | None, request: web.Request) -> str:
        return self.provider.check_namespace(given or request.query.get("namespace"))

    async def list(self, request: web.Request) -> web.Response:
        namespace = self._namespace(None, request)
        return json_response(self.provider.secrets.list(namespace))

    async def create(self, request: web.Request) -> web.Response:
        return await self._change(request, self.provider.secrets.create)

    async def update(self, request: web.Request) -> web.Response:
        return await self._change(request, self.provider.secrets.update)

    async def _change(self, request: web.Request, store_write) -> web.Response:
        name, namespace, value = parse_secret(await request.read())
        namespace = self._namespace(namespace, request)
        store_write(namespace, name, value)
        self.provider.secret_changed(namespace, name)
        return web.Response(status=202)

    async def delete(self, request: web.Request) -> web.Response:
        name, namespace, _ = parse_secret(await request.read(), need_value=False)
        namespace = self._namespace(namespace, request)
        self.provider.secrets.delete(namespace, name)
        self.provider.secret_changed(namespace, name)
        return web.Response(status=202)
