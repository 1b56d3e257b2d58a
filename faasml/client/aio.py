"""The asyncio client: the same calls as `Client`, over one aiohttp session.

    async with AsyncClient("http://127.0.0.1:8080") as client:
        answers = await asyncio.gather(*(client.predict("sentence-embedding", s) for s in sentences))
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, Mapping

import aiohttp

from faasml.client.errors import ConnectionFailed, Timeout, error_from_response
from faasml.client.protocol import (DEFAULT_SELECTOR, DEFAULT_TIMEOUT_S, ClientBase, Data, Prediction,
                                    function_path, read_prediction)


class AsyncClient(ClientBase):
    """See `Client` for the arguments; `pool_size` caps the session's connections."""

    def __init__(self, gateway_url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = 0, max_retry_wait_s: float = 30.0, user: str = "admin",
                 password: str | None = None, selector: str = DEFAULT_SELECTOR, pool_size: int = 100,
                 rng: random.Random | None = None, api_key: str | None = None):
        super().__init__(gateway_url, timeout, retries, max_retry_wait_s, user, password, selector, rng, api_key)
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop that will own it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._pool_size),
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def predict(self, task: str | None, data: Data, *, tradeoff: float | None = None,
                      max_latency_ms: float | None = None, min_accuracy: float | None = None,
                      variant: str | None = None, policy: str | None = None,
                      content_type: str | None = None, params: Mapping[str, Any] | None = None,
                      timeout: float | None = None) -> Prediction:
        path, body, headers = self._prediction(task, data, content_type, tradeoff=tradeoff,
                                               max_latency_ms=max_latency_ms, min_accuracy=min_accuracy,
                                               variant=variant, policy=policy, params=params)
        retries, waited = 0, 0.0
        while True:
            started = time.monotonic()
            status, answer_headers, raw = await self._send("POST", path, body, headers, timeout)
            if status < 400:
                return read_prediction(status, answer_headers, raw, time.monotonic() - started, retries)
            wait = self._after_error(status, answer_headers, raw, retries, waited)
            await asyncio.sleep(wait)
            retries, waited = retries + 1, waited + wait

    async def explain(self, task: str | None, **limits: Any) -> dict[str, Any]:
        return await self._json("GET", self._explain_path(task, limits))

    async def variants(self) -> dict[str, Any]:
        return await self._json("GET", function_path(self.selector, "variants"))

    async def functions(self) -> list[dict[str, Any]]:
        return await self._json("GET", "/system/functions", authorized=True)

    async def _json(self, method: str, path: str, authorized: bool = False) -> Any:
        status, headers, raw = await self._send(method, path, None, self._headers_for(path, authorized), None)
        if status >= 400:
            raise error_from_response(status, headers, raw)
        return json.loads(raw)

    async def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                    timeout: float | None) -> tuple[int, dict[str, str], bytes]:
        seconds = self.timeout if timeout is None else timeout
        try:
            async with self._http().request(method, self.gateway_url + path, data=body, headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=seconds),
                                            allow_redirects=False) as response:
                return response.status, dict(response.headers.items()), await response.read()
        except asyncio.TimeoutError as exc:
            raise Timeout(f"{method} {path}: no answer within {seconds:g} s") from exc
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(f"{method} {self.gateway_url}{path}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
