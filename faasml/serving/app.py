"""The ASGI callable around a function's `handle(event, context)` (the python3-http contract).

Per request: the body is judged on Content-Length before a byte of it is read (413, and
the connection closes rather than read the rest), read whole (counted as it comes, for a
chunked one), then `handle` runs: a coroutine on the loop itself, a plain function on a
pool of `threads` threads (first come first served: an executor with one thread serves one
request at a time, as its latency prediction assumes). The returned dict (or any value, as
plain text) becomes the answer; a handler that raises is a JSON 500 with an error id, its
text only in the log. HEAD, 204 and 304 answers never carry a body (a handler's body for
them is dropped, so it cannot corrupt the next answer on the connection).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import os
import re
from typing import Any, Callable
from urllib.parse import parse_qsl

from multidict import CIMultiDict

from faasml import errors as codes
from faasml.errors import FaasmlError, internal_error

_NO_BODY = frozenset({204, 304})
# Written by the server itself, never taken from a handler.
_SERVER_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"connection", b"date", b"keep-alive",
                             b"upgrade", b"trailer"})
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_JSON = [(b"content-type", b"application/json")]


class Event:
    """What a handler gets: `method`, `path` (decoded), `query` (first value of each name),
    `headers` (case-insensitive multidict), `body` (bytes, read whole)."""

    __slots__ = ("method", "path", "query", "headers", "body")

    def __init__(self, method: str, path: str, query: dict[str, str], headers: CIMultiDict, body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body


class Context:
    def __init__(self) -> None:
        self.hostname = os.getenv("HOSTNAME", "localhost")


class HandlerError(Exception):
    """The handler's answer cannot be written (a bad status or header)."""


def response_parts(result: Any) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The handler's result -> (status, body, header lines): a dict in python3-http's shape
    (`statusCode`, `body`, `headers`: a dict, a multidict or pairs), else any value as text."""
    if not isinstance(result, dict):
        return 200, str(result).encode(), [(b"content-type", b"text/plain; charset=utf-8")]
    body = result.get("body", b"")
    raw_headers = result.get("headers") or {}
    pairs = list(raw_headers.items()) if hasattr(raw_headers, "items") else list(raw_headers)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        if not any(str(name).lower() == "content-type" for name, _ in pairs):
            pairs.append(("Content-Type", "application/json"))
    elif body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    status = result.get("statusCode", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise HandlerError(f"statusCode {status!r} is not an HTTP status")
    return status, bytes(body), [_header_line(name, value) for name, value in pairs
                                 if str(name).lower().encode() not in _SERVER_HEADERS]


def _header_line(name: Any, value: Any) -> tuple[bytes, bytes]:
    raw_name, text = str(name).encode("latin-1", "replace"), str(value)
    try:
        raw_value = text.encode("latin-1")
    except UnicodeEncodeError:
        raw_value = text.encode("utf-8")
    if not _TOKEN.match(raw_name) or _BAD_VALUE.search(raw_value):
        # never let a handler's header split the response
        raise HandlerError(f"header {str(name)[:100]!r} is not a valid header line")
    return raw_name.lower(), raw_value


class FunctionApp:
    def __init__(self, handle: Callable[..., Any], max_body_bytes: int, threads: int = 8,
                 context: Any | None = None):
        self.handle = handle
        self.is_coroutine = inspect.iscoroutinefunction(handle)
        self.max_body_bytes = max_body_bytes
        self.context = context if context is not None else Context()
        self.pool = None if self.is_coroutine else concurrent.futures.ThreadPoolExecutor(
            threads, thread_name_prefix="handler")

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return   # lifespan and websockets are off
        headers = CIMultiDict((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"])
        method = scope["method"]
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._error(send, 413, codes.PAYLOAD_TOO_LARGE,
                              f"body is {declared} bytes; the limit is {self.max_body_bytes}", close=True)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return   # the client left: nobody to answer
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body_bytes:
                    await self._error(send, 413, codes.PAYLOAD_TOO_LARGE,
                                      f"body over the limit of {self.max_body_bytes} bytes", close=True)
                    return
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        query: dict[str, str] = {}
        if scope["query_string"]:
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                query.setdefault(name, value)
        event = Event(method, scope["path"] or "/", query, headers,
                      chunks[0] if len(chunks) == 1 else b"".join(chunks))
        try:
            if self.is_coroutine:
                result = await self.handle(event, self.context)
            else:
                result = await asyncio.get_running_loop().run_in_executor(self.pool, self.handle, event, self.context)
            status, body, lines = response_parts(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the process must survive any request
            error = internal_error(exc, "faasml function")
            await self._error(send, error.status, error.code, error.message, details=error.details)
            return
        if status in _NO_BODY:
            await send({"type": "http.response.start", "status": status, "headers": lines})
            await send({"type": "http.response.body", "body": b""})
            return
        lines.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": lines})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    @staticmethod
    async def _error(send: Callable, status: int, code: str, message: str, close: bool = False,
                     details: dict[str, Any] | None = None) -> None:
        error = FaasmlError(message, code=code, status=status, details=details)
        body = error.to_json()
        lines = _JSON + [(b"content-length", b"%d" % len(body))]
        if close:   # what is left of the request is not read: it cannot frame the next one
            lines.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": lines})
        await send({"type": "http.response.body", "body": body})

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
