"""What a call to the platform is, apart from how it is sent: the request for a
prediction, the `Prediction` read back from the selector's headers, and when to retry.
The blocking client (`sync.py`) and the asyncio one (`aio.py`) share all of it.
"""
from __future__ import annotations

import base64
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Mapping, Union
from urllib.parse import quote, urlencode

from faasml.client.errors import ApiError, Saturated, Unavailable, error_from_response, retry_after_s

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_SELECTOR = "selector"
DEFAULT_TIMEOUT_S = 30.0   # over the selector's own 25 s deadline, so its 504 arrives first

Data = Union[bytes, bytearray, str, Path, list, IO[bytes]]

# Leading bytes of the image formats the executors decode (Pillow), so a plain `bytes`
# argument gets the right Content-Type without the caller naming it.
IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
                    (b"GIF8", "image/gif"), (b"BM", "image/bmp"))


def default_gateway() -> str:
    return os.environ.get("FAASML_GATEWAY_URL") or os.environ.get("OPENFAAS_URL") or DEFAULT_GATEWAY


def default_password() -> str | None:
    return os.environ.get("FAASML_GATEWAY_PASSWORD") or os.environ.get("OPENFAAS_PASSWORD")


def default_api_key() -> str | None:
    return os.environ.get("FAASML_API_KEY") or None


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sniff_content_type(body: bytes) -> str:
    for signature, media in IMAGE_SIGNATURES:
        if body.startswith(signature):
            return media
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def encode_input(data: Data, content_type: str | None = None) -> tuple[bytes, str]:
    """The body and its Content-Type: text as UTF-8 text/plain, a list of sentences as a
    JSON list, a path or file by its bytes; image bytes by their signature."""
    if isinstance(data, Path):
        data = data.read_bytes()
    elif hasattr(data, "read"):
        data = data.read()  # type: ignore[union-attr]
    if isinstance(data, str):
        return data.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    if isinstance(data, list):
        return json.dumps(data).encode(), content_type or "application/json"
    if isinstance(data, (bytes, bytearray)):
        body = bytes(data)
        return body, content_type or sniff_content_type(body)
    raise TypeError(f"data must be bytes, str, a list of str, a Path or a binary file, not {type(data).__name__}")


def selection_query(task: str | None, tradeoff: float | None = None, max_latency_ms: float | None = None,
                    min_accuracy: float | None = None, variant: str | None = None,
                    policy: str | None = None, explain: bool = False,
                    params: Mapping[str, Any] | None = None) -> str:
    """The selector's query string (docs/api.md); `params` go to the executor (e.g. top_k)."""
    query: dict[str, Any] = {"task": task, "tradeoff": tradeoff, "max_latency_ms": max_latency_ms,
                             "min_accuracy": min_accuracy, "variant": variant, "policy": policy,
                             "explain": 1 if explain else None}
    query.update(params or {})
    return urlencode([(k, v) for k, v in query.items() if v is not None])


def function_path(name: str, subpath: str = "") -> str:
    return f"/function/{quote(name, safe='.')}" + (f"/{subpath.lstrip('/')}" if subpath else "")


def _float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


@dataclass
class Prediction:
    """The answer and what the selector chose to produce it."""
    result: Any                         # the executor's JSON (dict), or bytes when not JSON
    variant: str | None                 # X-Faasml-Variant
    accuracy: float | None              # X-Faasml-Accuracy
    predicted_latency_ms: float | None  # X-Faasml-Predicted-Latency-Ms
    compute_ms: float | None            # X-Faasml-Compute-Ms: the executor's own time
    attempts: int | None                # X-Faasml-Attempts: variants the selector tried
    policy: str | None                  # X-Faasml-Policy
    held_ms: float | None               # X-Faasml-Held-Ms: waited in the selector for room
    latency_ms: float                   # what this client waited, last try
    retries: int = 0                    # tries this client repeated after a 429/503
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def choice(self) -> dict[str, Any]:
        """What was chosen, as a plain dict (the CLI's table, a log line)."""
        return {"variant": self.variant, "accuracy": self.accuracy, "policy": self.policy,
                "predicted_latency_ms": self.predicted_latency_ms, "latency_ms": round(self.latency_ms, 3),
                "compute_ms": self.compute_ms, "attempts": self.attempts, "held_ms": self.held_ms,
                "retries": self.retries}


