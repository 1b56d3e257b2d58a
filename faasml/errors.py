"""One error type carrying its HTTP status, and the one set of error codes every component
answers with.

Every bad input ends as a JSON body `{"error": {"code", "message", ...details}}` with the
status its class names; nothing lets an exception kill a serving process. A code is a
constant below, and `CODES` lists each one with its status and meaning: docs/api.md and
docs/openapi.yaml list the same set (a test keeps them equal), so a client can switch on a
code without reading the code that raised it.
"""
from __future__ import annotations

import json
import sys
import traceback
import uuid
from typing import Any

# -- the codes ------------------------------------------------------------------------
# Generic, one per status: what an error says when nothing more specific applies.
BAD_REQUEST = "bad_request"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
REQUEST_TIMEOUT = "request_timeout"
PAYLOAD_TOO_LARGE = "payload_too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
UNPROCESSABLE = "unprocessable"
TOO_MANY_REQUESTS = "too_many_requests"
HEADERS_TOO_LARGE = "headers_too_large"
INTERNAL = "internal"
BAD_GATEWAY = "bad_gateway"
NOT_READY = "not_ready"
TIMEOUT = "timeout"
CONFLICT = "conflict"
# Requests: parameters and bodies.
BAD_PARAMETER = "bad_parameter"
BAD_JSON = "bad_json"
BAD_FIELD = "bad_field"
BAD_NAME = "bad_name"
BAD_NAMESPACE = "bad_namespace"
BAD_CONSTRAINT = "bad_constraint"
BAD_CALLBACK_URL = "bad_callback_url"
EMPTY_BODY = "empty_body"
EMPTY_INPUT = "empty_input"
INVALID_IMAGE = "invalid_image"
INVALID_UTF8 = "invalid_utf8"
UNSUPPORTED_IMAGE_FORMAT = "unsupported_image_format"
IMAGE_TOO_LARGE = "image_too_large"
BATCH_TOO_LARGE = "batch_too_large"
TEXT_TOO_LONG = "text_too_long"
# Serving: what the HTTP servers answer before a handler runs.
TOO_MANY_CONNECTIONS = "too_many_connections"
# The selector.
MISSING_TASK = "missing_task"
UNKNOWN_TASK = "unknown_task"
UNKNOWN_VARIANT = "unknown_variant"
UNKNOWN_MODEL = "unknown_model"
UNKNOWN_VERSION = "unknown_version"
UNKNOWN_FAMILY = "unknown_family"
INFEASIBLE = "infeasible"
NO_ROOM = "no_room"
SATURATED = "saturated"
NO_HEALTHY_VARIANT = "no_healthy_variant"
DEADLINE_EXCEEDED = "deadline_exceeded"
API_KEYS_UNAVAILABLE = "api_keys_unavailable"
# Executors.
INVALID_TENSOR = "invalid_tensor"
LOADING = "loading"
PROVIDER_UNAVAILABLE = "provider_unavailable"
MODEL_NOT_FOUND = "model_not_found"
LOAD_FAILED = "load_failed"
# The local runtime (`faasml up`).
FUNCTION_NOT_FOUND = "function_not_found"
SECRET_NOT_FOUND = "secret_not_found"
CALL_NOT_FOUND = "call_not_found"
RESERVED_SECRET = "reserved_secret"
IMAGE_NOT_LOCAL = "image_not_local"
TOO_MANY_REPLICAS = "too_many_replicas"
UNSCHEDULABLE = "unschedulable"
QUEUE_FULL = "queue_full"
NOT_REPLAYABLE = "not_replayable"
BACKGROUND_STOPPED = "background_stopped"
BAD_STACK = "bad_stack"
BAD_RESOURCES = "bad_resources"
IMAGE_NOT_FOUND = "image_not_found"
BAD_NODES_FILE = "bad_nodes_file"
CONTAINERS_UNAVAILABLE = "containers_unavailable"

