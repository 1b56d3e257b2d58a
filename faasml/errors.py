"""One error type carrying its HTTP status, so every layer can fail the same way.

Every bad input ends as a JSON body `{"error": {"code", "message"}}` with the status
the class names; nothing lets an exception kill a serving process.
"""
from __future__ import annotations

import json
from typing import Any


class FaasmlError(Exception):
    """Base error: HTTP 500 `internal` unless a subclass says otherwise."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()


class BadRequest(FaasmlError):
    """400: a parameter or the body is malformed."""

    status = 400
    code = "bad_request"


class Unauthorized(FaasmlError):
    """401: missing or wrong credentials."""

    status = 401
    code = "unauthorized"


class NotFound(FaasmlError):
    """404: unknown function, task or path."""

    status = 404
    code = "not_found"


class MethodNotAllowed(FaasmlError):
    """405: the path exists but not for this method."""

    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(FaasmlError):
    """413: body over the configured limit, or an image with too many pixels."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(FaasmlError):
    """415: the content type or the decoded format is not one this endpoint takes."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(FaasmlError):
    """422: well-formed, but no way to satisfy it (e.g. no variant meets hard limits)."""

    status = 422
    code = "unprocessable"


class TooManyRequests(FaasmlError):
    """429: saturated; the client should retry after `Retry-After` seconds."""

    status = 429
    code = "too_many_requests"


class NotReady(FaasmlError):
    """503: not ready (model still loading, nothing healthy); gateways retry these."""

    status = 503
    code = "not_ready"


class GatewayTimeout(FaasmlError):
    """504: an upstream did not answer in time."""

    status = 504
    code = "timeout"


class BadGateway(FaasmlError):
    """502: an upstream answered garbage or closed the connection."""

    status = 502
    code = "bad_gateway"


def internal_error(exc: BaseException) -> FaasmlError:
    """A catch-all 500 that names the exception type (never its traceback) to the client."""
    return FaasmlError(f"internal error: {type(exc).__name__}: {exc}", code="internal")
