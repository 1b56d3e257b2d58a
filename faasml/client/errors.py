"""Typed exceptions for the platform's JSON errors (docs/api.md, "Errors").

Every error the selector and the gateway answer is `{"error": {"code", "message", ...}}`
with a status; the client raises the class for its code (or, for a code it does not
know, for its status), carrying the status, code, message, the details beside them and
the response headers. What went wrong before any answer is `Timeout` or
`ConnectionFailed`.
"""
from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Mapping


class ClientError(Exception):
    """Base of everything `faasml.client` raises."""


class Timeout(ClientError, TimeoutError):
    """No answer within the client's timeout (the request may still be running)."""


class ConnectionFailed(ClientError, ConnectionError):
    """The gateway could not be reached (refused, reset, DNS)."""


class ApiError(ClientError):
    """The platform answered with an error status."""

    def __init__(self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(ApiError):
    """400: a parameter or the input is malformed (`details['parameter']` names it)."""


class Unauthorized(ApiError):
    """401: missing or wrong credentials (the gateway's /system/* paths)."""


class Forbidden(ApiError):
    """403: the credentials are good but not for this."""


class NotFound(ApiError):
    """404: unknown function, task, variant or path."""


class UnknownTask(NotFound):
    """404 `unknown_task`: no deployed variant does this task (`known_tasks`)."""

    @property
    def known_tasks(self) -> list[str]:
        return list(self.details.get("known_tasks", []))


class UnknownVariant(NotFound):
    """404 `unknown_variant`: `variant=` names nothing deployed (`known_variants`)."""

    @property
    def known_variants(self) -> list[str]:
        return list(self.details.get("known_variants", []))


class PayloadTooLarge(ApiError):
    """413: the input is over the size limit."""


class UnsupportedMediaType(ApiError):
    """415: the input's type is not one the variant takes."""


class Infeasible(ApiError):
    """422 `infeasible`: no variant can ever meet the hard limits; do not retry as is."""

    @property
    def limit(self) -> str | None:
        return self.details.get("limit")

    @property
    def best_on_offer(self) -> dict[str, Any] | None:
        return self.details.get("best_on_offer")


class Saturated(ApiError):
    """429: every variant that meets the limits is busy now; retry after `retry_after` s."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_s(self.headers, self.details)


class NoRoom(Saturated):
    """429 `no_room`: held in the selector for room and none appeared."""


class ServerError(ApiError):
    """5xx not covered below (500 internal, 502 bad gateway)."""


class Unavailable(ServerError):
    """503: no healthy variant (or no ready replica); `Retry-After` when the gateway knows."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_s(self.headers, self.details)


class DeadlineExceeded(ServerError):
    """504: `max_latency_ms` (or the deadline) passed before any variant answered."""


BY_CODE: dict[str, type[ApiError]] = {
    "bad_parameter": BadRequest, "missing_task": BadRequest, "bad_request": BadRequest,
    "unauthorized": Unauthorized, "forbidden": Forbidden,
    "unknown_task": UnknownTask, "unknown_variant": UnknownVariant,
    "function_not_found": NotFound, "not_found": NotFound,
    "body_too_large": PayloadTooLarge, "payload_too_large": PayloadTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "infeasible": Infeasible, "saturated": Saturated, "no_room": NoRoom,
    "too_many_requests": Saturated,
    "no_healthy_variant": Unavailable, "not_ready": Unavailable,
    "deadline_exceeded": DeadlineExceeded, "timeout": DeadlineExceeded,
}
BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 413: PayloadTooLarge,
    415: UnsupportedMediaType, 422: Infeasible, 429: Saturated, 503: Unavailable, 504: DeadlineExceeded,
}


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """The typed error for an answer with status >= 400. A body that is not the JSON error
    shape (a plain-text 502 from a proxy, of-watchdog's text 429) still gets its class
    from the status, with the text as the message."""
    code, message, details = "", "", {}
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = dict(payload["error"])
        code = str(error.pop("code", ""))
        message = str(error.pop("message", ""))
        details = error
    else:
        message = body.decode("utf-8", "replace").strip()[:500]
    kind = BY_CODE.get(code) or BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, code or f"http_{status}", message or f"HTTP {status}", details, headers)


def retry_after_s(headers: Mapping[str, str], details: Mapping[str, Any] | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds or an HTTP date), else the
    `retry_after_s` detail of the JSON error; None when neither says."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is not None:
        raw = raw.strip()
        if raw.isdigit():
            return float(raw)
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    value = (details or {}).get("retry_after_s")
    return float(value) if isinstance(value, (int, float)) else None
