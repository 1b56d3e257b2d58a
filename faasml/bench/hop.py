"""Where the selector hop's time goes: the legs of one request, timed side by side.

On one `faasml up` running a trivial executor (`bench-echo`) and the selector, sequential
keep-alive requests go round five paths in turn, so every leg sees the same moment:

  echo            the echo replica's own port: the template server (faasml/serving)
                  and a trivial handler, nothing else
  gateway→echo    /function/bench-echo through the gateway: what a client pays without
                  the selector, and what the selector's own forwarding call costs
  in-process      SelectorService.handle called on an event loop in this process
                  (no server in front): parse, decide, call the echo at its own address
                  (direct calls, as the selector is deployed), respond
  selector        the selector replica's own port: its template's server + the above
  gateway→sel.    /function/selector through the gateway: the whole hop

Differences of medians give the legs: the first gateway trip (gateway→sel. − selector),
the selector's server (selector − in-process), its own work beyond the call it forwards
(in-process − echo), and the whole added hop (gateway→sel. − gateway→echo).
"""
from __future__ import annotations

import asyncio
import http.client
import os
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from faasml.http import Headers, Request
from faasml.launch import LocalPlatform
from faasml.stats import percentile

LEGS = ("echo", "gateway→echo", "in-process", "selector", "gateway→sel.")


def keepalive_poster(url: str, path: str, body: bytes, content_type: str = "text/plain") -> Callable[[], None]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": content_type}

    def post() -> None:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {url}{path} answered {response.status}")
    return post


def _in_process(gateway_url: str, password: str, task: str, body: bytes
                ) -> tuple[Callable[[], None], Callable[[], None]]:
    from faasml.selector.config import SelectorConfig
    from faasml.selector.service import SelectorService
    from faasml.settings import load

    config = load(SelectorConfig, {"FAASML_GATEWAYS": gateway_url, "FAASML_GATEWAY_PASSWORD": password})
    service = SelectorService(config)
    request = Request("POST", "/", {"task": task}, Headers({"Content-Type": "text/plain"}), body)
    loop = asyncio.new_event_loop()  # one loop for every call, as the selector's server has
    loop.run_until_complete(service.start())

    def post() -> None:
        response = loop.run_until_complete(service.handle(request))
        if response.status != 200:
            raise RuntimeError(f"in-process selector answered {response.status}: {response.body[:200]!r}")

    def close() -> None:
        loop.run_until_complete(service.stop())
        loop.close()
    return post, close


def measure_legs(stage: LocalPlatform, variant: str, task: str, body: bytes, requests: int) -> dict[str, Any]:
    """`stage`: a ready platform running `variant` (a trivial executor) and the selector."""
    password = stage.password or ""
    echo_port, selector_port = stage.replica(variant)["port"], stage.replica("selector")["port"]
    in_process, close_in_process = _in_process(stage.url, password, task, body)
    calls = {
        "echo": keepalive_poster(f"http://127.0.0.1:{echo_port}", "/", body),
        "gateway→echo": keepalive_poster(stage.url, f"/function/{variant}", body),
        "in-process": in_process,
        "selector": keepalive_poster(f"http://127.0.0.1:{selector_port}", f"/?task={task}", body),
        "gateway→sel.": keepalive_poster(stage.url, f"/function/selector?task={task}", body),
    }
    times: dict[str, list[float]] = {leg: [] for leg in LEGS}
    selector_cpu_s = None
    try:
        for index in range(requests + 10):  # the first 10 warm every path
            if index == 10:
                selector_cpu_s = process_cpu_s(stage.replica("selector")["pid"])
            for leg in LEGS:
                started = time.perf_counter()
                calls[leg]()
                if index >= 10:
                    times[leg].append((time.perf_counter() - started) * 1e3)
        # Two legs a round reach the selector's process: its port and through the gateway.
        spent_s = process_cpu_s(stage.replica("selector")["pid"])
        if selector_cpu_s is not None and spent_s is not None:
            selector_cpu_s = (spent_s - selector_cpu_s) / (2 * requests)
    finally:
        close_in_process()
    p50 = {leg: percentile(times[leg], 50) for leg in LEGS}
    return {
        "requests": requests,
        "selector_cpu_us_per_request": None if selector_cpu_s is None else selector_cpu_s * 1e6,
        "legs": {leg: {"p50_ms": p50[leg], "p99_ms": percentile(times[leg], 99)} for leg in LEGS},
        "parts_ms": {
            "first gateway trip (client → gateway → selector)": p50["gateway→sel."] - p50["selector"],
            "selector's server and process (the template's asyncio server)": p50["selector"] - p50["in-process"],
            "selector's own work (parse, decide, forward, respond)": p50["in-process"] - p50["echo"],
            "added by the hop in all": p50["gateway→sel."] - p50["gateway→echo"],
            "for scale: a trivial function's server alone": p50["echo"],
            "for scale: one gateway trip (gateway→echo − echo)": p50["gateway→echo"] - p50["echo"],
        },
    }


def print_legs(result: dict[str, Any]) -> None:
    print(f"where the selector hop's time goes (trivial executor, {result['requests']} rounds of "
          "sequential keep-alive requests over every path in turn)")
    for leg, figures in result["legs"].items():
        print(f"  {leg:>14}  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms")
    for part, ms in result["parts_ms"].items():
        print(f"  {ms:6.2f} ms  {part}")
    if result.get("selector_cpu_us_per_request") is not None:
        print(f"  {result['selector_cpu_us_per_request']:6.0f} µs  the selector process's CPU per request "
              "(all its threads, /proc; server, decision, forward, answer)")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (None where /proc is missing)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
