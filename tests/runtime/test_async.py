"""Async invocations: 202 + X-Call-Id, callbacks with OpenFaaS's headers, retries with
backoff, a bounded queue, metrics, and nothing accepted lost to a SIGKILL of `faasml up`."""
from __future__ import annotations

import json
import signal
import time

import pytest

from faasml.runtime.async_queue import AsyncSettings, status_codes
from faasml.runtime.async_store import CALLBACK, FAILED, AsyncStore, QueuedCall
from tests.runtime.callbacks import CallbackReceiver
from tests.runtime.conftest import Runtime, function, stack_of

# Small waits so retries happen within a test's patience.
FAST_RETRIES = {"FAASML_ASYNC_RETRY_WAIT_S": "0.2", "FAASML_ASYNC_MAX_RETRY_WAIT_S": "0.5",
                "FAASML_ASYNC_MAX_ATTEMPTS": "3"}


@pytest.fixture
def receiver():
    receiver = CallbackReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def runtime(start_runtime):
    return start_runtime({"echo": function("toy", "faasml/toy:dev")},
                         env={**FAST_RETRIES, "FAASML_ASYNC_MAX_QUEUED": "50"})


def _submit(runtime, path: str, callback: str | None, body: bytes = b"hello", **headers) -> str:
    if callback:
        headers["X-Callback-Url"] = callback
    response = runtime.http.post(f"{runtime.url}/async-function/{path}", data=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return response.headers["X-Call-Id"]


def test_store_keeps_calls_across_reopen_and_through_both_phases(tmp_path):
    store = AsyncStore(tmp_path / "q.sqlite")
    call = QueuedCall(0, "c1", "f.openfaas-fn", "POST", "/x?a=1", [("A", "b")], b"\x00body", "http://cb", 5)
    first = store.add(call)
    second = store.add(QueuedCall(0, "c2", "f.openfaas-fn", "POST", "/", [], b"", None, 6))
    store.close()
    store = AsyncStore(tmp_path / "q.sqlite")  # as after a crash
    assert [(e.id, e.phase) for e in store.pending()] == [(first, "invoke"), (second, "invoke")]
    loaded = store.load(first)
    assert (loaded.headers, loaded.body, loaded.target) == ([("A", "b")], b"\x00body", "/x?a=1")
    store.ran(first, 200, [("Content-Type", "text/plain")], b"out", 0.5)
    store.fail(second, "gave up")
    assert [(e.id, e.phase) for e in store.pending()] == [(first, CALLBACK)]
    assert store.load(first).result_body == b"out" and store.load(second).phase == FAILED
    store.finish(first)
    assert store.pending() == [] and store.failed()[0]["reason"] == "gave up"
    # bodies are private: the database and its write-ahead log alike
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {
        "q.sqlite": "0o600", "q.sqlite-wal": "0o600", "q.sqlite-shm": "0o600"}


def test_retry_settings_follow_the_queue_worker():
    settings = AsyncSettings()
    assert [settings.backoff_s(n) for n in (1, 2, 3, 5, 9)] == [10, 20, 40, 120, 120]
    assert status_codes("429, 503") == {429, 503}
    with pytest.raises(ValueError):
        status_codes("4xx")


def test_async_call_reaches_its_callback_with_openfaas_headers(runtime, receiver):
    runtime.wait_available("echo", 1)
    before = time.time_ns()
    call_id = _submit(runtime, "echo.openfaas-fn/sub?x=1", receiver.url, body=b"payload",
                      **{"Content-Type": "text/plain"})
    (headers, body), = receiver.wait_for(1)
    assert headers["X-Call-Id"] == call_id and headers["X-Function-Status"] == "200"
    assert float(headers["X-Duration-Seconds"]) > 0 and headers["X-Function-Name"] == "echo.openfaas-fn"
    seen = json.loads(body)  # what the function got
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/sub", {"x": "1"})
    assert seen["headers"]["x-call-id"] == call_id and seen["body_b64"] == "cGF5bG9hZA=="
    # X-Start-Time is the acceptance, so a deadline (the selector's) runs from there
    assert before <= int(seen["headers"]["x-start-time"]) <= int(headers["X-Start-Time"]) + 1


def test_failing_answers_are_retried_then_posted_and_callbacks_are_retried(runtime, receiver):
    call_id = _submit(runtime, "echo/status?code=503", receiver.url)
    (headers, _), = receiver.wait_for(1)  # 3 attempts, then the last answer is posted
    assert headers["X-Call-Id"] == call_id and headers["X-Function-Status"] == "503"
    assert "retry #2" in runtime.log_text()
    flaky = CallbackReceiver(fail_first=2)  # the receiver is down twice, then takes it
    try:
        call_id = _submit(runtime, "echo", flaky.url)
        (headers, _), = flaky.wait_for(1)
        assert headers["X-Call-Id"] == call_id
    finally:
        flaky.close()
    metrics = runtime.http.get(runtime.url + "/metrics").text
    assert 'faasml_async_queue_depth{function_name="echo.openfaas-fn"} 0' in metrics
    assert 'faasml_async_calls_total{function_name="echo.openfaas-fn",outcome="delivered"}' in metrics
    retries = [l for l in metrics.splitlines() if l.startswith("faasml_async_retries_total")]
    assert retries and float(retries[0].split()[-1]) >= 4


def test_bad_async_calls_are_clear_json_errors(runtime):
    post = lambda path, **kw: runtime.http.post(f"{runtime.url}/async-function/{path}", timeout=10, **kw)  # noqa: E731
    assert post("nope").status_code == 404
    assert post("echo", headers={"X-Callback-Url": "ftp://x"}).json()["error"]["code"] == "bad_callback_url"
    assert runtime.http.get(f"{runtime.url}/async-function/echo", timeout=10).status_code == 405
    # without a callback the call still runs (its result is only logged and counted)
    _submit(runtime, "echo", None)


def test_sigkill_with_work_queued_loses_nothing_accepted(tmp_path, receiver):
    """Calls queued behind a slow function when `faasml up` is killed are delivered by the
    next start, each with its X-Call-Id (duplicates allowed, losses not)."""
    functions = {"slow": function("toy", "faasml/slow:dev")}
    env = {**FAST_RETRIES, "FAASML_ASYNC_CONCURRENCY": "1"}
    first = Runtime(tmp_path, stack_of(functions), None, [], env)
    try:
        first.wait_available("slow", 1)
        accepted = {_submit(first, "slow/sleep?s=0.3", receiver.url) for _ in range(12)}
        time.sleep(0.5)  # one or two run; the rest wait in the queue
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        first.stop()
    delivered_before = receiver.call_ids()
    assert delivered_before < accepted  # the kill really left work behind
    second = Runtime(tmp_path, stack_of(functions), None, [], env)
    try:
        receiver.wait_for(len(accepted), timeout_s=60)
        assert receiver.call_ids() == accepted
        assert "async call(s) left unfinished by the last run" in second.log_text()
    finally:
        second.stop()
