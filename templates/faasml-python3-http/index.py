"""Template entrypoint: serves `function/handler.py:handle(event, context)` over HTTP.

The same file runs behind of-watchdog inside the container (127.0.0.1:5000, of-watchdog's
`upstream_url`) and as a plain process under `faasml up`, which sets FAASML_LISTEN_PORT.
Shaped after OpenFaaS's python3-http template: Flask under waitress, one `handle` call per
request, the returned dict turned into the response. Bodies stay bytes end to end.
A handler may define `start()`: it runs once, before serving (the place to read settings
and to stop the process on a bad one).
"""
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


def to_response(result):
    if not isinstance(result, dict):
        return Response(str(result), status=200, mimetype="text/plain")
    body = result.get("body", b"")
    headers = dict(result.get("headers") or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    elif body is None:
        body = b""
    return Response(body, status=int(result.get("statusCode", 200)), headers=headers)


@app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def call_handler(path):
    try:
        return to_response(handler.handle(Event(), Context()))
    except Exception as exc:  # the process must survive any request
        traceback.print_exc()
        payload = {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}
        return Response(json.dumps(payload), status=500, mimetype="application/json")


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
    serve(app, ident="faasml", **options)
