"""Template entrypoint: serves `function/handler.py:handle(event, context)` over HTTP.

The same file runs behind of-watchdog inside the container (127.0.0.1:5000, of-watchdog's
`upstream_url`) and as a plain process under `faasml up`, which sets FAASML_LISTEN_PORT.
Shaped after OpenFaaS's python3-http template: Flask under waitress, one `handle` call per
request, the returned dict turned into the response. Bodies stay bytes end to end.
A handler may define `start()`: it runs once, before serving (the place to read settings
and to stop the process on a bad one).

A handler whose `handle` is a coroutine (`async def handle(event, context)`) is served on
one asyncio event loop by aiohttp's low-level server instead, with the same event and
the same response dict: for a function whose work is waiting on other services (the
selector), a request then costs no thread hand-off and no WSGI layer. Its body is read
before `handle` is called, up to the same size limit.
"""
import asyncio
import inspect
import json
import os
import sys
import traceback

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
    """The same event as `Event`, from an aiohttp request whose body is already read."""

    def __init__(self, request, body):
        self.headers = request.headers
        self.method = request.method
        self.query = {name: request.query.get(name) for name in request.query}  # first value, as Flask
        self.path = request.path
        self.body = body


def serve_async(options):
    """Serve the coroutine `handler.handle` on one event loop (uvloop when installed)."""
    from aiohttp import web

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def call_handler(request):
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            payload = {"error": {"code": "payload_too_large",
                                 "message": f"request body over {options['max_request_body_size']} bytes"}}
            return web.Response(status=413, text=json.dumps(payload), content_type="application/json")
        try:
            status, body, headers = response_parts(await handler.handle(AsyncEvent(request, body), Context()))
        except Exception as exc:  # the process must survive any request
            return web.Response(status=500, text=error_body(exc), content_type="application/json")
        return web.Response(status=status, body=body, headers=headers)

    async def main():
        loop = asyncio.get_running_loop()

        def make_request(message, payload, protocol, writer, task):
            return web.BaseRequest(message, payload, protocol, writer, task, loop,
                                   client_max_size=options["max_request_body_size"])

        server = web.Server(call_handler, request_factory=make_request)
        await loop.create_server(server, options["host"], options["port"], backlog=options["backlog"])
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
