"""aiohttp answers made from faasml.http's, so the gateway's JSON and errors are the very
ones the selector and executors give (one error body, one place)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from faasml.errors import FaasmlError
from faasml.http import Response


def to_aiohttp(response: Response) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=list(response.headers.items()))


def error_response(exc: FaasmlError) -> web.Response:
    """The error's JSON answer; `Connection: close` among its headers closes the connection
    after it (what is left of the request was not read)."""
    answer = Response.error(exc)
    close = answer.headers.get("Connection", "").lower() == "close"
    if close:
        del answer.headers["Connection"]
    response = to_aiohttp(answer)
    if close:
        response.force_close()
    return response


def json_response(payload: Any, status: int = 200) -> web.Response:
    return to_aiohttp(Response.json(payload, status))
