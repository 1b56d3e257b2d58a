"""faasml.client against a running platform: answers with what was chosen, every error
class the selector and the gateway answer, client timeouts, and retries after Retry-After."""
from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from PIL import Image

from faasml.client import (AsyncClient, BadRequest, Client, ConnectionFailed, DeadlineExceeded, Infeasible,
                           NotFound, Saturated, Timeout, Unauthorized, Unavailable, UnknownTask,
                           UnknownVariant)
from faasml.runtime.replicas import free_port

from .platform import ACCURATE_VARIANT, DEADLINE_TASK, FAST_VARIANT, IMAGE_TASK, SLOW_TASK


def jpeg(colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def client(platform):
    with Client(platform.url, timeout=20) as c:
        yield c


def test_prediction_says_what_was_chosen(client):
    fast = client.predict(IMAGE_TASK, jpeg(), tradeoff=0)
    accurate = client.predict(IMAGE_TASK, jpeg(), tradeoff=1, max_latency_ms=5000, min_accuracy=0.8)
    assert fast.variant == FAST_VARIANT and accurate.variant == ACCURATE_VARIANT
    assert fast.result["predictions"][0]["label"] == "red"
    assert accurate.accuracy == 0.9 and fast.accuracy == 0.6
    for answer in (fast, accurate):
        assert answer.attempts == 1 and answer.policy == "tradeoff" and answer.retries == 0
        assert answer.predicted_latency_ms > 0 and 0 < answer.compute_ms < answer.latency_ms
    pinned = client.predict(None, jpeg(), variant=ACCURATE_VARIANT)
    assert pinned.variant == ACCURATE_VARIANT and pinned.policy == "pinned"


def test_refusals_raise_their_typed_errors(client):
    with pytest.raises(BadRequest) as bad:
        client.predict(IMAGE_TASK, jpeg(), tradeoff=2)
    assert bad.value.status == 400 and bad.value.details["parameter"] == "tradeoff"
    with pytest.raises(UnknownTask) as unknown:
        client.predict("no-such-task", b"x")
    assert isinstance(unknown.value, NotFound) and IMAGE_TASK in unknown.value.known_tasks
    with pytest.raises(UnknownVariant) as ghost_name:
        client.predict(None, jpeg(), variant="nope")
    assert FAST_VARIANT in ghost_name.value.known_variants
    with pytest.raises(Infeasible) as infeasible:
        client.predict(IMAGE_TASK, jpeg(), min_accuracy=0.99)
    assert infeasible.value.limit == "min_accuracy"
    assert infeasible.value.best_on_offer["variant"] == ACCURATE_VARIANT
    with pytest.raises(BadRequest) as broken:        # the executor's own error, passed through
        client.predict(IMAGE_TASK, b"plain words", content_type="text/plain")
    assert broken.value.code == "invalid_image"
    with pytest.raises(Unavailable) as unavailable:  # the only replica can never be scheduled
        client.predict(None, b"x", variant="ghost")
    assert unavailable.value.code == "no_healthy_variant" and unavailable.value.status == 503


def test_deadline_passes_before_any_answer(client):
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as late:
        client.predict(DEADLINE_TASK, b"x", max_latency_ms=400)
    assert late.value.code == "deadline_exceeded" and time.monotonic() - started < 2.5


def test_client_timeout(platform):
    with Client(platform.url, timeout=0.3) as impatient:
        started = time.monotonic()
        with pytest.raises(Timeout):
            impatient.predict(SLOW_TASK, b"x", params={"sleep_s": 1.5})
        assert time.monotonic() - started < 1.2


def test_unauthorized_on_the_gateway(platform):
    with pytest.raises(Unauthorized) as denied:
        Client(platform.url, password="wrong").functions()
    assert denied.value.status == 401
    names = {f["name"] for f in Client(platform.url, password=platform.password).functions()}
    assert {FAST_VARIANT, "selector", "ghost"} <= names


def test_connection_refused():
    with pytest.raises(ConnectionFailed):
        Client(f"http://127.0.0.1:{free_port()}", timeout=2).predict(IMAGE_TASK, b"x")


def _occupy(platform, seconds: float) -> threading.Thread:
    """One slow request in flight on the only slow-task variant (so the next one is a 429),
    once an earlier test's abandoned request has drained."""
    _wait_for(lambda: _inflight(platform, "sleepy") == 0)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(
        Client(platform.url, retries=10).predict(SLOW_TASK, b"x", params={"sleep_s": seconds})))
    thread.answers = answers
    thread.start()
    _wait_for(lambda: _inflight(platform, "sleepy") >= 1)
    return thread


