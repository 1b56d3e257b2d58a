"""The blocking client: one pooled urllib3 connection pool per gateway, thread-safe."""
from __future__ import annotations

import json
import random
import time
from typing import Any, Mapping

import urllib3

from faasml.client.errors import ConnectionFailed, Timeout, error_from_response
from faasml.client.protocol import (DEFAULT_SELECTOR, DEFAULT_TIMEOUT_S, ClientBase, Data, Prediction,
                                    encode_input, function_path, read_prediction)


class Client(ClientBase):
    """`Client("http://127.0.0.1:8080").predict("image-classification", jpeg_bytes, tradeoff=0.8)`

    `timeout`: seconds per try (connect + answer); `retries`: opt-in repeats of a 429/503,
    waiting what `Retry-After` says (at most `max_retry_wait_s` in all); `password`: the
    gateway's basic-auth password, needed only for `functions()` (default from
    FAASML_GATEWAY_PASSWORD / OPENFAAS_PASSWORD); `pool_size`: kept-alive connections;
    `api_key`: a key for a selector that has API keys on (default FAASML_API_KEY), sent as
    X-Api-Key on its routes only.
    """

    def __init__(self, gateway_url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = 0, max_retry_wait_s: float = 30.0, user: str = "admin",
                 password: str | None = None, selector: str = DEFAULT_SELECTOR, pool_size: int = 10,
                 rng: random.Random | None = None, api_key: str | None = None):
        super().__init__(gateway_url, timeout, retries, max_retry_wait_s, user, password, selector, rng, api_key)
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=pool_size, block=False, retries=False)

    # -- the prediction API --------------------------------------------------------------
    def predict(self, task: str | None, data: Data, *, tradeoff: float | None = None,
                max_latency_ms: float | None = None, min_accuracy: float | None = None,
                variant: str | None = None, policy: str | None = None, content_type: str | None = None,
                params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Prediction:
        """Ask the selector for a prediction; raises the typed error of a refusal."""
        path, body, headers = self._prediction(task, data, content_type, tradeoff=tradeoff,
                                               max_latency_ms=max_latency_ms, min_accuracy=min_accuracy,
                                               variant=variant, policy=policy, params=params)
        retries, waited = 0, 0.0
        while True:
            started = time.monotonic()
            status, answer_headers, raw = self._send("POST", path, body, headers, timeout)
            if status < 400:
                return read_prediction(status, answer_headers, raw, time.monotonic() - started, retries)
            wait = self._after_error(status, answer_headers, raw, retries, waited)
            time.sleep(wait)
            retries, waited = retries + 1, waited + wait

    def explain(self, task: str | None, **limits: Any) -> dict[str, Any]:
        """The selector's candidate table for these limits (no model runs)."""
        return self._json("GET", self._explain_path(task, limits))

    def variants(self) -> dict[str, Any]:
        """The selector's registry with live state (GET /function/selector/variants)."""
        return self._json("GET", function_path(self.selector, "variants"))

    def decisions(self, limit: int | None = None, after: int = 0) -> dict[str, Any]:
        """The selector's recent decisions, newest first."""
        query = "&".join(f"{k}={v}" for k, v in (("limit", limit), ("after", after)) if v is not None)
        return self._json("GET", function_path(self.selector, "decisions") + (f"?{query}" if query else ""))

    def invoke(self, function: str, data: Data, content_type: str | None = None,
               timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        """Call one function directly (a pinned variant without the selector); raw answer."""
        body, media = encode_input(data, content_type)
        return self._send("POST", function_path(function), body, {"Content-Type": media}, timeout)

    # -- the gateway -------------------------------------------------------------------
    def functions(self) -> list[dict[str, Any]]:
        """OpenFaaS's FunctionStatus list (basic auth), with `faasml.replicaStates` per node."""
        return self._json("GET", "/system/functions", authorized=True)

    # -- plumbing ----------------------------------------------------------------------
    def _json(self, method: str, path: str, authorized: bool = False) -> Any:
        status, headers, raw = self._send(method, path, None, self._headers_for(path, authorized), None)
        if status >= 400:
            raise error_from_response(status, headers, raw)
        return json.loads(raw)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
              timeout: float | None) -> tuple[int, dict[str, str], bytes]:
        seconds = self.timeout if timeout is None else timeout
        try:
            response = self._pool.request(method, self.gateway_url + path, body=body, headers=headers,
                                          timeout=urllib3.Timeout(total=seconds), redirect=False)
        except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError
            raise ConnectionFailed(f"{method} {self.gateway_url}{path}: {exc}") from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise Timeout(f"{method} {path}: no answer within {seconds:g} s") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionFailed(f"{method} {self.gateway_url}{path}: {exc}") from exc
        return response.status, dict(response.headers.items()), response.data

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
