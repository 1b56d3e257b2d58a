"""The gateway's view of load, polled from its metrics.

Two sources give the same thing, `function_name -> GatewayLoad`:
  * `PrometheusLoadSource`: PromQL over the Prometheus HTTP API (a cluster's setup, set
    `PROMETHEUS_URL`);
  * `GatewayMetricsLoadSource`: the gateway's own `/metrics` text, with the mean latency
    taken from the histogram's growth between two polls (the local runtime's setup).
In flight = invocations started - finished (OpenFaaS CE has no in-flight gauge).
"""
from __future__ import annotations

import asyncio
import collections
import json
from typing import Callable
from urllib.parse import urlencode

from faasml.contract import (DIRECT_SECONDS, DIRECT_STARTED, GATEWAY_FINISHED as FINISHED,
                             GATEWAY_INFLIGHT as INFLIGHT, GATEWAY_REPLICAS as REPLICAS,
                             GATEWAY_SECONDS, GATEWAY_STARTED as STARTED)
from faasml.promtext import parse_samples
from faasml.selector.client import HttpClient, UpstreamError
from faasml.selector.engine.signals import GatewayLoad
from faasml.selector.gateway_client import Gateway, GatewayUnavailable

SECONDS_SUM = GATEWAY_SECONDS + "_sum"
SECONDS_COUNT = GATEWAY_SECONDS + "_count"

LoadMap = dict[str, GatewayLoad]


class GatewayMetricsLoadSource:
    def __init__(self, gateway: Gateway, clock: Callable[[], float]):
        self.gateway = gateway
        self.clock = clock
        self._previous: dict[str, tuple[float, float]] = {}  # function -> (sum_s, count)

    async def poll(self) -> LoadMap:
        text = await self.gateway.metrics_text()
        return self.read(text, self.clock())

    def read(self, text: str, now: float) -> LoadMap:
        """The load per function in one `/metrics` text sampled at `now`."""
        totals: dict[str, dict[str, float]] = collections.defaultdict(lambda: collections.defaultdict(float))
        names = {STARTED, FINISHED, SECONDS_SUM, SECONDS_COUNT, REPLICAS, INFLIGHT}
        for sample in parse_samples(text, names):
            function = sample.labels.get("function_name")
            if function:
                totals[function][sample.name] += sample.value
        loads: LoadMap = {}
        for function, series in totals.items():
            loads[function] = GatewayLoad(
                inflight=self._inflight(series),
                replicas=int(series[REPLICAS]) if REPLICAS in series else None,
                mean_latency_ms=self._recent_mean_ms(function, series),
                observed_at=now)
        return loads

    @staticmethod
    def _inflight(series: dict[str, float]) -> float | None:
        if INFLIGHT in series:
            return max(0.0, series[INFLIGHT])
        if STARTED in series:
            return max(0.0, series[STARTED] - series[FINISHED])
        return None

    def _recent_mean_ms(self, function: str, series: dict[str, float]) -> float | None:
        if SECONDS_COUNT not in series:
            return None
        current = (series[SECONDS_SUM], series[SECONDS_COUNT])
        previous = self._previous.get(function)
        self._previous[function] = current
        if previous is None or current[1] <= previous[1]:
            return None
        return 1000.0 * (current[0] - previous[0]) / (current[1] - previous[1])


def _with_direct(gateway_series: str, direct_series: str) -> str:
    """A selector matching the gateway's series and the selector's direct-call
    counterpart (selector/direct.py), so a sum by function counts every call."""
    return f'{{__name__=~"{gateway_series}|{direct_series}"}}'


class PrometheusLoadSource:
    # Calls the selector made straight to a function (FAASML_DIRECT_URL) are in its own
    # series, scraped from the selector: each query adds them to the gateway's.
    QUERIES = {
        "inflight": (f"sum by (function_name) ({_with_direct(STARTED, DIRECT_STARTED)}) - "
                     f"sum by (function_name) ({_with_direct(FINISHED, DIRECT_SECONDS + '_count')})"),
        "replicas": f"max by (function_name) ({REPLICAS})",
        "mean_s": (f"sum by (function_name) (rate({_with_direct(SECONDS_SUM, DIRECT_SECONDS + '_sum')}[{{window}}])) / "
                   f"sum by (function_name) (rate({_with_direct(SECONDS_COUNT, DIRECT_SECONDS + '_count')}[{{window}}]))"),
    }

    def __init__(self, url: str, client: HttpClient, clock: Callable[[], float], window: str = "30s",
                 timeout_s: float = 2.0):
        self.url = url.rstrip("/")
        self.client = client
        self.window = window
        self.timeout_s = timeout_s
        self.clock = clock

    async def _query(self, promql: str) -> dict[str, float]:
        url = f"{self.url}/api/v1/query?{urlencode({'query': promql})}"
        try:
            reply = await self.client.request("GET", url, (), b"", self.timeout_s)
            payload = json.loads(reply.body)
        except (UpstreamError, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise GatewayUnavailable(f"prometheus {self.url}: {type(exc).__name__} {exc}".rstrip()) from exc
        if reply.status != 200 or not isinstance(payload, dict) or payload.get("status") != "success":
            error = payload.get("error") if isinstance(payload, dict) else None
            raise GatewayUnavailable(f"prometheus {self.url} answered {reply.status}: {error}")
        values: dict[str, float] = {}
        try:
            for item in payload["data"]["result"]:
                function = item["metric"].get("function_name")
                value = float(item["value"][1])
                if function and value == value:  # NaN when a rate has no samples yet
                    values[function] = value
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise GatewayUnavailable(f"prometheus {self.url}: unexpected answer ({exc!r})") from exc
        return values

    async def poll(self) -> LoadMap:
        now = self.clock()
        inflight, replicas, mean_s = await asyncio.gather(
            self._query(self.QUERIES["inflight"]), self._query(self.QUERIES["replicas"]),
            self._query(self.QUERIES["mean_s"].replace("{window}", self.window)))
        return {function: GatewayLoad(
                    inflight=max(0.0, inflight[function]) if function in inflight else None,
                    replicas=int(replicas[function]) if function in replicas else None,
                    mean_latency_ms=1000.0 * mean_s[function] if function in mean_s else None,
                    observed_at=now)
                for function in set(inflight) | set(replicas) | set(mean_s)}