def _wait_for(check, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _inflight(platform, variant: str) -> int:
    rows = Client(platform.url).variants()["variants"]
    return next(row["live"]["selector_inflight"] for row in rows if row["variant"] == variant)


def test_saturated_carries_retry_after_and_retry_honours_it(platform):
    busy = _occupy(platform, 1.5)
    try:
        with pytest.raises(Saturated) as saturated:
            Client(platform.url).predict(SLOW_TASK, b"x")
        assert saturated.value.code == "saturated" and saturated.value.retry_after >= 1
        assert saturated.value.headers["Retry-After"] == str(int(saturated.value.retry_after))
        started = time.monotonic()
        answer = Client(platform.url, retries=5).predict(SLOW_TASK, b"x")
        waited = time.monotonic() - started
    finally:
        busy.join()
    assert busy.answers[0].variant == answer.variant == "sleepy" and answer.retries >= 1
    assert waited >= saturated.value.retry_after * 0.9  # it waited what the server asked


def test_retry_gives_up_within_its_budget(platform):
    busy = _occupy(platform, 2.0)
    try:
        started = time.monotonic()
        with pytest.raises(Saturated):
            Client(platform.url, retries=5, max_retry_wait_s=0.5).predict(SLOW_TASK, b"x")
        assert time.monotonic() - started < 1.0  # a 1 s Retry-After is past a 0.5 s budget
    finally:
        busy.join()


def test_async_client_concurrent_predictions_and_errors(platform):
    async def scenario():
        # Three at once on two one-slot variants: the third is a 429 until a slot frees,
        # and the retry (after Retry-After) gets it in.
        async with AsyncClient(platform.url, timeout=20, retries=3) as client:
            answers = await asyncio.gather(*(client.predict(IMAGE_TASK, jpeg(), tradeoff=t) for t in (0, 1, 0)))
            with pytest.raises(Infeasible):
                await client.predict(IMAGE_TASK, jpeg(), min_accuracy=0.99)
            with pytest.raises(Timeout):
                await client.predict(SLOW_TASK, b"x", params={"sleep_s": 1}, timeout=0.3)
            table = await client.explain(IMAGE_TASK, tradeoff=1)
            return answers, table

    answers, table = asyncio.run(scenario())
    assert {a.variant for a in answers} == {FAST_VARIANT, ACCURATE_VARIANT}
    assert all(a.result["predictions"] for a in answers)
    assert table["chosen"] == ACCURATE_VARIANT, table


def test_views_of_the_selector(client):
    client.predict(IMAGE_TASK, jpeg(), tradeoff=0)
    assert {v["variant"] for v in client.variants()["variants"]} >= {FAST_VARIANT, ACCURATE_VARIANT}
    latest = client.decisions(limit=1)["decisions"]
    assert latest[0]["variant"] == FAST_VARIANT and latest[0]["client_class"] == "fast"


def test_a_keyed_selector_answers_the_client_that_sends_its_key(tmp_path, monkeypatch):
    """FAASML_API_KEYS_SECRET on the selector: the client's `api_key` (or FAASML_API_KEY)
    goes as X-Api-Key on the selector's routes, and the gateway's basic auth still works."""
    from tests.selector.runtime_stage import keyed_echo_stage

    stage = keyed_echo_stage(tmp_path, b"key-one\n", "key-one")
    try:
        monkeypatch.delenv("FAASML_API_KEY", raising=False)
        with pytest.raises(Unauthorized):
            Client(stage.url, timeout=20).predict("echo", b"hi")
        with pytest.raises(Unauthorized):
            Client(stage.url, timeout=20, api_key="wrong").variants()
        with Client(stage.url, timeout=20, api_key="key-one") as keyed:
            assert keyed.predict("echo", b"hi").variant == "echo"
            assert keyed.variants()["variants"] and keyed.decisions(limit=1)["decisions"]
            assert keyed.explain("echo")["candidates"]
        monkeypatch.setenv("FAASML_API_KEY", "key-one")   # the default, as the CLI uses it
        with Client(stage.url, timeout=20, password=stage.password) as from_env:
            assert from_env.predict("echo", b"hi").variant == "echo"
            assert "selector" in {f["name"] for f in from_env.functions()}   # basic auth, no key needed

        async def keyed_async():
            async with AsyncClient(stage.url, timeout=20, api_key="key-one") as client:
                return (await client.predict("echo", b"hi")).variant
        assert asyncio.run(keyed_async()) == "echo"
    finally:
        stage.stop()