# code -> (status, who answers it, when). The order is the documentation's.
CODES: dict[str, tuple[int, str, str]] = {
    BAD_REQUEST: (400, "any", "malformed HTTP (bad framing, bad request line, bad target)"),
    BAD_PARAMETER: (400, "any", "a query parameter or header is malformed or out of range (`parameter` names it)"),
    BAD_JSON: (400, "runtime, executor", "the body is not the JSON the endpoint takes"),
    BAD_FIELD: (400, "runtime", "a field of a JSON body is missing or of the wrong type"),
    BAD_NAME: (400, "runtime", "a function or secret name is not a DNS-1123 label (a-z, 0-9, '-')"),
    BAD_NAMESPACE: (400, "runtime", "a namespace this runtime does not serve"),
    BAD_CONSTRAINT: (400, "runtime", "a placement constraint is not `key==value` / `key!=value`"),
    BAD_CALLBACK_URL: (400, "runtime", "`X-Callback-Url` is not an http(s) URL"),
    BAD_STACK: (400, "runtime", "the stack file is unreadable or malformed (`faasml up`)"),
    BAD_RESOURCES: (400, "runtime", "a memory or cpu quantity in `limits` / `requests` is malformed"),
    IMAGE_NOT_FOUND: (400, "runtime", "a deployed image is neither in local storage nor pullable (`--containers`)"),
    BAD_NODES_FILE: (400, "runtime", "the nodes file is unreadable or malformed (`faasml up`)"),
    CONTAINERS_UNAVAILABLE: (400, "runtime", "containers were asked for but cannot run here (`faasml up`)"),
    EMPTY_BODY: (400, "selector, executor", "no body"),
    EMPTY_INPUT: (400, "executor", "empty text, or an empty list of texts"),
    INVALID_IMAGE: (400, "executor", "bytes that are not an image, or a truncated or corrupt one"),
    INVALID_UTF8: (400, "executor", "text that is not UTF-8"),
    INVALID_TENSOR: (400, "executor", "an Open Inference Protocol input tensor of the wrong name, shape, type or data"),
    MISSING_TASK: (400, "selector", "neither `task` nor `variant` (`known_tasks`)"),
    UNAUTHORIZED: (401, "runtime, selector", "missing or wrong credentials; header `WWW-Authenticate`"),
    NOT_FOUND: (404, "any", "no such path"),
    FUNCTION_NOT_FOUND: (404, "runtime", "no such function deployed"),
    SECRET_NOT_FOUND: (404, "runtime", "no such secret"),
    CALL_NOT_FOUND: (404, "runtime", "no dead-lettered async call with that id"),
    UNKNOWN_TASK: (404, "selector", "no deployed variant does this task (`known_tasks`)"),
    UNKNOWN_VARIANT: (404, "selector", "`variant=` names nothing deployed (`known_variants`)"),
    UNKNOWN_FAMILY: (404, "selector", "`family=` names no deployed model family"),
    UNKNOWN_MODEL: (404, "selector, executor", "the Open Inference Protocol path names no variant, family or task"),
    UNKNOWN_VERSION: (404, "selector, executor", "the Open Inference Protocol path names a model version that is not served"),
    METHOD_NOT_ALLOWED: (405, "any", "the path exists, not for this method; header `Allow`"),
    REQUEST_TIMEOUT: (408, "servers", "the request's headers or body did not arrive in time"),
    CONFLICT: (409, "runtime", "the thing exists, in a state that does not allow this"),
    NOT_REPLAYABLE: (409, "runtime", "a dead-lettered call whose body was already dropped"),
    RESERVED_SECRET: (400, "runtime", "the secret belongs to the runtime and cannot be changed"),
    PAYLOAD_TOO_LARGE: (413, "any", "the body is over the function's or the gateway's limit"),
    IMAGE_TOO_LARGE: (413, "executor", "an image over the pixel limit (a decompression bomb too)"),
    BATCH_TOO_LARGE: (413, "executor", "more texts than the batch limit"),
    TEXT_TOO_LONG: (413, "executor", "a text over the length limit"),
    UNSUPPORTED_MEDIA_TYPE: (415, "executor", "a content type that is not the task's input"),
    UNSUPPORTED_IMAGE_FORMAT: (415, "executor", "an image format the executor does not decode (GIF, TIFF, ...)"),
    UNPROCESSABLE: (422, "any", "well-formed, but nothing can satisfy it"),
    INFEASIBLE: (422, "selector", "no variant can ever meet the hard limits (`limit`, `best_on_offer`)"),
    TOO_MANY_REPLICAS: (400, "runtime", "more replicas than this runtime's limit"),
    TOO_MANY_REQUESTS: (429, "runtime", "over a function's `max_inflight`; header `Retry-After`"),
    SATURATED: (429, "selector", "every variant that meets the limits is too busy now; header `Retry-After`"),
    NO_ROOM: (429, "selector", "held in the selector for room and none appeared; header `Retry-After`"),
    QUEUE_FULL: (429, "runtime", "the async queue is full; header `Retry-After`"),
    HEADERS_TOO_LARGE: (431, "servers", "the request line and headers are over the size or count limit"),
    INTERNAL: (500, "any", "a bug: the message carries an error id to find in the log, never the exception's text"),
    BAD_GATEWAY: (502, "runtime, selector", "an upstream closed the connection, answered garbage, or too much"),
    NOT_READY: (503, "any", "not ready yet (no ready replica, still starting); header `Retry-After`"),
    TOO_MANY_CONNECTIONS: (503, "servers", "the server's connection cap is reached; the connection is closed"),
    BACKGROUND_STOPPED: (503, "runtime, selector", "a long-lived background task stopped (its health answer names it)"),
    NO_HEALTHY_VARIANT: (503, "selector", "no variant is ready, or every one tried failed (`attempts`)"),
    API_KEYS_UNAVAILABLE: (503, "selector", "API keys are on but their secret is missing (fails closed)"),
    LOADING: (503, "executor", "the model is still loading"),
    PROVIDER_UNAVAILABLE: (503, "executor", "the execution provider asked for (CUDA) is not available"),
    MODEL_NOT_FOUND: (503, "executor", "the model file is missing"),
    LOAD_FAILED: (503, "executor", "the model failed to load"),
    UNSCHEDULABLE: (503, "runtime", "no node satisfies the function's constraints"),
    IMAGE_NOT_LOCAL: (400, "runtime", "`faasml up` has no local source for the image"),
    TIMEOUT: (504, "runtime", "an upstream did not answer within the function's `exec_timeout`"),
    DEADLINE_EXCEEDED: (504, "selector", "`max_latency_ms` (or the 25 s default) passed before any variant answered"),
}


