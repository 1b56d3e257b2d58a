"""Template entrypoint: serves `function/handler.py:handle(event, context)` over HTTP.

The same file runs behind of-watchdog inside the container (127.0.0.1:5000, of-watchdog's
`upstream_url`) and as a plain process under `faasml up`, which sets FAASML_LISTEN_PORT.
Shaped after OpenFaaS's python3-http template: Flask under waitress, one `handle` call per
request, the returned dict turned into the response. Bodies stay bytes end to end.
A handler may define `start()`: it runs once, before serving (the place to read settings
and to stop the process on a bad one).

A handler whose `handle` is a coroutine (`async def handle(event, context)`) is served on
one asyncio event loop instead (`HttpConnection`: httptools' C parser under an asyncio
protocol, uvloop when installed), with the same event and the same response dict: for a
function whose work is waiting on other services (the selector), a request then costs no
thread hand-off, no WSGI layer and no web framework. Its body is read before `handle` is
called, up to the same size limit.
"""
import asyncio
import collections
import inspect
import json
import os
import sys
import time
import traceback
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

from flask import Flask, Response, request
from waitress import serve

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "function"))
import handler  # noqa: E402  (the function's own code)

app = Flask(__name__)

# The server's settings, read once at start: waitress option -> (variable, default).
SERVER_SETTINGS = {
    "host": ("FAASML_LISTEN_HOST", "127.0.0.1"),
    "port": ("FAASML_LISTEN_PORT", 5000),
    "threads": ("FAASML_SERVER_THREADS", 8),
    # waitress's default of 100 open connections would leave a busy selector's extra
    # callers waiting in the kernel's backlog; requests beyond `threads` queue here.
    "connection_limit": ("FAASML_SERVER_CONNECTION_LIMIT", 1000),
    "backlog": ("FAASML_SERVER_BACKLOG", 1024),
    # Let the handler, not waitress, judge body size (it answers a JSON 413).
    "max_request_body_size": ("FAASML_SERVER_MAX_BODY", 1 << 30),
}


class Event:
    def __init__(self):
        self.headers = request.headers
        self.method = request.method
        self.query = request.args.to_dict()
        self.path = request.path

    @property
    def body(self):
        """Read on first use, so a handler can refuse an oversized body by its headers."""
        return request.get_data()


class Context:
    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", "localhost")


