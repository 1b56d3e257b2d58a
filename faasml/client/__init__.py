"""A Python client for the platform: one import instead of query strings and headers.

    from faasml.client import Client, Saturated
    client = Client("http://127.0.0.1:8080", retries=2)        # retries honour Retry-After
    answer = client.predict("image-classification", open("samples/cat.jpg", "rb").read(), tradeoff=0.8)
    answer.result["predictions"][0], answer.variant, answer.predicted_latency_ms

`AsyncClient` is the same over asyncio. Refusals raise typed errors (errors.py).
"""
from faasml.client.errors import (ApiError, BadRequest, ClientError, ConnectionFailed, DeadlineExceeded,
                                  Forbidden, Infeasible, NoRoom, NotFound, PayloadTooLarge, Saturated,
                                  ServerError, Timeout, Unauthorized, Unavailable, UnknownTask,
                                  UnknownVariant, UnsupportedMediaType)
from faasml.client.protocol import Prediction

# The two clients load on first use: `faasml invoke` and `faasml status` (which import
# this package) would otherwise pay aiohttp's import, ~0.2 s, on every start.
_LAZY = {"Client": "faasml.client.sync", "AsyncClient": "faasml.client.aio"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AsyncClient", "ApiError", "BadRequest", "Client", "ClientError", "ConnectionFailed",
           "DeadlineExceeded", "Forbidden", "Infeasible", "NoRoom", "NotFound", "PayloadTooLarge",
           "Prediction", "Saturated", "ServerError", "Timeout", "Unauthorized", "Unavailable",
           "UnknownTask", "UnknownVariant", "UnsupportedMediaType"]
