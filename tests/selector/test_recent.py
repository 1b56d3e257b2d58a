"""The selector's recent decisions: GET /decisions and the predicted-vs-observed metrics."""
from __future__ import annotations

import asyncio

from faasml.http import Request, Response
from faasml.selector.recent import RecentDecisions, client_class

from .conftest import TASK, body, get, post


def test_each_request_is_logged_newest_first_with_what_answered(service, gateway):
    # On the event loop the entry is written just after the answer (recent.py): a client
    # holding its answer must find it logged all the same.
    assert post(service, task=TASK, tradeoff=0).status == 200
    assert post(service, task=TASK, tradeoff=1, max_latency_ms=5000).status == 200
    assert post(service, task=TASK, min_accuracy=0.99).status == 422
    assert post(service, task=TASK, tradeoff=0.5, explain=1).status == 200  # not a decision
    assert get(service, "/", task=TASK).status == 405                        # nor a probe's GET
    view = body(get(service, "/decisions"))
    refused, accurate, fast = view["decisions"]
    assert [fast["variant"], accurate["variant"]] == ["quick", "precise"]
    assert (fast["client_class"], accurate["client_class"]) == ("fast", "accurate")
    assert accurate["max_latency_ms"] == 5000 and accurate["attempts"] == 1
    assert accurate["predicted_ms"] > 0 and accurate["actual_ms"] > 0
    assert accurate["accuracy"] == 0.8 and accurate["policy"] == "tradeoff"
    assert refused["status"] == 422 and refused["code"] == "infeasible" and refused.get("variant") is None
    assert view["last_seq"] == refused["seq"] == fast["seq"] + 2


def test_a_poller_asks_only_for_what_it_has_not_seen(service):
    post(service, task=TASK)
    seen = body(get(service, "/decisions"))["last_seq"]
    post(service, task=TASK, tradeoff=0.9)
    newer = body(get(service, "/decisions", after=seen))["decisions"]
    assert [d["client_class"] for d in newer] == ["accurate"]
    assert body(get(service, "/decisions", limit=0))["decisions"] == []
    bad = get(service, "/decisions", limit="ten")
    assert bad.status == 400 and body(bad)["error"]["parameter"] == "limit"


def test_metrics_carry_choices_per_client_class_and_both_latencies(service):
    post(service, task=TASK, tradeoff=0)
    post(service, task=TASK, tradeoff=0.1)
    text = get(service, "/metrics").body.decode()
    assert f'faasml_selector_choices_total{{task="{TASK}",client_class="fast",variant="quick"}} 2' in text
    assert 'faasml_selector_predicted_latency_seconds_count{variant="quick"} 2' in text
    assert 'faasml_selector_observed_latency_seconds_count{variant="quick"} 2' in text
    assert "faasml_selector_decisions_total" in text  # the service's own families are still there


def test_ring_is_bounded_and_labels_only_answered_requests():
    from faasml.errors import NotFound
    from faasml.http import Request, Response

    recent = RecentDecisions(capacity=3)

    async def unknown(request):
        raise NotFound("unknown task", code="unknown_task")

    answered = Response(200, b"{}", {"X-Faasml-Variant": "v", "X-Faasml-Predicted-Latency-Ms": "not a number"})

    async def answer(request):
        return answered

    async def requests():
        for i in range(5):
            request = Request("POST", "/", {"task": f"made-up-{i}"})
            try:
                await recent.record(request, unknown)
            except NotFound:
                pass
        await recent.record(Request("POST", "/", {"task": "t", "variant": "v"}), answer)
        await asyncio.sleep(0)   # the entries are written once the answer has gone

    asyncio.run(requests())
    view = recent.view()
    assert len(view["decisions"]) == 3 and view["last_seq"] == 6
    assert view["decisions"][0]["client_class"] == "pinned" and view["decisions"][0]["predicted_ms"] is None
    assert "made-up" not in recent.render()


def test_client_classes():
    assert [client_class(t, False) for t in (0, 0.3, None, 0.5, 0.67, 1)] == \
        ["fast", "fast", "balanced", "balanced", "accurate", "accurate"]


def test_the_view_says_how_actual_latency_compares_with_the_prediction():
    recent = RecentDecisions()

    def answered_in(predicted_ms: str):
        async def select(request):
            return Response(200, b"{}", {"X-Faasml-Variant": "v", "X-Faasml-Predicted-Latency-Ms": predicted_ms})
        return select

    clock = iter([10.0, 10.010, 20.0, 20.030, 30.0, 30.020])   # answers in 10, 30 and 20 ms
    recent.clock = lambda: next(clock)

    async def requests():
        for predicted in ("10", "15", "40"):
            await recent.record(Request("POST", "/", {"task": "t"}), answered_in(predicted))
        await asyncio.sleep(0)

    asyncio.run(requests())
    calibration = recent.view()["calibration"]
    # actual / predicted: 1.0, 2.0, 0.5
    assert calibration == {"answered": 3, "actual_over_predicted_p50": 1.0, "actual_over_predicted_p90": 2.0}
