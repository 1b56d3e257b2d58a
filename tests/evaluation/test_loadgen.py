"""The load generator against a toy selector: open loop, latency from the scheduled
arrival (a late sender is not hidden), answers judged, timeouts labelled."""
from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from faasml.evaluation.inputs import Input, judge
from faasml.evaluation.loadgen import TIMEOUT, closed_loop, replay
from faasml.evaluation.scenario import parse_scenario
from faasml.evaluation.trace import Arrival

SCENARIO = parse_scenario({"name": "toy", "task": "image-classification", "classes": {
    "tight": {"share": 1, "tradeoff": 0, "deadline_ms": 120, "max_latency_ms": 120},
    "loose": {"share": 1, "tradeoff": 1, "deadline_ms": 10_000}}})
INPUTS = [Input(bytes([k]), "image/jpeg", k, f"img{k}") for k in range(4)]


async def serve(handler):
    app = web.Application()
    app.router.add_post("/function/selector", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def one_at_a_time(service_s: float, seen: list):
    """A server that answers one request at a time (a single busy executor)."""
    lock = asyncio.Lock()

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(dict(request.query))
        async with lock:
            await asyncio.sleep(service_s)
        # right label for even inputs, wrong for odd ones
        index = body[0] if body[0] % 2 == 0 else 999
        return web.json_response({"predictions": [{"index": index, "label": "x", "score": 1.0}]},
                                 headers={"X-Faasml-Variant": "v1", "X-Faasml-Accuracy": "0.8",
                                          "X-Faasml-Policy": request.query.get("policy", "")})
    return handler


def test_open_loop_latency_counts_from_the_scheduled_arrival():
    seen: list = []
    trace = [Arrival(i, i * 0.010, "tight" if i % 2 else "loose", i % 4) for i in range(8)]

    async def main():
        runner, url = await serve(one_at_a_time(0.05, seen))
        try:
            return await replay(url, SCENARIO, trace, INPUTS, "random", min_timeout_s=5)
        finally:
            await runner.cleanup()

    records, wall = asyncio.run(main())
    assert [r.seq for r in records] == list(range(8))
    # queued behind each other: request i ends near 50 (i + 1) ms, arrived at 10 i ms
    for r in records:
        assert r.latency_ms >= 40 * r.seq + 50 - 5, (r.seq, r.latency_ms)
        assert r.lateness_ms < 30
    assert wall >= 0.4
    # the selector saw the class's parameters and the policy
    assert all(q["policy"] == "random" and q["task"] == "image-classification" for q in seen)
    assert sum("max_latency_ms" in q for q in seen) == 4
    # judged: even inputs right, odd wrong; the tight class (120 ms) misses its deadline later on
    assert [r.correct for r in records] == [r.seq % 4 % 2 == 0 for r in records]
    tight = [r for r in records if r.cls == "tight"]
    assert tight[0].in_time and not tight[-1].in_time
    assert all(r.answered_policy == "random" and r.accuracy == 0.8 and r.variant == "v1" for r in records)
    # the replay, as recorded, is the trace: same arrivals, classes and inputs
    from faasml.evaluation.runner import fingerprint, records_fingerprint

    assert records_fingerprint(records) == fingerprint(trace)
    assert records_fingerprint(records[:-1]) != fingerprint(trace)


def test_a_late_sender_is_not_hidden():
    """When the generator itself stalls, the stall counts in every delayed request's latency."""
    trace = [Arrival(i, i * 0.010, "loose", 0) for i in range(5)]
    stalled = []

    def on_event(kind):
        if kind == "sent" and not stalled:
            stalled.append(1)
            time.sleep(0.15)  # block the event loop: arrivals 1-4 go out late

    async def main():
        runner, url = await serve(one_at_a_time(0.001, []))
        try:
            return await replay(url, SCENARIO, trace, INPUTS, None, on_event=on_event)
        finally:
            await runner.cleanup()

    records, _ = asyncio.run(main())
    late = records[1]
    assert late.lateness_ms > 100
    assert late.latency_ms >= late.lateness_ms
    assert records[4].latency_ms > 80  # scheduled at 40 ms, sent after the 150 ms stall


def test_client_timeout_is_labelled():
    async def slow(request):
        await request.read()
        await asyncio.sleep(1.0)
        return web.json_response({})

    scenario = parse_scenario({"name": "t", "task": "image-classification",
                               "classes": {"c": {"share": 1, "tradeoff": 0, "deadline_ms": 50}}})

    async def main():
        runner, url = await serve(slow)
        try:
            return await replay(url, scenario, [Arrival(0, 0.0, "c", 0)], INPUTS, None, min_timeout_s=0.2)
        finally:
            await runner.cleanup()

    records, _ = asyncio.run(main())
    assert records[0].outcome == TIMEOUT and records[0].status == 0
    assert 190 <= records[0].latency_ms < 900
    assert not records[0].in_time and not records[0].correct


def test_closed_loop_counts_answers_in_the_window():
    async def main():
        runner, url = await serve(one_at_a_time(0.02, []))
        try:
            sequence = [Arrival(i, 0.0, "loose", i % 4) for i in range(10)]
            return await closed_loop(url, SCENARIO, sequence, INPUTS, concurrency=4, warmup_s=0.2, measure_s=1.0)
        finally:
            await runner.cleanup()

    result = asyncio.run(main())
    # one at a time, 20 ms each: about 50 answers per second
    assert 30 <= result.throughput_per_s <= 55
    assert result.outcomes == {"200": result.completed}


def test_judge():
    image = Input(b"", "image/jpeg", 285, "cat")
    assert judge(image, 200, json.dumps({"predictions": [{"index": 285}, {"index": 1}]}).encode())
    assert not judge(image, 200, json.dumps({"predictions": [{"index": 1}, {"index": 285}]}).encode())
    assert not judge(image, 429, json.dumps({"predictions": [{"index": 285}]}).encode())
    assert not judge(image, 200, b"not json")
    text = Input(b"hi", "text/plain", None, "hi")
    assert judge(text, 200, json.dumps({"embedding": [0.0] * 384}).encode())
    assert not judge(text, 200, json.dumps({"embedding": [0.0] * 383}).encode())


def test_a_keyed_selector_gets_the_key_and_no_other_function_does(monkeypatch, tmp_path):
    import asyncio

    from faasml.evaluation.loadgen import make_session
    from faasml.evaluation.platform import evaluation_platform

    async def default_headers(selector: bool) -> dict:
        async with make_session(selector) as session:
            return dict(session.headers)

    monkeypatch.setenv("FAASML_API_KEY", "k1")
    assert asyncio.run(default_headers(True)).get("X-Api-Key") == "k1"
    assert "X-Api-Key" not in asyncio.run(default_headers(False))
    platform = evaluation_platform(tmp_path, url="http://127.0.0.1:1")
    assert platform.selector_headers.get("X-Api-Key") == "k1"   # on the selector's routes only
    monkeypatch.delenv("FAASML_API_KEY")
    assert "X-Api-Key" not in asyncio.run(default_headers(True))
    assert "X-Api-Key" not in evaluation_platform(tmp_path, url="http://127.0.0.1:1").selector_headers
