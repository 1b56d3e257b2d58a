"""The load generator: replays a trace open-loop through the gateway, as clients do.

Every arrival is sent at its scheduled moment whether or not earlier requests have been
answered (open loop), and its latency is measured from that *scheduled* moment, so a
late send or a slow platform is never hidden (no coordinated omission). The generator
records how late it was in sending, so a run whose client could not keep up is visible.

One aiohttp session per run with a connection pool far larger than any in-flight count
the run can reach, so the client never throttles; every request has a timeout, so a run
ends at most `client_timeout` after its last arrival.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import aiohttp

from faasml.client.protocol import default_api_key
from faasml.evaluation.inputs import Input, judge
from faasml.evaluation.scenario import Scenario
from faasml.evaluation.trace import Arrival

# Outcome labels besides HTTP statuses.
TIMEOUT = "client-timeout"
CONN_ERROR = "connection-error"
POOL_LIMIT = 4096


@dataclass(slots=True)   # a simulated run holds a million of them
class Record:
    seq: int
    cls: str
    policy: str
    t_s: float                  # scheduled arrival (s from the run's start)
    lateness_ms: float          # how late the generator sent it
    outcome: str                # "200", "429", ..., "client-timeout", "connection-error"
    status: int                 # HTTP status, 0 when there was none
    latency_ms: float           # from the scheduled arrival to the end of the answer
    deadline_ms: float
    tradeoff: float
    variant: str | None = None  # X-Faasml-Variant
    accuracy: float | None = None  # X-Faasml-Accuracy (declared accuracy of the answering variant)
    compute_ms: float | None = None  # X-Faasml-Compute-Ms
    correct: bool = False       # HTTP 200 and the answer right (top-1 / a 384-d embedding)
    in_time: bool = False       # HTTP 200 within the client's deadline
    answered_policy: str | None = None  # X-Faasml-Policy: the policy that ranked (200 answers)
    input_index: int = -1       # which input of the pool was sent
    error_code: str | None = None  # an error answer's JSON `error.code`; None when it had none
    predicted_ms: float | None = None  # X-Faasml-Predicted-Latency-Ms: what the selector predicted

    @property
    def correct_in_time(self) -> bool:
        return self.correct and self.in_time

    def to_row(self) -> dict:
        return asdict(self)


def selector_params(scenario: Scenario, cls: str, policy: str | None) -> dict[str, str]:
    params = {"task": scenario.task, **scenario.by_name(cls).query()}
    if policy:
        params["policy"] = policy
    return params


def client_timeout_s(deadline_ms: float, minimum_s: float) -> float:
    """A client waits for its answer past its deadline (to see what the platform does),
    but never longer than max(deadline, minimum_s)."""
    return max(deadline_ms / 1000.0, minimum_s)


def error_code(body: bytes) -> str | None:
    """The `code` of an error body `{"error": {"code": ...}}` (every error faasml answers
    is one); None for anything else, e.g. a proxy's plain-text 502."""
    import json

    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def make_session(selector: bool = True) -> aiohttp.ClientSession:
    """`selector`: the session's requests go to the selector, so a keyed one
    (FAASML_API_KEYS_SECRET on its side) gets FAASML_API_KEY, as the client sends it;
    another function never sees the key."""
    connector = aiohttp.TCPConnector(limit=POOL_LIMIT, limit_per_host=POOL_LIMIT, force_close=False,
                                     enable_cleanup_closed=True)
    key = default_api_key() if selector else None
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                 headers={"X-Api-Key": key} if key else None)


async def send_one(session: aiohttp.ClientSession, url: str, params: dict[str, str], item: Input,
                   timeout_s: float) -> tuple[str, int, dict[str, str], bytes]:
    try:
        async with session.post(url, params=params, data=item.body,
                                headers={"Content-Type": item.content_type},
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            body = await response.read()
            return str(response.status), response.status, dict(response.headers), body
    except asyncio.TimeoutError:
        return TIMEOUT, 0, {}, b""
    except (aiohttp.ClientError, OSError):
        return CONN_ERROR, 0, {}, b""


async def replay(gateway: str, scenario: Scenario, arrivals: Sequence[Arrival], inputs: Sequence[Input],
                 policy: str | None, min_timeout_s: float = 5.0,
                 on_event: Callable[[str], None] | None = None,
                 path: str = "/function/selector") -> tuple[list[Record], float]:
    """Send every arrival at its time (to `path`: the selector, or another selector
    function); return the records (in trace order) and the wall time the run took (first
    scheduled arrival to last answer)."""
    url = gateway.rstrip("/") + path
    loop = asyncio.get_running_loop()
    records: list[Record | None] = [None] * len(arrivals)

    async def one(arrival: Arrival, start: float) -> None:
        scheduled = start + arrival.t_s
        sent = loop.time()
        klass = scenario.by_name(arrival.cls)
        item = inputs[arrival.input_index]
        outcome, status, headers, body = await send_one(
            session, url, selector_params(scenario, arrival.cls, policy), item,
            client_timeout_s(klass.deadline_ms, min_timeout_s))
        latency_ms = (loop.time() - scheduled) * 1000.0
        correct = judge(item, status, body) if status == 200 else False
        records[arrival.seq] = Record(
            seq=arrival.seq, cls=arrival.cls, policy=policy or "default", t_s=arrival.t_s,
            lateness_ms=max(0.0, (sent - scheduled) * 1000.0), outcome=outcome, status=status,
            latency_ms=latency_ms, deadline_ms=klass.deadline_ms, tradeoff=klass.tradeoff,
            variant=headers.get("X-Faasml-Variant"), accuracy=_float(headers.get("X-Faasml-Accuracy")),
            compute_ms=_float(headers.get("X-Faasml-Compute-Ms")), correct=correct,
            answered_policy=headers.get("X-Faasml-Policy"), input_index=arrival.input_index,
            in_time=status == 200 and latency_ms <= klass.deadline_ms,
            error_code=error_code(body) if status >= 300 else None,
            predicted_ms=_float(headers.get("X-Faasml-Predicted-Latency-Ms")))
        if on_event:
            on_event("done")

    async with make_session() as session:
        tasks = []
        start = loop.time() + 0.05
        for arrival in arrivals:
            delay = start + arrival.t_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(arrival, start)))
            if on_event:
                on_event("sent")
        await asyncio.gather(*tasks)
        wall_s = loop.time() - start
    return [r for r in records if r is not None], wall_s