class FaasmlError(Exception):
    """Base error: HTTP 500 `internal` unless a subclass says otherwise."""

    status = 500
    code = INTERNAL

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
    code = BAD_REQUEST


class Unauthorized(FaasmlError):
    """401: missing or wrong credentials."""

    status = 401
    code = UNAUTHORIZED


class NotFound(FaasmlError):
    """404: unknown function, task or path."""

    status = 404
    code = NOT_FOUND


class MethodNotAllowed(FaasmlError):
    """405: the path exists but not for this method."""

    status = 405
    code = METHOD_NOT_ALLOWED


class Conflict(FaasmlError):
    """409: the thing exists, in a state that does not allow this."""

    status = 409
    code = CONFLICT


class PayloadTooLarge(FaasmlError):
    """413: body over the configured limit, or an image with too many pixels."""

    status = 413
    code = PAYLOAD_TOO_LARGE


class UnsupportedMediaType(FaasmlError):
    """415: the content type or the decoded format is not one this endpoint takes."""

    status = 415
    code = UNSUPPORTED_MEDIA_TYPE


class Unprocessable(FaasmlError):
    """422: well-formed, but no way to satisfy it (e.g. no variant meets hard limits)."""

    status = 422
    code = UNPROCESSABLE


class TooManyRequests(FaasmlError):
    """429: saturated; the client should retry after `Retry-After` seconds."""

    status = 429
    code = TOO_MANY_REQUESTS


class NotReady(FaasmlError):
    """503: not ready (model still loading, nothing healthy); gateways retry these."""

    status = 503
    code = NOT_READY


class GatewayTimeout(FaasmlError):
    """504: an upstream did not answer in time."""

    status = 504
    code = TIMEOUT


class BadGateway(FaasmlError):
    """502: an upstream answered garbage or closed the connection."""

    status = 502
    code = BAD_GATEWAY


def internal_error(exc: BaseException, where: str = "faasml") -> FaasmlError:
    """The catch-all 500. The client learns an error id, never the exception's text (which
    may hold paths, secrets or input); the traceback goes to the process's log under that id."""
    error_id = uuid.uuid4().hex[:12]
    print(f"{where}: internal error {error_id}: {type(exc).__name__}", file=sys.stderr, flush=True)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return FaasmlError(f"internal error {error_id} (the function's log has the details)", code=INTERNAL,
                       details={"error_id": error_id})
