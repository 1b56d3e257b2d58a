"""Serving a function's `handle(event, context)` over HTTP: the code behind every template's
index.py shim.

uvicorn (llhttp's C parser via httptools, on uvloop) is the server; `app.FunctionApp` is
the ASGI callable around the python3-http contract (the event in, `{"statusCode", "body",
"headers"}` out), for coroutine handlers (the selector: served on the loop itself) and
plain ones (executors: on a pool of `FAASML_SERVER_THREADS` threads, first come first
served). `protocol.GuardedHttpToolsProtocol` adds what uvicorn leaves to a proxy in front
of it, since a stock OpenFaaS gateway and of-watchdog add none of it either: a header
deadline, a body deadline, an idle timeout from the first byte, a connection cap, a
pipelining depth cap, header size and count limits, and trailers that never join the
head. `settings.ServerSettings` names each limit; docs/api.md lists their defaults.
"""