def response_parts(result):
    """The handler's result -> (status, body bytes, headers): a dict in python3-http's
    shape (`statusCode`, `body`, `headers`), else any value as plain text."""
    if not isinstance(result, dict):
        return 200, str(result).encode(), {"Content-Type": "text/plain; charset=utf-8"}
    body = result.get("body", b"")
    headers = dict(result.get("headers") or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    elif body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    return int(result.get("statusCode", 200)), body, headers


def to_response(result):
    status, body, headers = response_parts(result)
    return Response(body, status=status, headers=headers)


def error_body(exc):
    traceback.print_exc()
    return json.dumps({"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}})


@app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def call_handler(path):
    try:
        return to_response(handler.handle(Event(), Context()))
    except Exception as exc:  # the process must survive any request
        return Response(error_body(exc), status=500, mimetype="application/json")


class AsyncEvent:
    """The same event as `Event`, from a request the asyncio server has read whole."""

    __slots__ = ("headers", "method", "query", "path", "body")

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query        # first value of each name, as Flask's `args.to_dict()`
        self.headers = headers    # case-insensitive (multidict's CIMultiDict)
        self.body = body


# The asyncio server's own limits: beyond them a request is answered 431 or 413 and its
# connection closed, before its handler sees it.
MAX_HEADER_BYTES = 64 * 1024      # request line + header lines, as aiohttp's default scale
MAX_HEADERS = 200
MAX_PIPELINED = 32                # requests read ahead on one connection before reading pauses
DISCARD_BYTES = 16 * 1024 * 1024  # how far past the limit a refused body is read and dropped
# An idle connection, or one whose request never finishes arriving, is closed after this.
KEEPALIVE_S = float(os.environ.get("FAASML_SERVER_KEEPALIVE_S") or 75.0)
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class _Refused(Exception):
    """A request the server answers itself (and closes the connection on)."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


class HttpConnection(asyncio.Protocol):
    """One client connection: HTTP/1.1 parsed by httptools (llhttp, C), keep-alive and
    pipelining (answers in order), chunked request bodies, `Expect: 100-continue`. Each
    request is read whole, then handed to the coroutine `handler.handle`; a failing
    handler is a JSON 500 and the connection serves on."""

    def __init__(self, server):
        import httptools

        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport = None
        self.pending = collections.deque()   # complete requests not answered yet
        self.worker = None                   # the task answering them, one at a time
        self.writable = None                 # a future while the transport's buffer is full
        self.last_active = server.loop.time()
        self.read_paused = False
        self.refusing = False                # a refusal is queued: nothing more is read
        self._reset()

    def _reset(self):
        self.url, self.header_list, self.header_bytes, self.body, self.body_size = b"", [], 0, [], 0
        self.refused = None   # a body over the limit: read on and dropped, then refused

    # -- asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc):
        self.server.connections.discard(self)
        self.transport = None
        self.pending.clear()    # a handler already running finishes; its answer is dropped
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self):
        self.writable = self.server.loop.create_future()

    def resume_writing(self):
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def data_received(self, data):
        import httptools

        self.last_active = self.server.loop.time()
        if self.refusing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol switching here: answer what was read, then close.
            self.transport.pause_reading()
            self.pending.append(None)
            self._start_worker()
        except httptools.HttpParserError as exc:
            refused = exc.__context__ if isinstance(exc.__context__, _Refused) else _Refused(
                400, "bad_request", f"malformed HTTP request: {exc}")
            # Answered in turn, after the requests before it on this connection.
            self.refusing = True
            self.transport.pause_reading()
            self.pending.append(refused)
            self._start_worker()

    # -- httptools' callbacks -------------------------------------------------------
    def on_message_begin(self):
        self._reset()

    def on_url(self, url):
        self.url += url
        self._count_header_bytes(len(url))

    def on_header(self, name, value):
        self.header_list.append((name.decode("latin-1"), value.decode("latin-1")))
        self._count_header_bytes(len(name) + len(value))
        if len(self.header_list) > MAX_HEADERS:
            raise _Refused(431, "headers_too_large", f"more than {MAX_HEADERS} header lines")

    def _count_header_bytes(self, size):
        self.header_bytes += size
        if self.header_bytes > MAX_HEADER_BYTES:
            raise _Refused(431, "headers_too_large", f"request line and headers over {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self):
        limit = self.server.max_body
        expect = length = None
        for name, value in self.header_list:
            lower = name.lower()
            if lower == "content-length":
                length = value
            elif lower == "expect":
                expect = value
        if length is not None and length.strip().isdigit() and int(length) > limit:
            self.refused = _Refused(413, "payload_too_large", f"request body over {limit} bytes")
            if expect is not None:    # the client waits for a go-ahead: refuse before the body
                raise self.refused
        elif expect is not None and expect.lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk):
        self.body_size += len(chunk)
        if self.refused is None and self.body_size > self.server.max_body:
            self.refused = _Refused(413, "payload_too_large", f"request body over {self.server.max_body} bytes")
            self.body = []
        if self.refused is None:
            self.body.append(chunk)
        elif self.body_size > 2 * self.server.max_body + DISCARD_BYTES:
            raise self.refused        # not worth reading on: answer now, whatever the client sees

    def on_message_complete(self):
        parser = self.parser
        if self.refused is not None:
            # Read whole and dropped, so the client is reading when the answer comes.
            self.refusing = True
            self.transport.pause_reading()
            self.pending.append(self.refused)
            self._start_worker()
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.pending.append((parser.get_method().decode("latin-1"), self.url, self.header_list, body,
                             parser.should_keep_alive(), parser.get_http_version()))
        if len(self.pending) >= MAX_PIPELINED and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        self._start_worker()

    # -- answering --------------------------------------------------------------------
    def _start_worker(self):
        if self.worker is None:
            self.worker = self.server.loop.create_task(self._answer_pending())

    async def _answer_pending(self):
        try:
            while self.pending and self.transport is not None:
                request = self.pending.popleft()
                if request is None:          # an upgrade request: nothing more to read
                    self.transport.close()
                    return
                if isinstance(request, _Refused):
                    self._refuse(request)
                    return
                if self.read_paused and len(self.pending) < MAX_PIPELINED // 2:
                    self.read_paused = False
                    self.transport.resume_reading()
                method, url, header_list, body, keep_alive, version = request
                status, payload, headers = await self._call_handler(method, url, header_list, body)
                if self.transport is None:
                    return
                self._write(status, payload if method != "HEAD" else b"", headers, keep_alive, version,
                            len(payload))
                if not keep_alive:
                    self.transport.close()
                    return
                if self.writable is not None:
                    await self.writable      # the client reads slower than we answer
        except Exception:  # a fault here must not leave the client waiting forever
            traceback.print_exc()
            if self.transport is not None:
                self.transport.close()
        finally:
            self.worker = None
            self.last_active = self.server.loop.time()

    async def _call_handler(self, method, url, header_list, body):
        import httptools
        from multidict import CIMultiDict

        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return _json_error(400, "bad_request", f"malformed request target {url[:200]!r}")
        query = {}
        if parsed.query:
            for name, value in parse_qsl(parsed.query.decode("latin-1"), keep_blank_values=True):
                query.setdefault(name, value)
        event = AsyncEvent(method, unquote(parsed.path.decode("latin-1")) if parsed.path else "/",
                           query, CIMultiDict(header_list), body)
        try:
            status, body, headers = response_parts(await handler.handle(event, self.server.context))
            return status, body, _header_lines(headers)
        except Exception as exc:  # the process must survive any request
            return 500, error_body(exc).encode(), _JSON_HEADER

    def _write(self, status, body, header_lines, keep_alive, version, length):
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"")), header_lines,
                self.server.date_line()]
        if not (100 <= status < 200 or status in (204, 304)):
            head.append(b"Content-Length: %d\r\n" % length)
        if not keep_alive:
            head.append(b"Connection: close\r\n")
        elif version == "1.0":
            head.append(b"Connection: keep-alive\r\n")
        head.append(b"\r\n")
        if body:
            head.append(body)
        self.transport.write(b"".join(head))

    def _refuse(self, refused):
        """Answer a request the server refuses itself (malformed, too large), then close:
        what follows it on the connection can no longer be framed."""
        status, body, headers = _json_error(refused.status, refused.code, str(refused))
        self.pending.clear()
        self._write(status, body, headers, False, "1.1", len(body))
        self.transport.close()

    def idle_for(self, now):
        """Seconds since this connection last did anything, 0 while it is answering."""
        if self.worker is not None or self.pending:
            return 0.0
        return now - self.last_active


def _header_lines(headers):
    """A handler's headers as response lines; those the server writes itself are dropped."""
    lines = []
    for name, value in headers.items():
        if name.lower() in ("content-length", "transfer-encoding", "connection", "date"):
            continue
        line = f"{name}: {value}"
        if "\r" in line or "\n" in line:   # never let a handler's header split the response
            raise ValueError(f"header {name!r} holds a line break")
        try:
            lines.append(line.encode("latin-1") + b"\r\n")
        except UnicodeEncodeError:
            lines.append(line.encode("utf-8") + b"\r\n")
    return b"".join(lines)


_JSON_HEADER = b"Content-Type: application/json\r\n"


def _json_error(status, code, message):
    payload = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, payload, _JSON_HEADER


class AsyncServer:
    """What every connection shares: the loop, the body limit, the Date line, the set of
    open connections that the keep-alive sweep walks."""

    def __init__(self, loop, max_body):
        self.loop = loop
        self.max_body = max_body
        self.context = Context()   # the same for every request: the hostname
        self.connections = set()
        self._date_second, self._date = None, b""

    def date_line(self):
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date = b"Date: " + formatdate(second, usegmt=True).encode() + b"\r\n"
        return self._date

    def sweep(self):
        """Close connections idle past KEEPALIVE_S (slow or silent clients too)."""
        now = self.loop.time()
        for connection in list(self.connections):
            if connection.transport is not None and connection.idle_for(now) > KEEPALIVE_S:
                connection.transport.close()
        self.loop.call_later(KEEPALIVE_S / 5, self.sweep)


def serve_async(options):
    """Serve the coroutine `handler.handle` on one event loop (uvloop when installed)."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def main():
        loop = asyncio.get_running_loop()
        server = AsyncServer(loop, options["max_request_body_size"])
        await loop.create_server(lambda: HttpConnection(server), options["host"], options["port"],
                                 backlog=options["backlog"])
        server.sweep()
        await asyncio.Event().wait()  # serve until the process is stopped

    asyncio.run(main())


def server_options(env):
    """SERVER_SETTINGS from `env`; a bad value stops the process with one line."""
    options = {}
    for option, (name, default) in SERVER_SETTINGS.items():
        raw = env.get(name, "").strip()
        try:
            options[option] = type(default)(raw) if raw else default
        except ValueError:
            print(f"index.py: {name}={raw!r}: not a whole number", file=sys.stderr)
            sys.exit(2)
    return options


if __name__ == "__main__":
    options = server_options(os.environ)
    if hasattr(handler, "start"):
        handler.start()
    if inspect.iscoroutinefunction(handler.handle):
        serve_async(options)
    else:
        serve(app, ident="faasml", **options)
