"""Template entrypoint: serves `function/handler.py:handle(event, context)` over HTTP.

The same file runs behind of-watchdog inside the container (127.0.0.1:5000, of-watchdog's
`upstream_url`) and as a plain process under `faasml up`, which sets FAASML_LISTEN_PORT.
Shaped after OpenFaaS's python3-http template: waitress, one `handle` call per request,
the same `event` (headers, method, query, path, body) and the returned dict turned into
the response. Bodies stay bytes end to end. A handler may define `start()`: it runs
once, before serving (the place to read settings and to stop the process on a bad one).

The WSGI application is a plain callable rather than Flask: one route and no features
of a web framework are used, and Flask's request and response objects were a third of a
trivial function's round trip (docs/selector.md, "Where the hop's time goes").
"""
import json
import os
import sys
import traceback
from http import HTTPStatus

from waitress import serve

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "function"))
import handler  # noqa: E402  (the function's own code)

# What a response without a Content-Type gets (as Flask gave it).
DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"

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


class Headers:
    """The request's headers from the WSGI environ, names case-insensitive and written as
    clients do (`X-Faasml-Task`); repeated headers arrive joined with ", " by waitress."""

    def __init__(self, environ):
        self._items = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:]
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                name = key
            else:
                continue
            name = name.replace("_", "-").title()
            self._items[name.lower()] = (name, value)

    def get(self, name, default=None):
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def __getitem__(self, name):
        return self._items[name.lower()][1]

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self):
        return (name for name, _ in self._items.values())

    def __len__(self):
        return len(self._items)

    def keys(self):
        return list(self)

    def items(self):
        return list(self._items.values())


def _query(raw):
    """The query string as a dict; the first of repeated names wins (as Flask's to_dict)."""
    from urllib.parse import parse_qsl

    query = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        query.setdefault(name, value)
    return query


class Event:
    def __init__(self, environ):
        self._environ = environ
        self._body = None
        self.headers = Headers(environ)
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.query = _query(environ.get("QUERY_STRING", "")) if environ.get("QUERY_STRING") else {}
        # PEP 3333 carries the path as latin-1 text of its bytes; the client sent UTF-8.
        raw_path = environ.get("PATH_INFO", "") or "/"
        self.path = raw_path.encode("latin-1").decode("utf-8", "replace")

    @property
    def body(self):
        """Read on first use, so a handler can refuse an oversized body by its headers.
        Without a Content-Length (chunked), waitress hands the de-chunked body to read()."""
        if self._body is None:
            stream = self._environ["wsgi.input"]
            length = self._environ.get("CONTENT_LENGTH", "")
            self._body = stream.read(int(length)) if length.isdigit() else stream.read()
        return self._body


class Context:
    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", "localhost")


def to_response(result):
    """(status, headers, body bytes) from what `handle` returned."""
    if not isinstance(result, dict):
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, str(result).encode()
    body = result.get("body", b"")
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    elif body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    return int(result.get("statusCode", 200)), headers, body


def _status_line(status):
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def app(environ, start_response):
    event = Event(environ)
    try:
        status, headers, body = to_response(handler.handle(event, Context()))
    except Exception as exc:  # the process must survive any request
        traceback.print_exc()
        payload = {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}
        status, headers, body = 500, {"Content-Type": "application/json"}, json.dumps(payload).encode()
    names = {k.lower() for k in headers}
    if "content-type" not in names:
        headers["Content-Type"] = DEFAULT_CONTENT_TYPE
    headers = [(k, v) for k, v in headers.items() if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(_status_line(status), headers)
    return [] if event.method == "HEAD" else [body]


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
