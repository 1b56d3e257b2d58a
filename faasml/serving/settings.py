"""The template server's settings: one environment variable each, read once at start
(a bad value stops the process with one line). Defaults are listed in docs/api.md."""
from __future__ import annotations

from dataclasses import dataclass

from faasml.settings import number, one_of, setting, whole_number

# A body limit when neither FAASML_SERVER_MAX_BODY nor the handler names one.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    host: str = setting("FAASML_LISTEN_HOST", "127.0.0.1", str, "address to listen on (of-watchdog's upstream)")
    port: int = setting("FAASML_LISTEN_PORT", 5000, whole_number(1), "port to listen on")
    server: str = setting("FAASML_SERVER", "uvicorn", one_of("uvicorn"), "the HTTP server")
    threads: int = setting("FAASML_SERVER_THREADS", 8, whole_number(1),
                           "a plain (not async) handler's requests run on this many threads at once; "
                           "the rest wait their turn, first come first served")
    max_body_bytes: int = setting("FAASML_SERVER_MAX_BODY", 0, whole_number(0),
                                  "request body limit in bytes (413 on Content-Length before reading); "
                                  "0: the handler's own `max_body_bytes`, else 64 MiB")
    max_connections: int = setting(("FAASML_SERVER_MAX_CONNECTIONS", "FAASML_SERVER_CONNECTION_LIMIT"), 1000,
                                   whole_number(1), "open connections at most; one more gets a 503 and is closed")
    backlog: int = setting("FAASML_SERVER_BACKLOG", 1024, whole_number(1), "the kernel's accept queue")
    keepalive_s: float = setting("FAASML_SERVER_KEEPALIVE_S", 75.0, number(positive=True),
                                 "an idle connection (nothing sent since it opened or since its last "
                                 "answer) is closed after this")
    header_timeout_s: float = setting("FAASML_SERVER_HEADER_TIMEOUT_S", 10.0, number(positive=True),
                                      "a request's line and headers must arrive within this from its first "
                                      "byte (slowloris): 408, then closed")
    body_timeout_s: float = setting("FAASML_SERVER_BODY_TIMEOUT_S", 60.0, number(positive=True),
                                    "a request's body must arrive within this from its headers: 408, then closed")
    max_pipelined: int = setting("FAASML_SERVER_MAX_PIPELINED", 8, whole_number(1),
                                 "requests read ahead on one connection while one is answered; past it "
                                 "nothing more is read, the owed answers go out and the connection closes")
    max_header_bytes: int = setting("FAASML_SERVER_MAX_HEADER_BYTES", 64 * 1024, whole_number(256),
                                    "request line + headers (and trailers) in bytes: 431, then closed")
    max_headers: int = setting("FAASML_SERVER_MAX_HEADERS", 100, whole_number(1),
                               "header lines in one request: 431, then closed")


@dataclass(frozen=True)
class Limits:
    """What the protocol enforces on every connection (from ServerSettings, or the gateway's)."""

    keepalive_s: float = 75.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections: int = 1000
    max_pipelined: int = 8
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100

    @classmethod
    def of(cls, settings: ServerSettings) -> "Limits":
        return cls(settings.keepalive_s, settings.header_timeout_s, settings.body_timeout_s,
                   settings.max_connections, settings.max_pipelined, settings.max_header_bytes,
                   settings.max_headers)
