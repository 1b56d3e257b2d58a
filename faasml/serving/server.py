"""Run an ASGI app on uvicorn (uvloop, httptools) behind GuardedHttpToolsProtocol."""
from __future__ import annotations

import asyncio
import functools
import socket
from typing import Any

import uvicorn

from faasml.serving.protocol import GuardedHttpToolsProtocol
from faasml.serving.settings import Limits


def uvicorn_config(app: Any, host: str, port: int, limits: Limits, backlog: int = 1024,
                   sock: socket.socket | None = None) -> uvicorn.Config:
    config = uvicorn.Config(
        app, host=host, port=port, backlog=backlog, loop="none", lifespan="off", ws="none",
        http=functools.partial(GuardedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        interface="asgi3", access_log=False, log_level="warning", server_header=False,
        proxy_headers=False,   # no X-Forwarded-* rewriting of the client address: nothing reads it
        timeout_keep_alive=max(int(limits.keepalive_s), 1), timeout_graceful_shutdown=5,
        # The cap is the protocol's (answered before parsing), not uvicorn's per-request 503.
        limit_concurrency=None)
    return config


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:   # a platform without it: asyncio's own loop
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve(app: Any, host: str, port: int, limits: Limits, backlog: int = 1024) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn's own handlers: in-flight requests finish)."""
    install_uvloop()
    server = uvicorn.Server(uvicorn_config(app, host, port, limits, backlog))
    asyncio.run(server.serve())
