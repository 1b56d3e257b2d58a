"""Micro-batching: concurrent requests share one run, each gets its own answer."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from faasml.executor.batching import MicroBatcher
from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.http import Headers, Request
from tests.executor.conftest import encode


class GatedRun:
    """A batch function whose first call blocks until `release`, so the test decides what
    queues up behind it."""

    def __init__(self):
        self.sizes: list[int] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, items):
        self.sizes.append(len(items))
        if len(self.sizes) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        return [item * 10 for item in items]


def wait_pending(batcher: MicroBatcher, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(batcher._pending) < count:
        assert time.monotonic() < deadline, "requests never queued"
        time.sleep(0.001)


def test_requests_that_arrive_during_a_run_form_the_next_batch():
    run = GatedRun()
    batcher = MicroBatcher(run, max_batch=4)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.submit, 0)
        assert run.first_started.wait(10)
        rest = [pool.submit(batcher.submit, i) for i in range(1, 7)]
        wait_pending(batcher, 6)
        run.release.set()
        outcomes = [first.result(10)] + [f.result(10) for f in rest]
    assert [o.result for o in outcomes] == [i * 10 for i in range(7)]
    assert run.sizes == [1, 4, 2]  # alone at once, then capped at max_batch
    assert outcomes[0].batch_size == 1 and sorted(o.batch_size for o in outcomes[1:]) == [2, 2, 4, 4, 4, 4]
    assert (batcher.batches, batcher.items) == (3, 7)


def test_a_lone_request_runs_at_once_without_a_wait_bound():
    batcher = MicroBatcher(lambda items: items, max_batch=8)
    started = time.perf_counter()
    assert batcher.submit("x").result == "x"
    assert time.perf_counter() - started < 0.05


def test_the_wait_bound_lets_a_batch_fill():
    sizes = []
    batcher = MicroBatcher(lambda items: sizes.append(len(items)) or items, max_batch=3, max_wait_s=2.0)
    with ThreadPoolExecutor(3) as pool:
        started = time.perf_counter()
        futures = [pool.submit(batcher.submit, i) for i in range(3)]
        assert [f.result(10).result for f in futures] == [0, 1, 2]
    # full before the bound: it ran as one batch as soon as the third arrived
    assert sizes == [3] and time.perf_counter() - started < 1.5


def test_the_wait_bound_is_a_bound():
    batcher = MicroBatcher(lambda items: items, max_batch=8, max_wait_s=0.05)
    started = time.perf_counter()
    assert batcher.submit(1).batch_size == 1
    assert 0.04 <= time.perf_counter() - started < 1.0


def test_a_failing_batch_fails_each_of_its_requests_and_the_next_batch_runs():
    calls = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 2:
            raise RuntimeError("boom")
        return items

    run_gate = GatedRun()
    batcher = MicroBatcher(lambda items: run_gate(items) and run(items), max_batch=4)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, 1)
        assert run_gate.first_started.wait(10)
        failing = [pool.submit(batcher.submit, i) for i in (2, 3)]
        wait_pending(batcher, 2)
        run_gate.release.set()
        assert first.result(10).result == 1
        for future in failing:
            with pytest.raises(RuntimeError, match="boom"):
                future.result(10)
    assert batcher.submit(5).result == 5 and not batcher._running


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_batch=0)


def classify_concurrently(service, bodies):
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: service.handle(
            Request("POST", "/", {}, Headers({"Content-Type": "image/jpeg"}), body)), bodies))


def test_batched_image_predictions_equal_unbatched(tiny_models):
    plain = ExecutorService(ExecutorConfig(model=str(tiny_models["image"])))
    batched = ExecutorService(ExecutorConfig(model=str(tiny_models["image"]), batch_max=4))
    plain.load()
    batched.load()
    bodies = [encode(colour) for colour in [(250, 10, 10), (10, 250, 10), (10, 10, 250)] * 4]
    expected = [json.loads(r.body) for r in classify_concurrently(plain, bodies)]
    answers = classify_concurrently(batched, bodies)
    assert [json.loads(r.body) for r in answers] == expected
    assert all(1 <= int(r.headers["X-Faasml-Batch-Size"]) <= 4 for r in answers)
    assert "X-Faasml-Batch-Size" not in classify_concurrently(plain, bodies[:1])[0].headers
    health = json.loads(batched.handle(Request("GET", "/health", {}, Headers(), b"")).body)
    assert health["batching"]["max_batch"] == 4 and health["batching"]["requests"] == len(bodies)


def test_batched_texts_are_split_back_per_request(tiny_models):
    import numpy as np

    plain = ExecutorService(ExecutorConfig(model=str(tiny_models["text"])))
    plain.load()
    variant = plain.variant
    texts = [["red"], ["green blue", "blue"], ["a longer sentence of several words"]]
    alone = [variant.embed(t)[0] for t in texts]
    together = variant._run_text_batch(texts)
    for vectors, (batched, truncated) in zip(alone, together):
        assert batched.shape == vectors.shape and truncated == [False] * len(vectors)
        np.testing.assert_allclose(batched, vectors, atol=1e-5)


def test_batching_settings_from_the_environment(tiny_models):
    from faasml.settings import ConfigError, load

    env = {"FAASML_MODEL": str(tiny_models["image"]), "FAASML_BATCH_MAX": "8", "FAASML_BATCH_WAIT_MS": "2.5"}
    config = load(ExecutorConfig, env)
    assert (config.batch_max, config.batch_wait_ms) == (8, 2.5)
    assert load(ExecutorConfig, {"FAASML_MODEL": env["FAASML_MODEL"]}).batch_max == 1
    with pytest.raises(ConfigError, match="FAASML_BATCH_MAX"):
        load(ExecutorConfig, {**env, "FAASML_BATCH_MAX": "0"})


def test_the_batching_benchmark_measures_all_three_modes(tiny_models):
    """`faasml bench batching` on a tiny variant: every mode answers, the figures add up."""
    from faasml.bench import batching
    from faasml.modelcard import load_card

    card = tiny_models["image"]
    settings = batching.BatchingBenchSettings(max_batch=4, clients=4, seconds=0.2, rounds=1,
                                              low_load_requests=5, cpus=0)
    row = batching.bench_variant(load_card(card).name, str(card.parent), settings)
    for mode in batching.MODES:
        assert row[mode]["goodput_rps"] > 0 and row[mode]["low_load_p50_ms"] > 0
    assert row["goodput_x_serial"] == pytest.approx(row["batched"]["goodput_rps"] / row["serial"]["goodput_rps"])