class CaseInsensitive(dict):
    """Response headers looked up by any case (both HTTP libraries hand theirs over as is)."""

    def __init__(self, pairs):
        super().__init__((k.lower(), v) for k, v in pairs)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


def read_prediction(status: int, headers: Mapping[str, str], body: bytes, latency_s: float,
                    retries: int) -> Prediction:
    lookup = CaseInsensitive(headers.items())
    try:
        result: Any = json.loads(body)
    except ValueError:
        result = body
    attempts = _float(lookup, "X-Faasml-Attempts")
    return Prediction(result=result, variant=lookup.get("X-Faasml-Variant"),
                      accuracy=_float(lookup, "X-Faasml-Accuracy"),
                      predicted_latency_ms=_float(lookup, "X-Faasml-Predicted-Latency-Ms"),
                      compute_ms=_float(lookup, "X-Faasml-Compute-Ms"),
                      attempts=int(attempts) if attempts is not None else None,
                      policy=lookup.get("X-Faasml-Policy"), held_ms=_float(lookup, "X-Faasml-Held-Ms"),
                      latency_ms=latency_s * 1000.0, retries=retries, status=status, headers=dict(headers))


@dataclass(frozen=True)
class RetryPolicy:
    """Opt-in retries of answers that say "not now": 429 (busy) and 503 (nothing ready).
    A prediction has no side effects, so repeating one is safe. The wait is the server's
    `Retry-After` when it gives one, else an exponential backoff with jitter; no retry
    whose wait would take the total past `max_wait_s`. 422 (never feasible), 4xx (the
    input) and 504 (the deadline already spent) are never retried."""
    retries: int = 0
    max_wait_s: float = 30.0
    backoff_s: float = 0.1

    def wait_s(self, error: ApiError, attempt: int, waited_s: float, rng: random.Random) -> float | None:
        """Seconds to wait before try `attempt + 1`, or None to give up and raise."""
        if attempt >= self.retries or not isinstance(error, (Saturated, Unavailable)):
            return None
        wait = retry_after_s(error.headers, error.details)
        if wait is None:
            wait = self.backoff_s * (2 ** attempt) * (0.5 + rng.random())
        return wait if waited_s + wait <= self.max_wait_s else None


class ClientBase:
    """What both clients hold and how both read an answer; they differ only in sending."""

    def __init__(self, gateway_url: str | None, timeout: float, retries: int, max_retry_wait_s: float,
                 user: str, password: str | None, selector: str, rng: random.Random | None,
                 api_key: str | None = None):
        self.gateway_url = (gateway_url or default_gateway()).rstrip("/")
        self.timeout = timeout
        self.retry = RetryPolicy(retries, max_retry_wait_s)
        self.selector = selector
        password = password if password is not None else default_password()
        self._auth = basic_auth_header(user, password) if password else None
        # The selector's own key (FAASML_API_KEYS_SECRET on its side): sent as X-Api-Key,
        # so it never competes with the gateway's basic auth for the Authorization header.
        api_key = api_key if api_key is not None else default_api_key()
        self._selector_headers = {"X-Api-Key": api_key} if api_key else {}
        self._rng = rng or random.Random()

    def _prediction(self, task: str | None, data: Data, content_type: str | None,
                    **selection: Any) -> tuple[str, bytes, dict[str, str]]:
        """(path with query, body, headers) of a prediction request."""
        body, media = encode_input(data, content_type)
        return (f"{function_path(self.selector)}?{selection_query(task, **selection)}", body,
                {"Content-Type": media, **self._selector_headers})

    def _selector_path(self, path: str) -> bool:
        base, route = function_path(self.selector), path.split("?", 1)[0]
        return route == base or route.startswith(base + "/")

    def _explain_path(self, task: str | None, limits: Mapping[str, Any]) -> str:
        return f"{function_path(self.selector)}?{selection_query(task, explain=True, **limits)}"

    def _headers_for(self, path: str, authorized: bool) -> dict[str, str]:
        """The gateway's basic auth where asked, the selector's key on the selector's routes."""
        headers = {"Authorization": self._auth} if authorized and self._auth else {}
        if self._selector_path(path):
            headers.update(self._selector_headers)
        return headers

    def _after_error(self, status: int, headers: Mapping[str, str], raw: bytes, retries: int,
                     waited_s: float) -> float:
        """The wait before the next try of a refused prediction; raises when there is none."""
        error = error_from_response(status, headers, raw)
        wait = self.retry.wait_s(error, retries, waited_s, self._rng)
        if wait is None:
            raise error
        return wait