@dataclass
class ClosedLoopResult:
    concurrency: int
    measure_s: float
    answered: int          # HTTP 200 within the measured window
    completed: int         # any answer within the window
    outcomes: dict[str, int]
    throughput_per_s: float  # HTTP 200 per second: the capacity figure
    latency_p50_ms: float
    policy: str | None


async def closed_loop(gateway: str, scenario: Scenario, sequence: Sequence[Arrival],
                      inputs: Sequence[Input], concurrency: int, warmup_s: float, measure_s: float,
                      policy: str | None = None, min_timeout_s: float = 5.0,
                      extra_params: dict[str, str] | None = None, path: str = "/function/selector",
                      on_event: Callable[[str], None] | None = None) -> ClosedLoopResult:
    """`concurrency` clients, each sending its next request as soon as the last one is
    answered, for `warmup_s` + `measure_s`; counts answers completed in the measured window."""
    from faasml.stats import percentile

    url = gateway.rstrip("/") + path
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    answered = completed = 0
    counter = 0
    t0 = time.monotonic()
    window_start, window_end = t0 + warmup_s, t0 + warmup_s + measure_s

    async def worker() -> None:
        nonlocal counter, answered, completed
        while True:
            now = time.monotonic()
            if now >= window_end:
                return
            arrival = sequence[counter % len(sequence)]
            counter += 1
            klass = scenario.by_name(arrival.cls)
            params = selector_params(scenario, arrival.cls, policy) if extra_params is None else extra_params
            timeout = min(client_timeout_s(klass.deadline_ms, min_timeout_s), max(0.5, window_end - now + 1.0))
            outcome, status, _, _ = await send_one(session, url, params, inputs[arrival.input_index], timeout)
            done = time.monotonic()
            if window_start <= done <= window_end:
                completed += 1
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if status == 200:
                    answered += 1
                    latencies.append((done - now) * 1000.0)
            if on_event:
                on_event("done")

    async with make_session(selector=path == "/function/selector") as session:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ClosedLoopResult(concurrency=concurrency, measure_s=measure_s, answered=answered,
                            completed=completed, outcomes=dict(sorted(outcomes.items())),
                            throughput_per_s=answered / measure_s,
                            latency_p50_ms=percentile(latencies, 50), policy=policy)


async def idle_probe(gateway: str, task: str, variant: str, inputs: Sequence[Input], requests: int,
                     warmup: int = 2, timeout_s: float = 10.0,
                     cpu_reader: Callable[[], float | None] | None = None) -> dict:
    """Sequential requests pinned to one variant through the selector on an otherwise idle
    platform: the client-observed idle latency (round trip and hops included), the
    executor's compute time (X-Faasml-Compute-Ms, wall time inside the executor) and, with
    `cpu_reader` (CPU seconds of the variant's replicas), its CPU time per request: the work
    it puts on its node, which waiting for a shared core does not inflate."""
    from faasml.stats import percentile

    url = gateway.rstrip("/") + "/function/selector"
    params = {"task": task, "variant": variant}
    wall, compute, overhead, failures = [], [], [], 0
    step = max(1, len(inputs) // max(1, requests))
    cpu_start = None
    async with make_session() as session:
        for i in range(warmup + requests):
            if i == warmup and cpu_reader is not None:
                cpu_start = cpu_reader()
            item = inputs[(i * step) % len(inputs)]
            t = time.perf_counter()
            outcome, status, headers, _ = await send_one(session, url, params, item, timeout_s)
            elapsed = (time.perf_counter() - t) * 1000.0
            if i < warmup:
                continue
            if status != 200:
                failures += 1
                continue
            wall.append(elapsed)
            value = _float(headers.get("X-Faasml-Compute-Ms"))
            if value is not None:
                compute.append(value)
                overhead.append(elapsed - value)
    cpu_end = cpu_reader() if cpu_reader is not None else None
    cpu_ms = (cpu_end - cpu_start) * 1000.0 / requests if cpu_start is not None and cpu_end is not None \
        and requests else math.nan
    overhead_min = min(overhead) if overhead else math.nan
    return {"variant": variant, "requests": requests, "failures": failures,
            "cpu_ms_per_request": cpu_ms,
            # everything but the executor's compute (hops, simulated round trip), at its least
            "overhead_min_ms": overhead_min,
            # what a request would take on a quiet machine: least overhead + CPU work
            "quiet_latency_ms": overhead_min + cpu_ms if not math.isnan(cpu_ms) else percentile(wall, 10),
            "latency_p50_ms": percentile(wall, 50), "latency_p10_ms": percentile(wall, 10),
            "latency_p90_ms": percentile(wall, 90),
            "service_p50_ms": percentile(compute, 50), "service_p10_ms": percentile(compute, 10),
            "compute_ms_samples": sorted(round(c, 3) for c in compute)}
