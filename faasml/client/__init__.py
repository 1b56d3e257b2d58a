"""A Python client for the platform: one import instead of query strings and headers.

    from faasml.client import Client, Saturated
    client = Client("http://127.0.0.1:8080", retries=2)        # retries honour Retry-After
    answer = client.predict("image-classification", open("samples/cat.jpg", "rb").read(), tradeoff=0.8)
    answer.result["predictions"][0], answer.variant, answer.predicted_latency_ms

`AsyncClient` is the same over asyncio. Refusals raise typed errors (errors.py).
"""
from faasml.client.aio import AsyncClient
from faasml.client.errors import (ApiError, BadRequest, ClientError, ConnectionFailed, DeadlineExceeded,
                                  Forbidden, Infeasible, NoRoom, NotFound, PayloadTooLarge, Saturated,
                                  ServerError, Timeout, Unauthorized, Unavailable, UnknownTask,
                                  UnknownVariant, UnsupportedMediaType)
from faasml.client.protocol import Prediction
from faasml.client.sync import Client

__all__ = ["AsyncClient", "ApiError", "BadRequest", "Client", "ClientError", "ConnectionFailed",
           "DeadlineExceeded", "Forbidden", "Infeasible", "NoRoom", "NotFound", "PayloadTooLarge",
           "Prediction", "Saturated", "ServerError", "Timeout", "Unauthorized", "Unavailable",
           "UnknownTask", "UnknownVariant", "UnsupportedMediaType"]
