"""`POST /async-function/{name}[.{namespace}][/subpath]`: accept a call for later, as the
OpenFaaS gateway does: 202 with X-Call-Id once the call is safely queued (async_queue)."""
from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from aiohttp import web

from faasml import errors as codes
from faasml.errors import BadRequest, Conflict, NotFound
from faasml.http import end_to_end
from faasml.runtime.async_queue import AsyncQueue
from faasml.runtime.async_store import QueuedCall
from faasml.runtime.provider import LocalProvider
from faasml.runtime.responses import json_response
from faasml.runtime.listener import GatewayLimits, read_body
from faasml.runtime.proxy import function_body_limit, upstream_target
from faasml.runtime.stack import DEFAULT_NAMESPACE

# Stamped anew when the call runs (X-Start-Time: its acceptance), never taken from the client.
_SET_WHEN_RUN = frozenset({"x-call-id", "x-start-time", "x-faasml-queued"})


def callback_url_of(headers) -> str | None:
    url = headers.get("X-Callback-Url", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(f"X-Callback-Url {url!r} is not an http(s) URL", code=codes.BAD_CALLBACK_URL)
    return url


class AsyncApi:
    def __init__(self, provider: LocalProvider, queue: AsyncQueue, max_body_bytes: int,
                 limits: GatewayLimits | None = None):
        self.provider, self.queue, self.max_body_bytes = provider, queue, max_body_bytes
        self.limits = limits or GatewayLimits()

    async def accept(self, request: web.Request) -> web.Response:
        """POST only (the gateway's dispatcher answers other methods with a JSON 405)."""
        name, _, namespace = request.match_info["name"].partition(".")
        supervisor = self.provider.functions.get((name, namespace or DEFAULT_NAMESPACE))
        if supervisor is None:
            raise NotFound(f"function {name}.{namespace or DEFAULT_NAMESPACE} is not deployed",
                           code=codes.FUNCTION_NOT_FOUND)
        callback_url = callback_url_of(request.headers)
        limit = function_body_limit(supervisor.spec.environment)
        body = await read_body(request, min(limit, self.max_body_bytes) if limit else self.max_body_bytes,
                               self.limits.body_timeout_s)
        call_id = request.headers.get("X-Call-Id") or str(uuid.uuid4())
        headers = [(k, v) for k, v in end_to_end(request.headers.items()) if k.lower() not in _SET_WHEN_RUN]
        headers.append(("X-Forwarded-Host", request.host))
        if request.remote:
            headers.append(("X-Forwarded-For", request.remote))
        accepted_ns = time.time_ns()
        await self.queue.accept(QueuedCall(
            id=0, call_id=call_id, function=supervisor.spec.qualified_name, method="POST",
            target=upstream_target(request.raw_path), headers=headers, body=body,
            callback_url=callback_url, accepted_ns=accepted_ns))
        return web.Response(status=202, headers={"X-Call-Id": call_id, "X-Start-Time": str(accepted_ns)})

    async def dead_letters(self, request: web.Request) -> web.Response:
        """GET /system/async/failed[?limit=N]: dead-lettered calls, newest first."""
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise BadRequest("`limit` must be a whole number in 1..1000", code=codes.BAD_PARAMETER,
                             details={"parameter": "limit"})
        return json_response(await self.queue.dead_letters(int(raw)))

    async def replay(self, request: web.Request) -> web.Response:
        """POST /system/async/failed/{id}/replay: run a dead call again from its first attempt."""
        raw = request.match_info["id"]
        if not raw.isdigit():
            raise BadRequest(f"call id {raw[:40]!r} is not a number (the `id` of GET /system/async/failed)",
                             code=codes.BAD_PARAMETER, details={"parameter": "id"})
        try:
            found = await self.queue.replay(int(raw))
        except LookupError as exc:
            raise Conflict(f"dead call {raw} cannot be replayed: {exc}", code=codes.NOT_REPLAYABLE) from exc
        if not found:
            raise NotFound(f"no dead-lettered async call {raw}", code=codes.CALL_NOT_FOUND)
        return web.Response(status=202)
